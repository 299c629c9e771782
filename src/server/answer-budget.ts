/**
 * Bounds on answer bytes a peer has not read yet (PROTOCOL.md §4.4).
 *
 * A connection charges its answer budget when it starts a request (a
 * reservation: the most that request's answer may take) and when it queues an
 * answer (its real size, replacing the reservation); the socket's write
 * callback gives the bytes back once the kernel has taken them. A request is
 * started only while its reservation fits both the connection's bound and the
 * global one, so a peer that stops reading stops being served, and queued
 * answers never exceed the bounds by more than one answer's reservation error.
 *
 * Each connection may always use GUARANTEED_ANSWER_BYTES, whatever the global
 * bound says: peers that fill the global bound by not reading must not keep a
 * new client from its hello, small requests and retrieves (which start with
 * whatever room is free and leave out what does not fit). So the total is at most
 * answer_queue_bytes_total + connections × GUARANTEED_ANSWER_BYTES.
 */

/** Answer room every connection keeps outside the global bound: a few small requests in flight. */
export const GUARANTEED_ANSWER_BYTES = 64 * 1024;
export class GlobalAnswerBudget {
  readonly limit: number;
  private used = 0;
  private readonly waiting = new Set<() => void>();

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes queued or reserved across all connections (exported as a metric). */
  get bytes(): number {
    return this.used;
  }

  fits(bytes: number): boolean {
    return this.used + bytes <= this.limit;
  }

  charge(bytes: number): void {
    this.used += bytes;
  }

  release(bytes: number): void {
    this.used -= bytes;
    if (this.waiting.size > 0) {
      // Connections that waited for room try again; each re-checks the bound.
      const wake = [...this.waiting];
      this.waiting.clear();
      for (const w of wake) w();
    }
  }

  /** Calls `wake` once, the next time bytes are released. */
  waitForRoom(wake: () => void): void {
    this.waiting.add(wake);
  }

  forget(wake: () => void): void {
    this.waiting.delete(wake);
  }
}

/** One connection's share: what it has reserved and queued, against its own bound and the global one. */
export class ConnectionAnswerBudget {
  private readonly global: GlobalAnswerBudget;
  private readonly limit: number;
  private used = 0;
  private closed = false;

  constructor(global: GlobalAnswerBudget, limit: number) {
    this.global = global;
    this.limit = limit;
  }

  get bytes(): number {
    return this.used;
  }

  /** Room a new request may reserve now: at most `max`, 0 when less than `min` fits. */
  room(min: number, max: number): number {
    const shared = this.global.limit - this.global.bytes;
    const guaranteed = GUARANTEED_ANSWER_BYTES - this.used;
    const free = Math.min(this.limit - this.used, Math.max(shared, guaranteed));
    return free >= min ? Math.min(max, free) : 0;
  }

  charge(bytes: number): void {
    if (this.closed) return;
    this.used += bytes;
    this.global.charge(bytes);
  }

  release(bytes: number): void {
    if (this.closed) return;
    this.used -= bytes;
    this.global.release(bytes);
  }

  /** Gives back everything (the connection closed); later charges and releases are ignored. */
  releaseAll(): void {
    if (this.closed) return;
    const used = this.used;
    this.closed = true;
    this.used = 0;
    if (used !== 0) this.global.release(used);
  }
}
