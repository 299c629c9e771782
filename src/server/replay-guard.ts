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

class Generation {
  private readonly byKid = new Map<string, Set<string>>();
  size = 0;

  has(kid: string, id: string): boolean {
    return this.byKid.get(kid)?.has(id) ?? false;
  }

  add(kid: string, id: string): void {
    let ids = this.byKid.get(kid);
    if (!ids) this.byKid.set(kid, (ids = new Set()));
    ids.add(id);
    this.size++;
  }
}

export class ReplayGuard {
  private readonly generationMs: number;
  private readonly maxIds: number;
  /** Per generation, the ids seen per key (no string building on the hot path). */
  private generations: [Generation, Generation, Generation] = [new Generation(), new Generation(), new Generation()];
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
    const [current, previous, oldest] = this.generations;
    if (current.has(kid, id) || previous.has(kid, id) || oldest.has(kid, id)) return 'replay';
    if (this.size >= this.maxIds) return 'full';
    current.add(kid, id);
    return 'fresh';
  }

  private rotate(now: number): void {
    const elapsed = now - this.generationStart;
    if (elapsed < this.generationMs) return;
    const steps = Math.min(3, Math.floor(elapsed / this.generationMs));
    for (let i = 0; i < steps; i++) {
      const [current, previous] = this.generations;
      this.generations = [new Generation(), current, previous];
    }
    this.generationStart += Math.floor(elapsed / this.generationMs) * this.generationMs;
  }
}
