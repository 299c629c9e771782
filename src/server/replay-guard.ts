/**
 * Remembers request ids per key for the replay window (PROTOCOL.md §4.3).
 *
 * A request is accepted only with `ts` within ±skew of the server clock, so an
 * id must be remembered until its ts + skew has passed: up to 2 × skew after
 * it arrives. Ids live in three generations of `skew` ms each; the oldest is
 * dropped whole on rotation, so every id is kept between 2 and 3 × skew and
 * eviction costs nothing per request. Memory is capped: past `maxIds` the
 * guard answers "full" (the daemon sends OVERLOADED) instead of forgetting ids
 * that could still be replayed.
 */
export type ReplayVerdict = 'fresh' | 'replay' | 'full';

export class ReplayGuard {
  private readonly generationMs: number;
  private readonly maxIds: number;
  private generations: [Set<string>, Set<string>, Set<string>] = [new Set(), new Set(), new Set()];
  private generationStart: number;

  constructor(opts: { skewMs: number; maxIds: number; now: number }) {
    this.generationMs = opts.skewMs;
    this.maxIds = opts.maxIds;
    this.generationStart = opts.now;
  }

  get size(): number {
    return this.generations[0].size + this.generations[1].size + this.generations[2].size;
  }

  check(kid: string, id: string, now: number): ReplayVerdict {
    this.rotate(now);
    const key = kid + '\n' + id;
    const [current, previous, oldest] = this.generations;
    if (current.has(key) || previous.has(key) || oldest.has(key)) return 'replay';
    if (this.size >= this.maxIds) return 'full';
    current.add(key);
    return 'fresh';
  }

  private rotate(now: number): void {
    const elapsed = now - this.generationStart;
    if (elapsed < this.generationMs) return;
    const steps = Math.min(3, Math.floor(elapsed / this.generationMs));
    for (let i = 0; i < steps; i++) {
      const [current, previous] = this.generations;
      this.generations = [new Set(), current, previous];
    }
    this.generationStart += Math.floor(elapsed / this.generationMs) * this.generationMs;
  }
}
