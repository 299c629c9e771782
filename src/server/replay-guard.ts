/**
 * Remembers request ids per key for the replay window (PROTOCOL.md §4.3).
 *
 * A request is accepted only with `ts` within ±skew of the server clock, so an
 * id must be remembered until its ts + skew has passed: up to 2 × skew after
 * it arrives. Each key's ids live in three generations of `skew` ms; the
 * oldest is dropped whole on rotation, so every id is kept between 2 and
 * 3 × skew and eviction costs nothing per request.
 *
 * Memory is capped per key: past `maxIdsPerKey` that key alone is answered
 * "full" (the daemon sends OVERLOADED) instead of forgetting ids that could
 * still be replayed. One key flooding can neither evict nor block another
 * key's ids. Total memory is at most keys × maxIdsPerKey ids; with the default
 * rate limit a key cannot even reach its cap (rate × 3 × skew + burst).
 * Ids are kept as 63-bit fingerprints (fingerprint-set.ts): 16–32 bytes each,
 * nothing allocated per id.
 */
import { Fingerprinter, FingerprintSet } from './fingerprint-set.ts';

export type ReplayVerdict = 'fresh' | 'replay' | 'full';

class KeyWindow {
  generations: [FingerprintSet, FingerprintSet, FingerprintSet] = [new FingerprintSet(), new FingerprintSet(), new FingerprintSet()];
  generationStart: number;

  constructor(now: number) {
    this.generationStart = now;
  }

  get size(): number {
    return this.generations[0].size + this.generations[1].size + this.generations[2].size;
  }

  has(hi: number, lo: number): boolean {
    const [a, b, c] = this.generations;
    return a.has(hi, lo) || b.has(hi, lo) || c.has(hi, lo);
  }

  rotate(now: number, generationMs: number): void {
    const elapsed = now - this.generationStart;
    if (elapsed < generationMs) return;
    const steps = Math.floor(elapsed / generationMs);
    for (let i = 0; i < Math.min(3, steps); i++) {
      const [current, previous] = this.generations;
      this.generations = [new FingerprintSet(), current, previous];
    }
    this.generationStart += steps * generationMs;
  }
}

export class ReplayGuard {
  private readonly generationMs: number;
  private readonly maxIdsPerKey: number;
  private readonly windows = new Map<string, KeyWindow>();
  private readonly fingerprint = new Fingerprinter();

  constructor(opts: { skewMs: number; maxIdsPerKey: number }) {
    this.generationMs = opts.skewMs;
    this.maxIdsPerKey = opts.maxIdsPerKey;
  }

  /** Ids remembered across all keys (for metrics). */
  get size(): number {
    let n = 0;
    for (const w of this.windows.values()) n += w.size;
    return n;
  }

  check(kid: string, id: string, now: number): ReplayVerdict {
    let w = this.windows.get(kid);
    if (!w) this.windows.set(kid, (w = new KeyWindow(now)));
    w.rotate(now, this.generationMs);
    const fp = this.fingerprint;
    fp.take(id);
    if (w.has(fp.hi, fp.lo)) return 'replay';
    if (w.size >= this.maxIdsPerKey) return 'full';
    w.generations[0].add(fp.hi, fp.lo);
    return 'fresh';
  }

  /**
   * Ids accepted before a restart (from the request journal): remembered as if
   * they had just arrived, which keeps them at least 2 × skew, longer than
   * their ts can stay acceptable.
   */
  preload(kid: string, id: string, now: number): void {
    let w = this.windows.get(kid);
    if (!w) this.windows.set(kid, (w = new KeyWindow(now)));
    this.fingerprint.take(id);
    w.generations[0].add(this.fingerprint.hi, this.fingerprint.lo);
  }

  /** Drops windows of keys that sent nothing for 3 × skew (called now and then). */
  sweep(now: number): void {
    for (const [kid, w] of this.windows) {
      w.rotate(now, this.generationMs);
      if (w.size === 0) this.windows.delete(kid);
    }
  }
}
