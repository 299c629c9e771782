/**
 * Word postings of one partition: which rows contain a word. HNSW cannot find
 * an outlier: with lexical hash vectors most texts are nearly orthogonal, and
 * a context whose words nothing else shares (a unique fact) is a point the
 * greedy graph walk never reaches. Rows sharing a query's rarer words are
 * therefore added to the graph's candidates and scored exactly.
 * Deleted rows stay in the lists until a compaction removes them.
 */
import { hash32, words } from '../../domain/words.ts';

/** Words in more than this share of rows (and at least MIN_COMMON rows) do not discriminate. */
const COMMON_SHARE = 0.05;
const MIN_COMMON = 256;

export class Postings {
  private readonly lists = new Map<number, number[]>();
  private entries = 0;
  private deadRows = 0;

  add(key: number, text: string): void {
    for (const h of new Set(words(text).map((w) => hash32(w)))) {
      let list = this.lists.get(h);
      if (!list) this.lists.set(h, (list = []));
      list.push(key);
      this.entries++;
    }
  }

  /** Counts a removed row; compacts once dead rows outnumber live ones. */
  removed(liveRows: number, isLive: (key: number) => boolean): void {
    this.deadRows++;
    if (this.deadRows > Math.max(64, liveRows)) this.compact(isLive);
  }

  private compact(isLive: (key: number) => boolean): void {
    this.entries = 0;
    for (const [h, list] of this.lists) {
      const kept = list.filter(isLive);
      if (kept.length === 0) this.lists.delete(h);
      else this.lists.set(h, kept);
      this.entries += kept.length;
    }
    this.deadRows = 0;
  }

  /** Keys of rows sharing the query's discriminating words, rarest words first, at most `limit`. */
  candidates(query: string, rows: number, limit: number): number[] {
    const maxList = Math.max(MIN_COMMON, rows * COMMON_SHARE);
    const lists = [...new Set(words(query).map((w) => hash32(w)))]
      .map((h) => this.lists.get(h))
      .filter((l): l is number[] => l !== undefined && l.length <= maxList)
      .sort((a, b) => a.length - b.length);
    const out = new Set<number>();
    for (const list of lists) {
      for (const key of list) {
        out.add(key);
        if (out.size >= limit) return [...out];
      }
    }
    return [...out];
  }
}
