/**
 * The lexical channel of one partition: which rows contain each term
 * (src/domain/lexical.ts), scored by BM25 with IDF (PROTOCOL.md §7.5
 * "relevance"). It also rescues what a graph walk cannot reach: a context
 * whose words nothing else shares is a point HNSW's greedy walk may never
 * visit, but its rare terms find it here.
 * Deleted rows stay in the lists until a compaction removes them.
 */
import { idf, termFactor, termHashes } from '../../domain/lexical.ts';

/** Terms in more than this share of rows (and at least MIN_COMMON rows) are too common to discriminate, and too long to walk. */
const COMMON_SHARE = 0.05;
const MIN_COMMON = 256;
/** Distinct query terms looked up (the rarest-first walk needs no more), and postings visited per query: a bound on one search's work whatever the query or the data. */
const MAX_QUERY_TERMS = 64;
const MAX_VISITS = 65_536;

/**
 * The rows holding a term: a key alone while there is one, then a list. Most distinct terms of real texts (ids,
 * numbers, names) occur once; a list for each took ~180 B of heap per row more at a million rows, and a quarter
 * longer to build at load (bench: 1,000,000 rows of 16 terms, one of them unique).
 */
type Posting = number | number[];

const keysOf = (p: Posting | undefined): readonly number[] => (p === undefined ? [] : typeof p === 'number' ? [p] : p);

export class Postings {
  private readonly lists = new Map<number, Posting>();
  private deadRows = 0;
  /** Terms of the live rows, for the average length. */
  private totalTerms = 0;
  private liveRows = 0;

  /** Indexes a row's distinct term hashes (termHashes of its text); their count is its BM25 length. */
  add(key: number, terms: Uint32Array): void {
    for (const h of terms) {
      const posting = this.lists.get(h);
      if (posting === undefined) this.lists.set(h, key);
      else if (typeof posting === 'number') this.lists.set(h, [posting, key]);
      else posting.push(key);
    }
    this.totalTerms += terms.length;
    this.liveRows++;
  }

  /** Counts a removed row; compacts once dead rows outnumber live ones. */
  removed(length: number, isLive: (key: number) => boolean): void {
    this.totalTerms -= length;
    this.liveRows--;
    this.deadRows++;
    if (this.deadRows > Math.max(64, this.liveRows)) this.compact(isLive);
  }

  private compact(isLive: (key: number) => boolean): void {
    for (const [h, posting] of this.lists) {
      const kept = keysOf(posting).filter(isLive);
      if (kept.length === 0) this.lists.delete(h);
      else this.lists.set(h, kept.length === 1 ? kept[0]! : kept);
    }
    this.deadRows = 0;
  }

  /**
   * BM25 of every row sharing a discriminating query term, divided by the
   * query's total IDF (so 1 means "has every query term, at average length or
   * shorter"). Terms in more than 5 % of rows are left out of both sums: they
   * rank nothing and their lists are the long ones. Rarest terms first, at
   * most `limit` rows, at most MAX_QUERY_TERMS terms, and no further list once
   * MAX_VISITS postings were walked.
   */
  score(query: string, lengthOf: (key: number) => number | undefined, limit: number): Map<number, number> {
    const rows = this.liveRows;
    const out = new Map<number, number>();
    if (rows === 0) return out;
    const average = this.totalTerms / rows;
    const maxList = Math.max(MIN_COMMON, rows * COMMON_SHARE);
    const weighted: Array<{ list: readonly number[]; weight: number }> = [];
    let total = 0;
    for (const h of [...new Set(termHashes(query))].slice(0, MAX_QUERY_TERMS)) {
      const list = keysOf(this.lists.get(h));
      const df = Math.min(rows, list.length);
      if (df > maxList) continue;
      const weight = idf(rows, df);
      weighted.push({ list, weight });
      total += weight;
    }
    if (total === 0) return out;
    weighted.sort((a, b) => a.list.length - b.list.length);
    let visits = 0;
    for (const { list, weight } of weighted) {
      if (list.length === 0) continue;
      if (visits >= MAX_VISITS) break;
      visits += list.length;
      for (const key of list) {
        const length = lengthOf(key);
        if (length === undefined) continue; // removed
        const prior = out.get(key);
        if (prior === undefined && out.size >= limit) continue;
        out.set(key, (prior ?? 0) + (weight * termFactor(length, average)) / total);
      }
    }
    return out;
  }
}
