/**
 * Every record's metadata and vector in memory, partitioned by (tenant,
 * level), with an id map. Texts stay in SQLite: only the few records a search
 * returns are read from disk.
 */
import type { ContextMeta, Level, RecordFilter, SearchHit, SearchQuery } from '../../domain/context.ts';
import { LEVELS, unionOfBest } from '../../domain/context.ts';
import { matchesFilter } from '../../domain/filter.ts';
import { hashTerms } from './load-terms.ts';
import { TopK } from './top-k.ts';
import { sameCheck, vectorCheck, type GraphToSave, type SavedGraph, type VectorCheck } from './graph-files.ts';
import type { AnnOptions, GraphBuildMode } from './ann-graph.ts';
import type { SnapshotPart } from './index-snapshot.ts';
import { Partition, type Row } from './partition.ts';
import { nextSlice } from './slice-queue.ts';

/**
 * Rows (SIMD-scan equivalents, Partition.queryCost) one native search call
 * may cover when many queries are searched at once: 65,536 rows of 384
 * dimensions is ~5 ms of one core here, so a call stays well under 20 ms even
 * on a loaded machine. A store_batch's 1,000 dedup queries over 10,000 rows
 * are 160 calls, a turn of the event loop apart.
 */
export const SEARCH_SLICE_ROWS = 1 << 16;
/** Most queries in one call, however small the partition. */
export const SEARCH_SLICE_MAX_QUERIES = 64;
/**
 * Rows a scan (count, stats, find, delete_where) filters between two turns of the event loop: ~5 ms here at
 * ~0.3 µs a row. One scan of a tenant of 100,000 held every other tenant's answers ~30 ms, and 20 at once 0.4–1 s.
 */
export const SCAN_ROWS_PER_TURN = 16_384;

export interface ScanOptions {
  /** GC's own scan: not queued behind the tenant's (one GC pass runs at a time, so one copy). */
  readonly background?: boolean;
  /** Waits for the scan's next slice (default: its tenant's place in the slice queue). */
  readonly turn?: () => Promise<void>;
}

export interface RowContent {
  readonly vector: Float32Array;
  readonly text: string;
  /** termHashes(text), when already computed off the event loop. */
  readonly terms?: Uint32Array | undefined;
}

/** What a tenant holds in the index: records (expired ones awaiting GC included) and bytes of their text. */
interface Usage {
  contexts: number;
  textBytes: number;
}

interface Located {
  readonly partition: Partition;
  readonly key: number;
}

export class MemoryIndex {
  private readonly dims: number;
  private readonly ann: AnnOptions;
  /** Graphs are built in steps between requests (the store sets this before its load, so the listener need not wait). */
  readonly graphBuild: GraphBuildMode = { background: false, pending: 0, halving: 0 };
  private readonly partitions = new Map<string, Partition>();
  private readonly byId = new Map<string, Located>();
  /** Kept up to date on every insert and remove, so per-tenant quotas cost O(1) per write. */
  private readonly tenantUsage = new Map<string, Usage>();
  private nextKey = 1;
  /** Each tenant's last scan, which its next waits for (scan). */
  private readonly scans = new Map<string, Promise<void>>();
  /** During a load that adopted saved graphs: the key each saved id held, and where (graph-files.ts). */
  private carried: Map<string, { key: number; check: VectorCheck | null; partition: Partition }> | null = null;
  private reused = 0;

  constructor(dims: number, ann: AnnOptions) {
    this.dims = dims;
    this.ann = ann;
  }

  get size(): number {
    return this.byId.size;
  }

  private partition(tenant: string, level: Level, create: boolean): Partition | undefined {
    const name = `${level}\u0000${tenant}`;
    let p = this.partitions.get(name);
    if (!p && create) this.partitions.set(name, (p = new Partition(this.dims, this.ann, this.graphBuild, tenant)));
    return p;
  }

  private row(id: string): (Located & { row: Row }) | undefined {
    const at = this.byId.get(id);
    if (!at) return undefined;
    const row = at.partition.rowByKey(at.key);
    return row ? { ...at, row } : undefined;
  }

  /** `row(id)?.row` without the object `row` makes: meta look-ups run for every candidate of every retrieve. */
  private rowOf(id: string): Row | undefined {
    const at = this.byId.get(id);
    return at?.partition.rowByKey(at.key);
  }

  meta(tenant: string, id: string): ContextMeta | undefined {
    const meta = this.rowOf(id)?.meta;
    return meta && meta.tenant === tenant ? meta : undefined;
  }

  /** The tenant and version of `id`, whichever tenant holds it. */
  locate(id: string): { tenant: string; version: number } | undefined {
    const meta = this.rowOf(id)?.meta;
    return meta && { tenant: meta.tenant, version: meta.version };
  }

  /**
   * Adds to a record's access count (the store's incrementAccess, once committed): one look-up, no other change.
   * In place, the one field of a meta that changes without a new version: a new meta per counted row (thousands a
   * second under a retrieve load) was young garbage the old rows pointed to, promoted by every scavenge, and made
   * scavenges several times longer. A reader holding this meta sees the count as it is now, as a new read would.
   */
  addAccess(tenant: string, id: string, n: number): void {
    const row = this.rowOf(id);
    if (row && row.meta.tenant === tenant) (row.meta as { accessCount: number }).accessCount += n;
  }

  /** A record's version and the term hashes its text is indexed by, whichever tenant holds it (terms-backfill.ts). */
  indexedTerms(id: string): { version: number; terms: Uint32Array } | undefined {
    const row = this.rowOf(id);
    return row && { version: row.meta.version, terms: row.terms };
  }

  vector(tenant: string, id: string): Float32Array | undefined {
    const r = this.row(id);
    return r && r.row.meta.tenant === tenant ? r.partition.vectorOf(r.key) : undefined;
  }

  /**
   * Replaces a record's metadata. `content` (vector and text) is needed when
   * they changed, and when the record moves to another level; `textBytes`
   * when the text changed.
   */
  put(meta: ContextMeta, change: { textBytes?: number; content?: RowContent } = {}): void {
    const existing = this.row(meta.id);
    if (!existing) throw new Error(`no record ${meta.id} to update`);
    // A new text re-enters its partition under a new key, so its postings hold only its current words.
    if (existing.row.meta.level === meta.level && existing.row.meta.tenant === meta.tenant && !change.content) {
      if (change.textBytes !== undefined) {
        this.addUsage(meta.tenant, 0, change.textBytes - existing.row.textBytes);
        existing.row.textBytes = change.textBytes;
      }
      existing.partition.replaceMeta(existing.key, meta);
      return;
    }
    if (!change.content) throw new Error(`moving ${meta.id} to another level needs its vector and text`);
    const textBytes = change.textBytes ?? existing.row.textBytes;
    // Same text (a level move): its terms move with it, never recomputed on the event loop.
    const terms = change.content.terms ?? (change.textBytes === undefined ? existing.row.terms : undefined);
    this.remove(meta.id);
    this.insertMany([{ meta, textBytes, ...change.content, terms }]);
  }

  /** Inserts many new records (ids not yet present), a partition at a time. */
  insertMany(items: ReadonlyArray<{ meta: ContextMeta; textBytes: number } & RowContent>): void {
    const byPartition = new Map<Partition, { rows: Row[]; vectors: Float32Array[]; terms: Uint32Array[] }>();
    for (const { meta, vector, text, terms, textBytes } of items) {
      // A replaced record (upsert of an existing id) is reinserted whole.
      if (this.byId.has(meta.id)) this.remove(meta.id);
      const partition = this.partition(meta.tenant, meta.level, true)!;
      let group = byPartition.get(partition);
      if (!group) byPartition.set(partition, (group = { rows: [], vectors: [], terms: [] }));
      const key = this.carriedKey(meta.id, partition, vector) ?? this.nextKey++;
      const hashes = terms ?? hashTerms(text);
      group.rows.push({ meta, key, textBytes, terms: hashes });
      group.vectors.push(vector);
      group.terms.push(hashes);
      this.byId.set(meta.id, { partition, key });
      this.addUsage(meta.tenant, 1, textBytes);
    }
    for (const [partition, { rows, vectors, terms }] of byPartition) partition.addMany(rows, vectors, terms);
  }

  /** The saved key of a row being loaded, when its saved graph holds this very vector. */
  private carriedKey(id: string, partition: Partition, vector: Float32Array): number | undefined {
    const saved = this.carried?.get(id);
    if (!saved || saved.partition !== partition || (saved.check !== null && !sameCheck(saved.check, vectorCheck(vector)))) return undefined;
    this.carried!.delete(id);
    this.reused++;
    return saved.key;
  }

  /**
   * Before a load: takes saved graphs, so the rows loaded next keep their
   * saved keys where their vectors match (unchecked for graphs saved with
   * `snapshot`, the token of the index snapshot the rows are read from). `adoptionDone` ends it. Returns
   * how many graphs were taken (one that does not load is refused).
   */
  adoptGraphs(graphs: readonly SavedGraph[], refuse: (graphPath: string, reason: string) => void, snapshot: string | null = null): number {
    this.carried = new Map();
    let adopted = 0;
    for (const g of graphs) {
      const partition = this.partition(g.tenant, g.level, true)!;
      try {
        partition.adopt(g.graphPath, g.entries.map((e) => e.key));
      } catch (e) {
        refuse(g.graphPath, `does not load: ${(e as Error).message}`);
        continue;
      }
      adopted++;
      // Saved from the rows of the snapshot being loaded (graph-files.ts): their vectors are those it was built on.
      const trusted = snapshot !== null && g.snapshot === snapshot;
      for (const e of g.entries) {
        this.carried.set(e.id, { key: e.key, check: trusted ? null : e.check, partition });
        if (e.key >= this.nextKey) this.nextKey = e.key + 1;
      }
    }
    return adopted;
  }

  /**
   * After the load: saved keys no row took leave their graphs; rows the
   * graphs lack join their backlogs. Returns how many rows kept their saved keys.
   */
  adoptionDone(): number {
    this.carried = null;
    for (const p of this.partitions.values()) p.adopted();
    return this.reused;
  }

  /** Every partition's rows and vectors, to write an index snapshot at close (index-snapshot.ts). */
  *snapshotParts(): IterableIterator<SnapshotPart> {
    for (const [name, p] of this.partitions) {
      if (p.size === 0) continue;
      const cut = name.indexOf('\u0000');
      yield { tenant: name.slice(cut + 1), level: Number(name.slice(0, cut)) as Level, ...p.contents() };
    }
  }

  /** Every complete graph, to save at close (graph-files.ts). */
  graphsToSave(): GraphToSave[] {
    const out: GraphToSave[] = [];
    for (const [name, p] of this.partitions) {
      const graph = p.graphToSave();
      if (!graph) continue;
      const cut = name.indexOf('\u0000');
      out.push({ tenant: name.slice(cut + 1), level: Number(name.slice(0, cut)) as Level, ...graph });
    }
    return out;
  }

  remove(id: string): ContextMeta | undefined {
    const at = this.byId.get(id);
    if (!at) return undefined;
    const row = at.partition.remove(at.key);
    this.byId.delete(id);
    if (row) this.addUsage(row.meta.tenant, -1, -row.textBytes);
    return row?.meta;
  }

  private addUsage(tenant: string, contexts: number, textBytes: number): void {
    let u = this.tenantUsage.get(tenant);
    if (!u) this.tenantUsage.set(tenant, (u = { contexts: 0, textBytes: 0 }));
    u.contexts += contexts;
    u.textBytes += textBytes;
    if (u.contexts === 0) this.tenantUsage.delete(tenant);
  }

  private levelsOf(filter: RecordFilter): readonly Level[] {
    return filter.levels ?? LEVELS;
  }

  search(tenant: string, query: SearchQuery, filter: RecordFilter, k: number): SearchHit[] {
    const parts = this.levelsOf(filter).map((l) => this.partition(tenant, l, false)).filter((p): p is Partition => p !== undefined);
    if (parts.length === 1) return parts[0]!.search(query, filter, k);
    return unionOfBest(parts.flatMap((p) => p.search(query, filter, k)), k);
  }

  searchMany(tenant: string, queries: readonly SearchQuery[], filter: RecordFilter, k: number): SearchHit[][] {
    const levels = this.levelsOf(filter);
    if (levels.length !== 1) return queries.map((q) => this.search(tenant, q, filter, k));
    const p = this.partition(tenant, levels[0]!, false);
    return p ? p.searchMany(queries, filter, k) : queries.map(() => []);
  }

  /** Settles once the indexes of `filter`'s where keys that are being made in slices are complete (Partition.whereSettled). */
  async whereSettled(tenant: string, filter: RecordFilter): Promise<void> {
    if (!filter.where) return;
    for (const level of this.levelsOf(filter)) await this.partition(tenant, level, false)?.whereSettled(filter);
  }

  /** How many queries one native call may search for `filter` (SEARCH_SLICE_ROWS). */
  queriesPerCall(tenant: string, filter: RecordFilter): number {
    let cost = 0;
    for (const level of this.levelsOf(filter)) cost += this.partition(tenant, level, false)?.queryCost(filter) ?? 0;
    return Math.max(1, Math.min(SEARCH_SLICE_MAX_QUERIES, Math.floor(SEARCH_SLICE_ROWS / Math.max(1, cost))));
  }

  /**
   * searchMany in slices of queriesPerCall queries, each in its turn of the event
   * loop (`turn`, a place in the slice queue by default; the first waits too when there are several), so a big
   * batch never holds the loop in one native call, nor do many at once. Each query's hits are what searchMany
   * gives it alone; writes applied between slices are seen by later slices,
   * as by any later search.
   */
  async searchManySliced(tenant: string, queries: readonly SearchQuery[], filter: RecordFilter, k: number, turn: () => Promise<void> = () => nextSlice(tenant)): Promise<SearchHit[][]> {
    const out: SearchHit[][] = [];
    for (let at = 0; at < queries.length; ) {
      if (at > 0 || queries.length > this.queriesPerCall(tenant, filter)) await turn();
      // Sized again each slice: the partition may have grown, or got its graph, meanwhile.
      const n = this.queriesPerCall(tenant, filter);
      for (const hits of this.searchMany(tenant, queries.slice(at, at + n), filter, k)) out.push(hits);
      at += n;
    }
    return out;
  }

  /** Matching metadata of a tenant, partition by partition (no order). */
  *matching(tenant: string, filter: RecordFilter): IterableIterator<ContextMeta> {
    for (const level of this.levelsOf(filter)) {
      const p = this.partition(tenant, level, false);
      if (!p) continue;
      for (const row of p.matchingRows(filter)) yield row.meta;
    }
  }

  /**
   * Calls `visit` with each row of `tenant` matching `filter` (no order) until it returns false, SCAN_ROWS_PER_TURN
   * rows a turn (fewer when the filter compares tags or where keys; `turn`, a place in the slice queue), waiting its
   * turn before the first slice too unless the whole scan is one slice. The rows are those present when the scan
   * starts and still there when reached, each read as it is then: writes between turns move rows within a partition
   * (swap-remove), and a walk of the live rows would miss or repeat some.
   */
  async scan(tenant: string, filter: RecordFilter, visit: (meta: ContextMeta) => boolean | void, opts: ScanOptions = {}): Promise<void> {
    const turn = opts.turn ?? (() => nextSlice(tenant));
    const parts = this.levelsOf(filter).map((level) => this.partition(tenant, level, false)).filter((p) => p !== undefined);
    // A slice is SCAN_ROWS_PER_TURN rows of plain filters; a row's tags and the filter's where keys (4 at most:
    // matchesFilter stops at the first that differs) count as rows too (a filter of 64 tags against rows of 64 made
    // a slice of 16,384 rows take 120 ms).
    const tagCost = filter.tagsAny?.length || filter.tagsAll?.length ? 1 : 0;
    const rowCost = 1 + Math.min(4, filter.where ? Object.keys(filter.where).length : 0);
    // A scan of one slice runs now, through the live rows: it copies nothing and holds nothing across turns.
    const size = parts.reduce((n, p) => n + p.scanSize(filter), 0);
    if (size * (rowCost + 8 * tagCost) <= SCAN_ROWS_PER_TURN) {
      for (const p of parts) for (const row of p.matchingRows(filter)) if (visit(row.meta) === false) return;
      return;
    }
    if (opts.background) return this.scanCopy(tenant, parts, filter, visit, turn, rowCost, tagCost);
    // One scan of a tenant at a time: each holds its copy of the rows (8 B a row) until its last slice, and a key's
    // requests in flight (hundreds) would each hold one at once. A scan waiting here holds nothing.
    const before = this.scans.get(tenant);
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    const last = before ? before.then(() => mine) : mine;
    this.scans.set(tenant, last);
    try {
      await before;
      await this.scanCopy(tenant, parts, filter, visit, turn, rowCost, tagCost);
    } finally {
      done();
      if (this.scans.get(tenant) === last) this.scans.delete(tenant);
    }
  }

  /** `scan`'s slices over a copy of `parts`' rows, taken now. */
  private async scanCopy(
    tenant: string,
    parts: readonly Partition[],
    filter: RecordFilter,
    visit: (meta: ContextMeta) => boolean | void,
    turn: () => Promise<void>,
    rowCost: number,
    tagCost: number,
  ): Promise<void> {
    const rows = parts.length === 1 ? parts[0]!.rowsToScan(filter) : parts.flatMap((p) => p.rowsToScan(filter));
    for (let i = 0; i < rows.length; ) {
      await turn();
      for (let cost = 0; i < rows.length && cost < SCAN_ROWS_PER_TURN; i++) {
        const copied = rows[i]!;
        cost += rowCost + tagCost * copied.meta.tags.length;
        // Moved since the copy (another level, or a new text: a new key), or deleted: read as it is now, if still the
        // tenant's. Its new row is not in the copy, so it is read once.
        const row = this.byId.get(copied.meta.id)?.key === copied.key ? copied : this.rowOf(copied.meta.id);
        if (!row || row.meta.tenant !== tenant) continue;
        if (matchesFilter(row.meta, filter) && visit(row.meta) === false) return;
      }
    }
  }

  count(tenant: string, filter: RecordFilter): number {
    let n = 0;
    for (const _ of this.matching(tenant, filter)) n++;
    return n;
  }

  textBytes(tenant: string): number {
    return this.tenantUsage.get(tenant)?.textBytes ?? 0;
  }

  /** Records and text bytes of `tenant`, in O(1); a copy. */
  usage(tenant: string): { contexts: number; textBytes: number } {
    const u = this.tenantUsage.get(tenant);
    return { contexts: u?.contexts ?? 0, textBytes: u?.textBytes ?? 0 };
  }

  tenants(): string[] {
    const out = new Set<string>();
    for (const [name, p] of this.partitions) if (p.size > 0) out.add(name.slice(name.indexOf('\u0000') + 1));
    return [...out];
  }

  /** Whether a partition is being searched through its ANN graph (for /health and tests). */
  usesGraph(tenant: string, level: Level): boolean {
    return this.partition(tenant, level, false)?.hasGraph ?? false;
  }

  /** Brute-force search, bypassing the graph: the recall reference. */
  exactSearch(tenant: string, query: Float32Array, filter: RecordFilter, k: number): SearchHit[] {
    const best = new TopK<SearchHit>(k);
    for (const level of this.levelsOf(filter)) {
      for (const hit of this.partition(tenant, level, false)?.exact(query, filter, k) ?? []) best.push(hit.similarity, hit);
    }
    return best.result().map((r) => r.item);
  }
}

