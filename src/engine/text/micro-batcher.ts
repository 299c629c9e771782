/**
 * Fills an embedder's calls from many concurrent requests. While the model is
 * busy, texts wait; when a call slot frees (at most `concurrency` calls at
 * once), the next call takes up to `maxBatch` waiting texts: queries first
 * (a retrieve is waiting on one), then stored texts round-robin across the
 * requests that sent them, so a single store is not queued behind a
 * 1,000-text batch. An idle embedder gets a lone text at once: batching adds
 * no latency, it only fills the calls that load would queue anyway.
 */
import type { Embedder, EmbedOptions } from './embedder.ts';

interface Pending {
  readonly texts: readonly string[];
  readonly vectors: Array<Float32Array | undefined>;
  /** Texts not yet handed to a call. */
  next: number;
  /** Texts not yet answered. */
  open: number;
  readonly deadline: number | undefined;
  readonly resolve: (vectors: Float32Array[]) => void;
  readonly reject: (err: unknown) => void;
  failed: boolean;
}

interface Slice {
  readonly request: Pending;
  readonly from: number;
  readonly to: number;
}

export class MicroBatcher {
  readonly stats = { calls: 0, texts: 0 };
  private readonly embedder: Embedder;
  private readonly queries: Pending[] = [];
  private readonly stores: Pending[] = [];
  private running = 0;

  constructor(embedder: Embedder) {
    this.embedder = embedder;
  }

  /** Texts waiting for a call. */
  get waiting(): number {
    let n = 0;
    for (const r of this.queries) n += r.texts.length - r.next;
    for (const r of this.stores) n += r.texts.length - r.next;
    return n;
  }

  embed(texts: readonly string[], opts: EmbedOptions & { query?: boolean } = {}): Promise<Float32Array[]> {
    if (texts.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const request: Pending = { texts, vectors: new Array(texts.length), next: 0, open: texts.length, deadline: opts.deadline, resolve, reject, failed: false };
      (opts.query ? this.queries : this.stores).push(request);
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.embedder.concurrency) {
      const slices = this.take(this.embedder.maxBatch);
      if (slices.length === 0) return;
      this.running++;
      void this.call(slices).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  /**
   * Up to `max` texts: queries first, then stores, a fair share per request in
   * turn. Requests still holding texts go to the back of their queue, so the
   * next call starts with the ones this call did not serve.
   */
  private take(max: number): Slice[] {
    const slices: Slice[] = [];
    let room = max;
    const now = Date.now();
    for (const queue of [this.queries, this.stores]) {
      // Waited past its deadline: its caller has given up (a query answers from words); no call is spent on it.
      for (const r of queue.filter((q) => q.deadline !== undefined && q.deadline <= now)) this.fail(r, new Error('the embedding deadline passed while queued'));
      const served = new Set<Pending>();
      while (room > 0 && queue.length > 0) {
        const share = Math.max(1, Math.floor(room / queue.length));
        let progressed = false;
        for (let i = 0; i < queue.length && room > 0; i++) {
          const r = queue[i]!;
          const n = Math.min(share, room, r.texts.length - r.next);
          if (n === 0) continue;
          slices.push({ request: r, from: r.next, to: r.next + n });
          r.next += n;
          room -= n;
          progressed = true;
          served.add(r);
        }
        // Fully handed out: leaves the queue (its answer comes from the calls).
        for (let i = queue.length - 1; i >= 0; i--) if (queue[i]!.next === queue[i]!.texts.length) queue.splice(i, 1);
        if (!progressed) break;
      }
      if (served.size > 0) {
        const waiting = queue.filter((r) => !served.has(r));
        const back = queue.filter((r) => served.has(r));
        queue.splice(0, queue.length, ...waiting, ...back);
      }
    }
    return slices;
  }

  private async call(slices: readonly Slice[]): Promise<void> {
    const texts = slices.flatMap((s) => s.request.texts.slice(s.from, s.to));
    let deadline: number | undefined;
    for (const s of slices) if (s.request.deadline !== undefined) deadline = Math.min(deadline ?? Infinity, s.request.deadline);
    this.stats.calls++;
    this.stats.texts += texts.length;
    let vectors: Float32Array[];
    try {
      vectors = await this.embedder.embed(texts, deadline === undefined ? {} : { deadline });
      if (vectors.length !== texts.length) throw new Error(`embedder returned ${vectors.length} vectors for ${texts.length} texts`);
    } catch (err) {
      for (const s of slices) this.fail(s.request, err);
      return;
    }
    let at = 0;
    for (const { request, from, to } of slices) {
      for (let i = from; i < to; i++) request.vectors[i] = vectors[at++]!;
      request.open -= to - from;
      if (request.open === 0 && !request.failed) request.resolve(request.vectors as Float32Array[]);
    }
  }

  private fail(request: Pending, err: unknown): void {
    if (request.failed) return;
    request.failed = true;
    // Its texts still waiting are dropped: nobody will read them.
    for (const queue of [this.queries, this.stores]) {
      const i = queue.indexOf(request);
      if (i >= 0) queue.splice(i, 1);
    }
    request.reject(err);
  }
}
