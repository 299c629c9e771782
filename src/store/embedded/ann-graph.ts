/**
 * The HNSW graph (usearch) of one partition and its life: built once the
 * partition crosses the threshold, in steps between requests while serving
 * (exact search meanwhile), or taken from a saved file at load and
 * reconciled with the rows loaded (graph-files.ts). The partition keeps the
 * rows and vectors; this keeps which of them the graph holds.
 */
import { readFileSync } from 'node:fs';
import usearch from 'usearch';
import type { SavedKey } from './graph-files.ts';

const { Index, MetricKind, ScalarKind } = usearch;
type UsearchIndex = InstanceType<typeof Index>;
export type GraphMatches = InstanceType<typeof usearch.Matches> | InstanceType<typeof usearch.BatchMatches>;

/** Shared by a store's partitions: graphs are built in steps between requests (background), or at once. */
export interface GraphBuildMode {
  background: boolean;
  /** Rows waiting to enter graphs being built in steps, over all partitions. */
  pending: number;
  /** Rows of partitions their graphs serve now, still to be switched to half precision (vector-rows.ts toHalves). */
  halving: number;
  /** Called each time the last pending row has entered its graph and the last row to switch has. */
  onBuilt?: () => void;
}

export interface AnnOptions {
  /** Partitions with at least this many rows are searched through the graph. */
  readonly threshold: number;
  readonly connectivity: number;
  readonly expansionAdd: number;
  readonly expansionSearch: number;
  /** The candidate list of a search for the nearest few (a store's duplicate check); expansionSearch when absent. */
  readonly expansionNearest?: number;
}

/** What a graph reads of its partition's rows. */
export interface GraphRows {
  readonly size: number;
  keyAt(slot: number): number;
  idAt(slot: number): string;
  /** The vectors of the first `n` rows, contiguous in slot order (a view, or a copy where the partition holds halves). */
  firstVectors(n: number): Float32Array;
  /** The vector of the row with `key` (a view or a copy, to read before the next call), undefined once removed. */
  vectorOf(key: number): Float32Array | undefined;
  /** The check a saved graph keeps of the vector of `slot` (graph-files.ts vectorCheck). */
  checkAt(slot: number): SavedKey['check'];
  /**
   * Told each time the graph comes to hold every row (built, its backlog done, or adopted whole). True when the rows
   * begin a switch to half precision, whose end reports the build (`onBuilt`) instead of the graph.
   */
  complete(): boolean;
}

/**
 * Every graph call uses the same thread count (0: one per core): usearch sizes its per-thread
 * state when it reserves capacity, and a call with more threads than were reserved fails.
 */
const GRAPH_THREADS = 0;
/**
 * How graphs hold vectors: part of a saved graph's identity (graph-files.ts). 8-bit: a quarter of float32's memory,
 * and inserts ~1.6× and searches ~1.2× faster than half precision here (100,000 hash vectors); the graph only proposes
 * candidates, which the partition scores with its own copy of the vectors, in half precision once the graph serves
 * (vector-rows.ts). Recall@10 against exact search on float32 vectors, in process: 0.966 re-scored in float32, 0.959
 * for a half-precision graph without re-scoring; on the bench's 100,000 contexts, re-scored in half precision 0.986
 * against 0.987 in float32.
 */
export const GRAPH_QUANTIZATION = 'i8';

/**
 * The usearch release, also part of a saved graph's identity: its file format is
 * its own, so a graph saved by another release is rebuilt, never loaded.
 * (Its package exports no package.json: read beside its entry point.)
 */
export function usearchVersion(): string {
  try {
    const manifest = new URL('../../../package.json', import.meta.resolve('usearch'));
    return String((JSON.parse(readFileSync(manifest, 'utf8')) as { version?: unknown }).version ?? 'unknown');
  } catch {
    return 'unknown';
  }
}
/** Rows added to a graph per step of a background build: a few tens of ms, then other work runs. */
const GRAPH_STEP = 128;

export class AnnGraph {
  private readonly dims: number;
  private readonly ann: AnnOptions;
  private readonly mode: GraphBuildMode;
  private readonly rows: GraphRows;
  private index: UsearchIndex | null = null;
  /** Keys still to enter a graph being built in steps; null once the graph is complete. */
  private backlog: number[] | null = null;
  /** While a saved graph is adopted during the load: its keys no loaded row has taken yet. */
  private adopting: Set<number> | null = null;

  constructor(dims: number, ann: AnnOptions, mode: GraphBuildMode, rows: GraphRows) {
    this.dims = dims;
    this.ann = ann;
    this.mode = mode;
    this.rows = rows;
  }

  /** Complete, and the partition big enough to be searched through it. */
  get serving(): boolean {
    return this.index !== null && this.backlog === null && this.rows.size >= this.ann.threshold;
  }

  /** The rows just appended to the partition: `keys`, their vectors contiguous (made only when the graph takes them now). */
  added(keys: readonly number[], vectors: () => Float32Array): void {
    if (this.backlog) {
      for (const key of keys) {
        // A row that took its saved key is in the adopted graph already.
        if (this.adopting?.delete(key)) continue;
        this.backlog.push(key);
        this.mode.pending++;
      }
    } else if (this.index) {
      this.index.add(BigUint64Array.from(keys, (k) => BigInt(k)), vectors(), GRAPH_THREADS);
    } else if (this.rows.size >= this.ann.threshold) {
      this.build();
    }
  }

  removed(key: number): void {
    this.index?.remove(BigInt(key));
  }

  /**
   * How many results to ask `search` for when `want` are needed: usearch walks a candidate list of
   * max(its expansion_search, the number asked), so asking for the whole list sets the effort per search.
   * A search for the nearest few (a store's duplicate check) walks a shorter list: measured on 100,000 hash
   * vectors, a near-duplicate (similarity 0.97–0.99) had its original among the candidates every time with 32
   * (99.5 % with 16), at 0.3× the cost of 128.
   */
  wanted(want: number, nearest: boolean): number {
    return Math.max(want, nearest ? this.nearestExpansion : this.ann.expansionSearch);
  }

  /** Only while `serving`; `want` from `wanted`. */
  search(vectors: Float32Array, want: number): GraphMatches {
    return this.index!.search(vectors, want, GRAPH_THREADS) as GraphMatches;
  }

  private get nearestExpansion(): number {
    return this.ann.expansionNearest ?? this.ann.expansionSearch;
  }

  /**
   * Takes a saved graph before the rows load: rows loaded with one of `keys`
   * are in it already, the others join its backlog. `adopted()` then drops
   * the keys no row took.
   */
  adopt(graphPath: string, keys: readonly number[]): void {
    const index = this.newIndex();
    index.load(graphPath);
    // What the keys file lists is what the graph holds, or the file is refused.
    const listed = BigUint64Array.from(keys, (k) => BigInt(k));
    if (index.size() !== keys.length || (keys.length > 0 && !(index.contains(listed) as boolean[]).every(Boolean))) {
      throw new Error('the graph does not hold the keys its keys file lists');
    }
    this.index = index;
    this.backlog = [];
    this.adopting = new Set(keys);
  }

  /** Ends an adoption once every row is loaded: the graph serves now, or once its backlog has entered it. */
  adopted(): void {
    const stale = this.adopting;
    if (!stale || !this.index) return;
    this.adopting = null;
    if (this.rows.size < this.ann.threshold) {
      // Shrank below the threshold since the save: searched exactly, and graphed again if it grows.
      this.mode.pending -= this.backlog!.length;
      this.index = null;
      this.backlog = null;
      return;
    }
    for (const key of stale) this.index.remove(BigInt(key));
    if (this.backlog!.length > 0) return void setImmediate(() => this.step());
    this.backlog = null;
    this.rows.complete();
  }

  /**
   * The graph and the rows it holds, for saving (graph-files.ts); null when
   * there is none. A graph still being built is saved as far as it got: the
   * next start adds only its backlog.
   */
  toSave(): { save: (path: string) => void; entries: SavedKey[] } | null {
    const index = this.index;
    if (!index || this.adopting || this.rows.size < this.ann.threshold) return null;
    const waiting = new Set(this.backlog ?? []);
    const entries: SavedKey[] = [];
    for (let slot = 0; slot < this.rows.size; slot++) {
      const key = this.rows.keyAt(slot);
      if (!waiting.has(key)) entries.push({ key, id: this.rows.idAt(slot), check: this.rows.checkAt(slot) });
    }
    return { save: (path) => index.save(path), entries };
  }

  private newIndex(): UsearchIndex {
    return new Index({
      dimensions: this.dims,
      // Vectors are L2-normalised (or zero, for text without words): inner product is cosine.
      metric: MetricKind.IP,
      quantization: ScalarKind.I8,
      connectivity: this.ann.connectivity,
      expansion_add: this.ann.expansionAdd,
      // The least effort any search asks for: `wanted` sets each search's own.
      expansion_search: Math.min(this.nearestExpansion, this.ann.expansionSearch),
      multi: false,
    });
  }

  private build(): void {
    const index = this.newIndex();
    this.index = index;
    const n = this.rows.size;
    const keys = Array.from({ length: n }, (_, slot) => this.rows.keyAt(slot));
    if (this.mode.background) {
      // Serving requests: build in steps, searching exactly (SIMD) until the graph is complete.
      this.backlog = keys;
      this.mode.pending += keys.length;
      setImmediate(() => this.step());
      return;
    }
    if (n > 0) index.add(BigUint64Array.from(keys, (k) => BigInt(k)), this.rows.firstVectors(n), GRAPH_THREADS);
    this.rows.complete();
  }

  private step(): void {
    const backlog = this.backlog;
    if (!backlog || !this.index) return;
    const keys: bigint[] = [];
    const matrix = new Float32Array(GRAPH_STEP * this.dims);
    while (keys.length < GRAPH_STEP && backlog.length > 0) {
      const key = backlog.pop()!;
      this.mode.pending--;
      const vector = this.rows.vectorOf(key);
      if (vector === undefined) continue; // removed meanwhile
      matrix.set(vector, keys.length * this.dims);
      keys.push(BigInt(key));
    }
    if (keys.length > 0) this.index.add(BigUint64Array.from(keys), matrix.subarray(0, keys.length * this.dims), GRAPH_THREADS);
    if (backlog.length > 0) return void setImmediate(() => this.step());
    this.backlog = null;
    const switching = this.rows.complete();
    if (!switching && this.mode.pending === 0 && this.mode.halving === 0) this.mode.onBuilt?.();
  }
}
