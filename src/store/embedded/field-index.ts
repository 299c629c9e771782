/**
 * Which rows of one partition hold each session, agent and tag, and (once a
 * `where` has asked for the key, metadata-index.ts) each scalar value of a
 * top-level metadata key: a filter naming one of them reads only its rows.
 * Without it, a retrieve by agent, tags or metadata over an L3 of 100,000
 * contexts, or a store's duplicate check within its session at L2, scanned
 * every row in one turn of the event loop (31–70 ms, delaying every tenant's
 * answers; bench/filters.md).
 *
 * Candidates are a superset: the caller still applies matchesFilter to each.
 */
import type { ContextMeta, RecordFilter } from '../../domain/context.ts';
import { addTo, keysOf, removeFrom, sizeOf, type Holders } from './holders.ts';
import { MetadataIndex, scalarKey, type IndexedRows } from './metadata-index.ts';

/** The rows that may match a filter, each once. */
export interface Candidates {
  /** How many (at most: rows holding several of a tags_any's tags are counted once per tag). */
  readonly size: number;
  readonly keys: Iterable<number>;
}

export class FieldIndex {
  private readonly sessions = new Map<string, Holders>();
  private readonly agents = new Map<string, Holders>();
  private readonly tags = new Map<string, Holders>();
  /** The scalar values of the metadata keys `where` filters ask for. */
  private readonly where: MetadataIndex;

  constructor(rows: IndexedRows) {
    this.where = new MetadataIndex(rows);
  }

  add(key: number, meta: ContextMeta): void {
    addTo(this.sessions, meta.session, key);
    if (meta.agent !== null) addTo(this.agents, meta.agent, key);
    for (const t of meta.tags) addTo(this.tags, t, key);
    this.where.add(key, meta);
  }

  remove(key: number, meta: ContextMeta): void {
    removeFrom(this.sessions, meta.session, key);
    if (meta.agent !== null) removeFrom(this.agents, meta.agent, key);
    for (const t of meta.tags) removeFrom(this.tags, t, key);
    this.where.remove(key, meta);
  }

  /**
   * Settles once the indexes of `filter`'s where keys being made in slices are complete (starting one, as
   * `candidates` would); undefined when none is. A search waits for them (a few turns) rather than reading every
   * row in one turn meanwhile: 20 clients' retrieves on a key just asked for held every answer ~0.7 s at 100,000.
   */
  whereSettled(filter: RecordFilter): Promise<unknown> | undefined {
    const waits: Promise<void>[] = [];
    let mayStart = true;
    for (const name in filter.where ?? {}) {
      const v = scalarKey(filter.where![name]);
      if (v === undefined) continue;
      if (!this.where.knows(name)) {
        this.where.lookup(name, v, mayStart);
        mayStart = false;
      }
      const built = this.where.whenBuilt(name);
      if (built) waits.push(built);
    }
    return waits.length > 0 ? Promise.all(waits) : undefined;
  }

  /** The smallest set of rows that holds every row matching `filter`, or null when no indexed field narrows it. */
  candidates(filter: RecordFilter): Candidates | null {
    let best: Candidates | null = null;
    const consider = (c: Candidates) => {
      if (best === null || c.size < best.size) best = c;
    };
    if (filter.session !== undefined) consider(this.holders(this.sessions, filter.session));
    // Rows without an agent are not indexed: a null agent (no wire filter sends one) narrows nothing.
    if (typeof filter.agent === 'string') consider(this.holders(this.agents, filter.agent));
    for (const t of filter.tagsAll ?? []) consider(this.holders(this.tags, t));
    if (filter.tagsAny && filter.tagsAny.length > 0) consider(this.anyOf(filter.tagsAny));
    let mayStart = true;
    for (const name in filter.where ?? {}) {
      const v = scalarKey(filter.where![name]);
      if (v === undefined) continue;
      const known = this.where.knows(name);
      const found = this.where.lookup(name, v, mayStart);
      if (!known) mayStart = false;
      if (found) consider({ size: sizeOf(found.holders), keys: keysOf(found.holders) });
    }
    return best;
  }

  private holders(map: Map<string, Holders>, value: string): Candidates {
    const h = map.get(value);
    return { size: sizeOf(h), keys: keysOf(h) };
  }

  /** The rows holding any of `tags`; `size` counts a row once per tag it holds, and the union is made only if read. */
  private anyOf(tags: readonly string[]): Candidates {
    const lists = [...new Set(tags)].map((t) => this.tags.get(t)).filter((h) => h !== undefined);
    if (lists.length <= 1) return { size: sizeOf(lists[0]), keys: keysOf(lists[0]) };
    return {
      size: lists.reduce<number>((n, h) => n + sizeOf(h), 0),
      keys: {
        *[Symbol.iterator]() {
          const seen = new Set<number>();
          for (const h of lists) {
            for (const k of keysOf(h)) {
              if (seen.has(k)) continue;
              seen.add(k);
              yield k;
            }
          }
        },
      },
    };
  }
}
