/**
 * Every record's metadata and vector in memory, partitioned by (tenant,
 * level), with an id map. Texts stay in SQLite: only the few records a search
 * returns are read from disk.
 */
import type { ContextMeta, Level, RecordFilter, SearchHit } from '../../domain/context.ts';
import { LEVELS } from '../../domain/context.ts';
import { matchesFilter } from '../../domain/filter.ts';
import { TopK } from './top-k.ts';
import { Partition, type AnnOptions, type Row } from './partition.ts';

interface Located {
  readonly partition: Partition;
  readonly key: number;
}

export class MemoryIndex {
  private readonly dims: number;
  private readonly ann: AnnOptions;
  private readonly partitions = new Map<string, Partition>();
  private readonly byId = new Map<string, Located>();
  private readonly tenantTextBytes = new Map<string, number>();
  private nextKey = 1;

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
    if (!p && create) this.partitions.set(name, (p = new Partition(this.dims, this.ann)));
    return p;
  }

  private row(id: string): (Located & { row: Row }) | undefined {
    const at = this.byId.get(id);
    if (!at) return undefined;
    const row = at.partition.rowByKey(at.key);
    return row ? { ...at, row } : undefined;
  }

  meta(tenant: string, id: string): ContextMeta | undefined {
    const r = this.row(id);
    return r && r.row.meta.tenant === tenant ? r.row.meta : undefined;
  }

  vector(tenant: string, id: string): Float32Array | undefined {
    const r = this.row(id);
    return r && r.row.meta.tenant === tenant ? r.partition.vectorOf(r.key) : undefined;
  }

  /** Inserts or replaces; `vector` and `textBytes` may be omitted when they did not change. */
  put(meta: ContextMeta, vector?: Float32Array, textBytes?: number): void {
    const existing = this.row(meta.id);
    if (existing && existing.row.meta.level === meta.level && existing.row.meta.tenant === meta.tenant) {
      if (textBytes !== undefined) {
        this.addBytes(meta.tenant, textBytes - existing.row.textBytes);
        existing.row.textBytes = textBytes;
      }
      existing.row.meta = meta;
      if (vector) existing.partition.setVector(existing.key, vector);
      return;
    }
    let v = vector;
    let bytes = textBytes;
    if (existing) {
      v ??= existing.partition.vectorOf(existing.key);
      bytes ??= existing.row.textBytes;
      this.remove(meta.id);
    }
    if (bytes === undefined) throw new Error(`text size required to insert ${meta.id}`);
    const textSize = bytes;
    if (!v) throw new Error(`vector required to insert ${meta.id}`);
    const key = this.nextKey++;
    const partition = this.partition(meta.tenant, meta.level, true)!;
    partition.add({ meta, key, textBytes: textSize }, v);
    this.byId.set(meta.id, { partition, key });
    this.addBytes(meta.tenant, textSize);
  }

  /** Inserts many new records (ids not yet present), a partition at a time. */
  insertMany(items: ReadonlyArray<{ meta: ContextMeta; vector: Float32Array; textBytes: number }>): void {
    const byPartition = new Map<Partition, { rows: Row[]; vectors: Float32Array[] }>();
    for (const { meta, vector, textBytes } of items) {
      if (this.byId.has(meta.id)) {
        this.put(meta, vector, textBytes);
        continue;
      }
      const partition = this.partition(meta.tenant, meta.level, true)!;
      let group = byPartition.get(partition);
      if (!group) byPartition.set(partition, (group = { rows: [], vectors: [] }));
      const key = this.nextKey++;
      group.rows.push({ meta, key, textBytes });
      group.vectors.push(vector);
      this.byId.set(meta.id, { partition, key });
      this.addBytes(meta.tenant, textBytes);
    }
    for (const [partition, { rows, vectors }] of byPartition) partition.addMany(rows, vectors);
  }

  remove(id: string): ContextMeta | undefined {
    const at = this.byId.get(id);
    if (!at) return undefined;
    const row = at.partition.remove(at.key);
    this.byId.delete(id);
    if (row) this.addBytes(row.meta.tenant, -row.textBytes);
    return row?.meta;
  }

  private addBytes(tenant: string, delta: number): void {
    const next = (this.tenantTextBytes.get(tenant) ?? 0) + delta;
    if (next === 0) this.tenantTextBytes.delete(tenant);
    else this.tenantTextBytes.set(tenant, next);
  }

  private levelsOf(filter: RecordFilter): readonly Level[] {
    return filter.levels ?? LEVELS;
  }

  search(tenant: string, query: Float32Array, filter: RecordFilter, k: number): SearchHit[] {
    const parts = this.levelsOf(filter).map((l) => this.partition(tenant, l, false)).filter((p): p is Partition => p !== undefined);
    if (parts.length === 1) return parts[0]!.search(query, filter, k);
    const best = new TopK<SearchHit>(k);
    for (const p of parts) for (const hit of p.search(query, filter, k)) best.push(hit.similarity, hit);
    return best.result().map((r) => r.item);
  }

  searchMany(tenant: string, queries: readonly Float32Array[], filter: RecordFilter, k: number): SearchHit[][] {
    const levels = this.levelsOf(filter);
    if (levels.length !== 1) return queries.map((q) => this.search(tenant, q, filter, k));
    const p = this.partition(tenant, levels[0]!, false);
    return p ? p.searchMany(queries, filter, k) : queries.map(() => []);
  }

  /** Matching metadata of a tenant, partition by partition (no order). */
  *matching(tenant: string, filter: RecordFilter): IterableIterator<ContextMeta> {
    for (const level of this.levelsOf(filter)) {
      const p = this.partition(tenant, level, false);
      if (!p) continue;
      for (const row of p.allRows()) if (matchesFilter(row.meta, filter)) yield row.meta;
    }
  }

  count(tenant: string, filter: RecordFilter): number {
    let n = 0;
    for (const _ of this.matching(tenant, filter)) n++;
    return n;
  }

  textBytes(tenant: string): number {
    return this.tenantTextBytes.get(tenant) ?? 0;
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
