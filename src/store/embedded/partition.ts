/**
 * The in-memory rows of one (tenant, level): metadata, contiguous vectors and,
 * above a size threshold, an HNSW graph (usearch). Rows move by swap-remove, so
 * every operation is O(1) apart from search; the ANN keys stay stable.
 */
import usearch from 'usearch';
import type { ContextMeta, RecordFilter, SearchHit, SearchQuery } from '../../domain/context.ts';
import { matchesFilter } from '../../domain/filter.ts';
import { FieldIndex, type Candidates } from './field-index.ts';
import { AnnGraph, type AnnOptions, type GraphBuildMode } from './ann-graph.ts';
import type { SavedKey } from './graph-files.ts';
import { Postings } from './postings.ts';
import { CANDIDATE_MARGIN, QUANTIZED_MAX_K, QUANTIZED_MIN_ROWS, QuantizedVectors } from './quantized-scan.ts';
import { TopK } from './top-k.ts';
import { VectorRows } from './vector-rows.ts';

const { MetricKind } = usearch;

export interface Row {
  meta: ContextMeta;
  /** Stable key in the ANN graph. */
  readonly key: number;
  textBytes: number;
  /** Distinct lexical term hashes of its text (their count is its BM25 length), kept so a level move re-indexes without re-reading the text. */
  terms: Uint32Array;
}

/** How many graph results to fetch per wanted result before filtering. */
const OVERFETCH = 4;
/**
 * A dedup look-up (`searchMany`) for at most this many (a store's duplicate check asks for 1) looks up the nearest
 * few: below the graph threshold over 8-bit copies (quantized-scan.ts), through a graph with its shorter candidate
 * list (ann-graph.ts wanted). A retrieve (`search`) never does, whatever its k.
 */
const NEAREST_MAX_K = QUANTIZED_MAX_K;
/** Extra results fetched for a plain (level and liveness) filter, which rejects only expired rows. */
const PLAIN_MARGIN = 8;
/** Most rows the lexical channel scores per query (rarest terms first). */
const LEXICAL_LIMIT = 2048;
/**
 * What one query costs, in rows scanned by the SIMD exact search (queryCost):
 * a graph search (ef 64, 8-bit vectors, re-scored) costs about as much as scanning this
 * many rows, and the row-by-row scan of a filter naming more than level and
 * liveness about JS_SCAN_FACTOR times the SIMD scan (bench: JS exact vs SIMD exact).
 */
const GRAPH_QUERY_COST = 8192;
const JS_SCAN_FACTOR = 4;

function concat(queries: ReadonlyArray<{ vector: Float32Array }>, dims: number): Float32Array {
  const out = new Float32Array(queries.length * dims);
  queries.forEach((q, i) => out.set(q.vector, i * dims));
  return out;
}

export class Partition {
  readonly dims: number;
  private rows: Row[] = [];
  /** Float32 while searched exactly, halves once the graph serves (vector-rows.ts). */
  private readonly vectors: VectorRows;
  private readonly slotByKey = new Map<number, number>();
  private readonly graph: AnnGraph;
  private readonly mode: GraphBuildMode;
  private readonly postings = new Postings();
  /** The rows of each session, agent, tag and asked-for metadata value, for selective filters (field-index.ts). */
  private readonly fields: FieldIndex;
  /** 8-bit copies for small-k exact scans (quantized-scan.ts): made on first use, dropped once a graph serves. */
  private quantized: QuantizedVectors | null = null;

  /** `tenant` names whose turns of the slice queue its background work takes. */
  constructor(dims: number, ann: AnnOptions, mode: GraphBuildMode, tenant = '') {
    this.dims = dims;
    this.fields = new FieldIndex({ tenant, rows: () => this.rows, isLive: (row) => this.rowByKey(row.key) === row });
    this.vectors = new VectorRows(dims);
    this.mode = mode;
    const self = this;
    this.graph = new AnnGraph(dims, ann, mode, {
      get size() {
        return self.rows.length;
      },
      keyAt: (slot) => this.rows[slot]!.key,
      idAt: (slot) => this.rows[slot]!.meta.id,
      firstVectors: (n) => this.vectors.rows(0, n),
      vectorOf: (key) => {
        const slot = this.slotByKey.get(key);
        return slot === undefined ? undefined : this.vectors.rows(slot, slot + 1);
      },
      checkAt: (slot) => this.vectors.checkAt(slot),
      complete: () => this.graphComplete(),
    });
  }

  get size(): number {
    return this.rows.length;
  }

  /** Searched through a complete graph (not exactly). */
  get hasGraph(): boolean {
    return this.useGraph;
  }

  rowByKey(key: number): Row | undefined {
    const slot = this.slotByKey.get(key);
    return slot === undefined ? undefined : this.rows[slot];
  }

  *allRows(): IterableIterator<Row> {
    yield* this.rows;
  }

  /** Adds rows (with their texts' term hashes, for the postings); the graph takes them in one multi-threaded call. */
  addMany(rows: readonly Row[], vectors: readonly Float32Array[], terms: readonly Uint32Array[]): void {
    const first = this.rows.length;
    this.vectors.append(vectors);
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      this.rows.push(row);
      this.slotByKey.set(row.key, first + i);
      row.terms = terms[i]!;
      this.postings.add(row.key, row.terms);
      this.fields.add(row.key, row.meta);
    }
    const added = () => this.vectors.rows(first, this.rows.length);
    this.quantized?.append(added());
    this.graph.added(rows.map((r) => r.key), added);
  }

  /** A copy of the vector of the row with `key` (in half precision once the graph serves). */
  vectorOf(key: number): Float32Array {
    const slot = this.slotByKey.get(key)!;
    return this.vectors.copyOf(slot);
  }

  /**
   * The graph holds every row: once it serves, only re-scoring reads vectors, and halves do. The switch goes a slice a
   * turn; the build counts as done (`onBuilt`) once it has ended, so what is measured then is memory at rest. True when
   * a switch began: its end reports the build (it may have ended within this call, for a partition of one slice).
   */
  private graphComplete(): boolean {
    if (!this.graph.serving) return false;
    this.quantized = null;
    if (!this.vectors.hasFull) return false;
    const mode = this.mode;
    let owed = this.vectors.size;
    mode.halving += owed;
    this.vectors.toHalves((converted, done) => {
      // Rows removed meanwhile are never converted: the end settles what is left.
      const settled = done ? owed : Math.min(converted, owed);
      owed -= settled;
      mode.halving -= settled;
      // A switch undone (the partition shrank below the threshold, `full`) built nothing to report.
      if (done && mode.halving === 0 && mode.pending === 0 && this.graph.serving) mode.onBuilt?.();
    });
    return true;
  }

  remove(key: number): Row | undefined {
    const slot = this.slotByKey.get(key);
    if (slot === undefined) return undefined;
    const row = this.rows[slot]!;
    const last = this.rows.length - 1;
    if (slot !== last) {
      const moved = this.rows[last]!;
      this.rows[slot] = moved;
      this.slotByKey.set(moved.key, slot);
    }
    this.vectors.moveLastTo(slot);
    this.rows.pop();
    this.quantized?.moveLastTo(slot);
    this.slotByKey.delete(key);
    this.graph.removed(key);
    this.postings.removed(row.terms.length, (k) => this.slotByKey.has(k));
    this.fields.remove(key, row.meta);
    return row;
  }

  /** Gives the row with `key` a new meta of the same tenant and level (an update, a refresh). */
  replaceMeta(key: number, meta: ContextMeta): void {
    const row = this.rowByKey(key)!;
    this.fields.remove(key, row.meta);
    row.meta = meta;
    this.fields.add(key, meta);
  }

  /**
   * The rows that may match `filter` (a superset, matchesFilter decides), when an indexed field narrows them to fewer
   * than half: reading more through the index costs more than reading every row in order (a plain copy is ~10× cheaper
   * a row than a walk of the index's sets, and a tags_any union may count a row once per tag).
   */
  private candidates(filter: RecordFilter): Candidates | null {
    const narrowed = this.fields.candidates(filter);
    return narrowed && narrowed.size * 2 < this.rows.length ? narrowed : null;
  }

  /** FieldIndex.whereSettled: the where keys' indexes being made, for a search to wait for. */
  whereSettled(filter: RecordFilter): Promise<unknown> | undefined {
    return filter.where ? this.fields.whereSettled(filter) : undefined;
  }

  /** How many rows `rowsToScan` would list. */
  scanSize(filter: RecordFilter): number {
    return this.candidates(filter)?.size ?? this.rows.length;
  }

  /** The rows `filter` may match (a superset), as of now: a copy, which writes after the call leave as it is. */
  rowsToScan(filter: RecordFilter): Row[] {
    const narrowed = this.candidates(filter);
    if (!narrowed) return this.rows.slice();
    const out: Row[] = [];
    for (const key of narrowed.keys) {
      const row = this.rowByKey(key);
      if (row) out.push(row);
    }
    return out;
  }

  /** Rows matching `filter`, read through the field index when it narrows them (no order). */
  *matchingRows(filter: RecordFilter): IterableIterator<Row> {
    const narrowed = this.candidates(filter);
    if (!narrowed) {
      for (const row of this.rows) if (matchesFilter(row.meta, filter)) yield row;
      return;
    }
    for (const key of narrowed.keys) {
      const row = this.rowByKey(key);
      if (row && matchesFilter(row.meta, filter)) yield row;
    }
  }

  /**
   * What one query of `searchMany` costs here, in rows the SIMD scan reads
   * (see GRAPH_QUERY_COST): what the memory index slices a many-query search by.
   */
  queryCost(filter: RecordFilter): number {
    if (this.rows.length === 0) return 0;
    const plain = Object.keys(filter).every((f) => f === 'levels' || f === 'aliveAt');
    if (plain) return this.useGraph ? GRAPH_QUERY_COST : this.rows.length;
    const narrowed = this.candidates(filter)?.size ?? Infinity;
    if (this.useGraph && !this.scansCandidates(narrowed, 1)) return GRAPH_QUERY_COST * OVERFETCH;
    return Math.min(narrowed, this.rows.length) * JS_SCAN_FACTOR;
  }

  /**
   * The k rows most similar to `query` and, with query text, the k best by BM25 (`unionOfBest`): a retrieve's
   * search, at full effort whatever k is (exact float32 below the graph threshold, ann_expansion_search above).
   */
  search(query: SearchQuery, filter: RecordFilter, k: number): SearchHit[] {
    return this.searchMany([query], filter, k, false)[0]!;
  }

  /**
   * Searches many queries at once (a store_batch's dedup checks): one native,
   * multi-threaded call instead of one per query. A filter that names only
   * level and liveness is checked on a slightly larger native result; any
   * other filter is evaluated row by row inside the scan (or the widening
   * graph search), so it is never applied after a top-k cut. Queries with
   * text add the lexical channel's best rows. Dedup's look-ups for the nearest few (k ≤ NEAREST_MAX_K) take the
   * cheaper paths unless `nearestPaths` is false.
   */
  searchMany(queries: readonly SearchQuery[], filter: RecordFilter, k: number, nearestPaths = true): SearchHit[][] {
    if (k <= 0 || this.rows.length === 0) return queries.map(() => []);
    const dense = this.denseMany(queries, filter, k, nearestPaths && k <= NEAREST_MAX_K);
    return queries.map((q, i) => this.withLexical(q, filter, k, dense[i]!));
  }

  private denseMany(queries: readonly SearchQuery[], filter: RecordFilter, k: number, nearest: boolean): SearchHit[][] {
    const withVector = queries.filter((q): q is SearchQuery & { vector: Float32Array } => q.vector !== null);
    if (withVector.length !== queries.length) return queries.map((q) => (q.vector ? this.denseMany([q], filter, k, nearest)[0]! : []));
    const plain = Object.keys(filter).every((f) => f === 'levels' || f === 'aliveAt');
    if (!plain) return withVector.map((q) => this.filteredSearch(q.vector, filter, k, nearest));
    const graphed = this.useGraph;
    const want = Math.min(this.rows.length, k + PLAIN_MARGIN);
    // usearch's exactSearch reads from the buffer's start: a view at an offset is copied (concat copies too).
    const single = withVector[0]!.vector;
    const matrix = withVector.length > 1 ? concat(withVector, this.dims) : single.byteOffset === 0 ? single : single.slice();
    const threads = withVector.length > 1 ? 0 : 1;
    if (graphed) this.graphComplete();
    else if (nearest && this.rows.length >= QUANTIZED_MIN_ROWS) return this.quantizedMany(withVector, filter, k);
    const found = graphed
      ? this.graph.search(matrix, this.graph.wanted(want, nearest))
      : usearch.exactSearch(this.vectors.full(), matrix, this.dims, want, MetricKind.IP, threads);
    return withVector.map((q, i) => {
      const m = found instanceof usearch.BatchMatches ? found.get(i) : (found as InstanceType<typeof usearch.Matches>);
      let hits: SearchHit[];
      // The graph walked a longer list than `want` (wanted); its best `want` by 8-bit similarity are re-scored.
      if (graphed) hits = this.rescored(q.vector, m.keys.subarray(0, want), filter, k);
      else {
        hits = [];
        for (let j = 0; j < m.keys.length && hits.length < k; j++) {
          const row = this.rows[Number(m.keys[j])];
          if (row && matchesFilter(row.meta, filter)) hits.push({ meta: row.meta, similarity: 1 - m.distances[j]!, lexical: 0 });
        }
      }
      // Many expired rows among the nearest: widen through the filtered path.
      if (hits.length < k && m.keys.length >= want && want < this.rows.length) return this.filteredSearch(q.vector, filter, k, nearest);
      return hits;
    });
  }

  /**
   * A plain filter's small-k exact scan (dedup's nearest neighbour) over 8-bit vectors: the best k + CANDIDATE_MARGIN
   * candidates, re-scored in float32; too few of them alive widens through the filtered (float32) path.
   */
  private quantizedMany(queries: ReadonlyArray<{ vector: Float32Array }>, filter: RecordFilter, k: number): SearchHit[][] {
    this.quantized ??= new QuantizedVectors(this.dims, this.vectors.full(), this.rows.length);
    const candidates = this.quantized.candidates(concat(queries, this.dims), k + CANDIDATE_MARGIN, queries.length > 1 ? 0 : 1);
    return queries.map((q, i) => {
      const best = new TopK<ContextMeta>(k);
      let alive = 0;
      const keys = candidates[i]!;
      for (let j = 0; j < keys.length; j++) {
        const slot = Number(keys[j]);
        const meta = this.rows[slot]!.meta;
        if (!matchesFilter(meta, filter)) continue;
        alive++;
        best.push(this.dotAt(q.vector, slot), meta);
      }
      if (alive < k) return this.filteredSearch(q.vector, filter, k, true);
      return best.result().map(({ score, item }) => ({ meta: item, similarity: score, lexical: 0 }));
    });
  }

  private get useGraph(): boolean {
    return this.graph.serving;
  }

  /**
   * Large partitions ask the graph for more than k, filter, and ask again
   * wider if too few pass; a filter too selective for that falls back to the
   * exact scan. Small partitions are scanned exactly.
   */
  private filteredSearch(vector: Float32Array, filter: RecordFilter, k: number, nearest: boolean): SearchHit[] {
    const narrowed = this.candidates(filter);
    if (!this.useGraph || (narrowed && this.scansCandidates(narrowed.size, k))) return this.exactOver(vector, filter, k, narrowed);
    // All the graph returns is re-scored: a selective filter leaves few of them. Starting wider when the field index
    // says how selective the filter is saves the searches that would find too few.
    const share = narrowed ? Math.max(narrowed.size, 1) / this.rows.length : 1;
    let want = this.graph.wanted(Math.min(this.rows.length, Math.ceil((k * OVERFETCH) / Math.min(1, share))), nearest);
    for (;;) {
      const found = this.graph.search(vector, want) as InstanceType<typeof usearch.Matches>;
      const hits = this.rescored(vector, found.keys, filter, k);
      if (hits.length >= k || found.keys.length < want || want >= this.rows.length) return hits;
      if (want * OVERFETCH > this.rows.length / 8) return this.exactOver(vector, filter, k, narrowed);
      want *= OVERFETCH;
    }
  }

  /**
   * Whether scoring every candidate beats asking the graph: scoring n candidates costs about as much as n results of
   * a graph search, and the graph must return about k·OVERFETCH·rows/n of them for k to pass. So candidates win while
   * n² ≤ k·OVERFETCH·rows (at 100,000 rows and k 100, up to ~6,300; at 1,000,000, ~20,000).
   */
  private scansCandidates(n: number, k: number): boolean {
    return n * n <= k * OVERFETCH * this.rows.length;
  }

  /**
   * Adds the lexical channel: every dense hit gets its BM25 score, and the k
   * rows best by BM25 that the dense search missed join with their exact
   * similarity. This also finds what a graph walk cannot reach (a fact whose
   * words nothing else shares).
   */
  private withLexical(query: SearchQuery, filter: RecordFilter, k: number, dense: SearchHit[]): SearchHit[] {
    if (!query.text) return dense;
    const scores = this.postings.score(query.text, (key) => this.rowByKey(key)?.terms.length, LEXICAL_LIMIT);
    if (scores.size === 0) return dense;
    const best = new TopK<{ slot: number; lexical: number }>(k);
    const lexicalOf = new Map<string, number>();
    for (const [key, lexical] of scores) {
      const slot = this.slotByKey.get(key);
      if (slot === undefined) continue;
      const meta = this.rows[slot]!.meta;
      if (!matchesFilter(meta, filter)) continue;
      lexicalOf.set(meta.id, lexical);
      best.push(lexical, { slot, lexical });
    }
    const out: SearchHit[] = dense.map((h) => ({ ...h, lexical: lexicalOf.get(h.meta.id) ?? 0 }));
    const seen = new Set(dense.map((h) => h.meta.id));
    for (const { item } of best.result()) {
      const meta = this.rows[item.slot]!.meta;
      if (seen.has(meta.id)) continue;
      out.push({ meta, similarity: query.vector ? this.dotAt(query.vector, item.slot) : 0, lexical: item.lexical });
    }
    return out;
  }

  /**
   * The graph's candidates that pass `filter`, each scored by its similarity from the partition's vectors (halves once the
   * graph serves, vector-rows.ts; the graph compares 8-bit vectors,
   * ann-graph.ts), best first, at most k. Callers ask the graph for more than k (PLAIN_MARGIN, OVERFETCH), so a
   * candidate the 8-bit order put just below the k-th still takes its place.
   */
  private rescored(query: Float32Array, keys: BigUint64Array, filter: RecordFilter, k: number): SearchHit[] {
    const best = new TopK<ContextMeta>(k);
    for (const key of keys) {
      const slot = this.slotByKey.get(Number(key));
      if (slot === undefined) continue;
      const meta = this.rows[slot]!.meta;
      if (matchesFilter(meta, filter)) best.push(this.dotAt(query, slot), meta);
    }
    return best.result().map(({ score, item }) => ({ meta: item, similarity: score, lexical: 0 }));
  }

  private dotAt(query: Float32Array, slot: number): number {
    return this.vectors.dot(query, slot);
  }

  /** Brute force over every row the filter may match, filter first: the reference the graph is measured against. */
  exact(query: Float32Array, filter: RecordFilter, k: number): SearchHit[] {
    return this.exactOver(query, filter, k, this.candidates(filter));
  }

  /** Brute force over `narrowed`'s rows, or every row when null. */
  private exactOver(query: Float32Array, filter: RecordFilter, k: number, narrowed: Candidates | null): SearchHit[] {
    const best = new TopK<ContextMeta>(k);
    if (narrowed) {
      for (const key of narrowed.keys) {
        const slot = this.slotByKey.get(key);
        if (slot === undefined) continue;
        const meta = this.rows[slot]!.meta;
        if (matchesFilter(meta, filter)) best.push(this.dotAt(query, slot), meta);
      }
    } else {
      for (let slot = 0; slot < this.rows.length; slot++) {
        const meta = this.rows[slot]!.meta;
        if (matchesFilter(meta, filter)) best.push(this.dotAt(query, slot), meta);
      }
    }
    return best.result().map(({ score, item }) => ({ meta: item, similarity: score, lexical: 0 }));
  }

  /** Its rows in slot order and their vectors by slot range (float32, as held): what an index snapshot holds. */
  contents(): { rows: readonly Row[]; vectors: (from: number, to: number) => Float32Array } {
    return { rows: this.rows, vectors: (from, to) => this.vectors.rows(from, to) };
  }

  /** Takes a saved graph before the rows load (ann-graph.ts, graph-files.ts). */
  adopt(graphPath: string, keys: readonly number[]): void {
    this.graph.adopt(graphPath, keys);
    // The rows load into halves alone: the graph is to serve them (float32s come back if it cannot, see adopted).
    this.vectors.dropFull();
  }

  /** Ends an adoption once every row is loaded. */
  adopted(): void {
    this.graph.adopted();
    // Rows the saved graph lacks are added in the background, or it was dropped: exact search serves meanwhile, on
    // float32s made now, while the store opens, not by the first search.
    if (!this.graph.serving) this.vectors.full();
  }

  /** The graph and the rows it holds, for saving; null when there is none. */
  graphToSave(): { save: (path: string) => void; entries: SavedKey[] } | null {
    return this.graph.toSave();
  }
}
