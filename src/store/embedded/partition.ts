/**
 * The in-memory rows of one (tenant, level): metadata, contiguous vectors and,
 * above a size threshold, an HNSW graph (usearch). Rows move by swap-remove, so
 * every operation is O(1) apart from search; the ANN keys stay stable.
 */
import usearch from 'usearch';
import type { ContextMeta, RecordFilter, SearchHit } from '../../domain/context.ts';
import { matchesFilter } from '../../domain/filter.ts';
import { TopK } from './top-k.ts';

const { Index, MetricKind, ScalarKind } = usearch;
type UsearchIndex = InstanceType<typeof Index>;

export interface Row {
  meta: ContextMeta;
  /** Stable key in the ANN graph. */
  readonly key: number;
  textBytes: number;
}

export interface AnnOptions {
  /** Partitions with at least this many rows are searched through the graph. */
  readonly threshold: number;
  readonly connectivity: number;
  readonly expansionAdd: number;
  readonly expansionSearch: number;
}

/** How many graph results to fetch per wanted result before filtering. */
const OVERFETCH = 4;

export class Partition {
  readonly dims: number;
  private readonly ann: AnnOptions;
  private rows: Row[] = [];
  private vectors: Float32Array;
  private readonly slotByKey = new Map<number, number>();
  private graph: UsearchIndex | null = null;

  constructor(dims: number, ann: AnnOptions) {
    this.dims = dims;
    this.ann = ann;
    this.vectors = new Float32Array(dims * 16);
  }

  get size(): number {
    return this.rows.length;
  }

  get hasGraph(): boolean {
    return this.graph !== null;
  }

  rowByKey(key: number): Row | undefined {
    const slot = this.slotByKey.get(key);
    return slot === undefined ? undefined : this.rows[slot];
  }

  *allRows(): IterableIterator<Row> {
    yield* this.rows;
  }

  add(row: Row, vector: Float32Array): void {
    const slot = this.rows.length;
    if ((slot + 1) * this.dims > this.vectors.length) {
      const grown = new Float32Array(this.vectors.length * 2);
      grown.set(this.vectors);
      this.vectors = grown;
    }
    this.vectors.set(vector, slot * this.dims);
    this.rows.push(row);
    this.slotByKey.set(row.key, slot);
    if (this.graph) this.graph.add(BigInt(row.key), vector, 1);
    else if (this.rows.length >= this.ann.threshold) this.buildGraph();
  }

  /** Replaces a row's vector (its text changed). */
  setVector(key: number, vector: Float32Array): void {
    const slot = this.slotByKey.get(key)!;
    this.vectors.set(vector, slot * this.dims);
    if (this.graph) {
      this.graph.remove(BigInt(key));
      this.graph.add(BigInt(key), vector, 1);
    }
  }

  vectorOf(key: number): Float32Array {
    const slot = this.slotByKey.get(key)!;
    return this.vectors.slice(slot * this.dims, (slot + 1) * this.dims);
  }

  remove(key: number): Row | undefined {
    const slot = this.slotByKey.get(key);
    if (slot === undefined) return undefined;
    const row = this.rows[slot]!;
    const last = this.rows.length - 1;
    if (slot !== last) {
      const moved = this.rows[last]!;
      this.rows[slot] = moved;
      this.vectors.copyWithin(slot * this.dims, last * this.dims, (last + 1) * this.dims);
      this.slotByKey.set(moved.key, slot);
    }
    this.rows.pop();
    this.slotByKey.delete(key);
    this.graph?.remove(BigInt(key));
    return row;
  }

  /**
   * The k rows most similar to `query` among those matching `filter`. Small
   * partitions are scanned exactly. Large ones ask the graph for more than k,
   * filter, and ask again wider if too few pass; a filter so selective that
   * the graph cannot find k matches falls back to the exact scan, so the
   * filter is always applied inside the search, never after a top-k cut.
   */
  search(query: Float32Array, filter: RecordFilter, k: number): SearchHit[] {
    if (k <= 0 || this.rows.length === 0) return [];
    if (!this.graph || this.rows.length < this.ann.threshold) return this.exact(query, filter, k);
    let want = Math.min(this.rows.length, k * OVERFETCH);
    for (;;) {
      const found = this.graph.search(query, want, 1);
      const hits: SearchHit[] = [];
      for (let i = 0; i < found.keys.length && hits.length < k; i++) {
        const row = this.rowByKey(Number(found.keys[i]));
        if (row && matchesFilter(row.meta, filter)) hits.push({ meta: row.meta, similarity: 1 - found.distances[i]! });
      }
      if (hits.length >= k || found.keys.length < want || want >= this.rows.length) return hits;
      if (want * OVERFETCH > this.rows.length / 8) return this.exact(query, filter, k);
      want *= OVERFETCH;
    }
  }

  /** Brute force over every row: the reference the graph is measured against. */
  exact(query: Float32Array, filter: RecordFilter, k: number): SearchHit[] {
    const best = new TopK<ContextMeta>(k);
    const dims = this.dims;
    const vectors = this.vectors;
    for (let slot = 0; slot < this.rows.length; slot++) {
      const meta = this.rows[slot]!.meta;
      if (!matchesFilter(meta, filter)) continue;
      let dot = 0;
      const base = slot * dims;
      for (let d = 0; d < dims; d++) dot += query[d]! * vectors[base + d]!;
      best.push(dot, meta);
    }
    return best.result().map(({ score, item }) => ({ meta: item, similarity: score }));
  }

  private buildGraph(): void {
    const graph = new Index({
      dimensions: this.dims,
      metric: MetricKind.Cos,
      quantization: ScalarKind.F16,
      connectivity: this.ann.connectivity,
      expansion_add: this.ann.expansionAdd,
      expansion_search: this.ann.expansionSearch,
      multi: false,
    });
    const n = this.rows.length;
    const keys = new BigUint64Array(n);
    for (let i = 0; i < n; i++) keys[i] = BigInt(this.rows[i]!.key);
    if (n > 0) graph.add(keys, this.vectors.subarray(0, n * this.dims), 0);
    this.graph = graph;
  }
}
