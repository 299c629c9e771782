/** Keeps the k best (highest score) items seen, cheaply rejecting the rest. */
export class TopK<T> {
  private readonly k: number;
  private readonly scores: number[] = [];
  private readonly items: T[] = [];

  constructor(k: number) {
    this.k = k;
  }

  /** The score an item must beat to enter (−Infinity while not full). */
  get threshold(): number {
    return this.scores.length < this.k ? -Infinity : this.scores[this.scores.length - 1]!;
  }

  push(score: number, item: T): void {
    if (this.k <= 0 || score <= this.threshold) return;
    let i = this.scores.length;
    if (i === this.k) i--; // drop the worst
    while (i > 0 && this.scores[i - 1]! < score) {
      this.scores[i] = this.scores[i - 1]!;
      this.items[i] = this.items[i - 1]!;
      i--;
    }
    this.scores[i] = score;
    this.items[i] = item;
  }

  /** Best first. */
  result(): Array<{ score: number; item: T }> {
    return this.items.map((item, i) => ({ score: this.scores[i]!, item }));
  }
}
