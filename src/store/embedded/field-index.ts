/**
 * Which rows of one partition hold each session, agent and tag, and (once a
 * `where` has asked for the key) each scalar value of a top-level metadata
 * key: a filter naming one of them reads only its rows. Without it, a retrieve
 * by session over an L3 of 100,000 contexts scanned every row in one turn of
 * the event loop (31–88 ms, delaying every tenant's answers).
 *
 * Candidates are a superset: the caller still applies matchesFilter to each.
 */
import type { ContextMeta, RecordFilter } from '../../domain/context.ts';

/**
 * The keys holding one value: a key alone while there is one (most sessions of an L3 hold few rows), a short list
 * up to LIST_MAX (a Set of ten costs ~350 B, the list ~180), then a set.
 */
type Holders = number | number[] | Set<number>;
const LIST_MAX = 32;

/** Metadata keys a partition indexes on first use by a `where`: each costs a set entry a row holding it. */
export const MAX_WHERE_KEYS = 8;

/** The rows that may match a filter, each once. */
export interface Candidates {
  /** How many (at most: rows holding several of a tags_any's tags are counted once per tag). */
  readonly size: number;
  readonly keys: Iterable<number>;
}

const sizeOf = (h: Holders | undefined): number => (h === undefined ? 0 : typeof h === 'number' ? 1 : Array.isArray(h) ? h.length : h.size);
const keysOf = (h: Holders | undefined): Iterable<number> => (h === undefined ? [] : typeof h === 'number' ? [h] : h);

function addTo(map: Map<string, Holders>, value: string, key: number): void {
  const h = map.get(value);
  if (h === undefined) map.set(value, key);
  else if (typeof h === 'number') {
    if (h !== key) map.set(value, [h, key]);
  } else if (!Array.isArray(h)) h.add(key);
  else if (!h.includes(key)) {
    if (h.length < LIST_MAX) h.push(key);
    else map.set(value, new Set([...h, key]));
  }
}

function removeFrom(map: Map<string, Holders>, value: string, key: number): void {
  const h = map.get(value);
  if (h === undefined) return;
  if (typeof h === 'number') {
    if (h === key) map.delete(value);
  } else if (Array.isArray(h)) {
    const at = h.indexOf(key);
    if (at < 0) return;
    h[at] = h[h.length - 1]!;
    h.pop();
    if (h.length === 1) map.set(value, h[0]!);
  } else {
    h.delete(key);
    if (h.size === 1) map.set(value, h.values().next().value!);
  }
}

/**
 * A metadata value as an index key, or undefined for one not indexed (a map or an array): typed, so the string "1"
 * and the number 1 differ, as they do for matchesFilter. -0 and 0 share one ("0"), as they are equal there.
 */
function scalarKey(v: unknown): string | undefined {
  switch (typeof v) {
    case 'string':
      return `s${v}`;
    case 'number':
      return `n${v}`;
    case 'boolean':
      return v ? 'T' : 'F';
    default:
      return v === null ? 'z' : undefined;
  }
}

export class FieldIndex {
  private readonly sessions = new Map<string, Holders>();
  private readonly agents = new Map<string, Holders>();
  private readonly tags = new Map<string, Holders>();
  /** Metadata key → scalar value → rows, for the keys a `where` asked for. */
  private readonly where = new Map<string, Map<string, Holders>>();

  add(key: number, meta: ContextMeta): void {
    addTo(this.sessions, meta.session, key);
    if (meta.agent !== null) addTo(this.agents, meta.agent, key);
    for (const t of meta.tags) addTo(this.tags, t, key);
    for (const [name, values] of this.where) {
      const v = Object.hasOwn(meta.metadata, name) ? scalarKey(meta.metadata[name]) : undefined;
      if (v !== undefined) addTo(values, v, key);
    }
  }

  remove(key: number, meta: ContextMeta): void {
    removeFrom(this.sessions, meta.session, key);
    if (meta.agent !== null) removeFrom(this.agents, meta.agent, key);
    for (const t of meta.tags) removeFrom(this.tags, t, key);
    for (const [name, values] of this.where) {
      const v = Object.hasOwn(meta.metadata, name) ? scalarKey(meta.metadata[name]) : undefined;
      if (v !== undefined) removeFrom(values, v, key);
    }
  }

  /**
   * The smallest set of rows that holds every row matching `filter`, or null when no indexed field narrows it.
   * `rows` lists the partition's rows, to index a `where` key on its first use.
   */
  candidates(filter: RecordFilter, rows: () => Iterable<{ key: number; meta: ContextMeta }>): Candidates | null {
    let best: Candidates | null = null;
    const consider = (c: Candidates) => {
      if (best === null || c.size < best.size) best = c;
    };
    if (filter.session !== undefined) consider(this.holders(this.sessions, filter.session));
    // Rows without an agent are not indexed: a null agent (no wire filter sends one) narrows nothing.
    if (typeof filter.agent === 'string') consider(this.holders(this.agents, filter.agent));
    for (const t of filter.tagsAll ?? []) consider(this.holders(this.tags, t));
    if (filter.tagsAny && filter.tagsAny.length > 0) consider(this.anyOf(filter.tagsAny));
    for (const name in filter.where ?? {}) {
      const v = scalarKey(filter.where![name]);
      const values = v === undefined ? undefined : this.whereKey(name, rows);
      if (values) consider(this.holders(values, v!));
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

  /** The index of a metadata key, made on its first use from every row; undefined once MAX_WHERE_KEYS are made. */
  private whereKey(name: string, rows: () => Iterable<{ key: number; meta: ContextMeta }>): Map<string, Holders> | undefined {
    let values = this.where.get(name);
    if (values || this.where.size >= MAX_WHERE_KEYS) return values;
    this.where.set(name, (values = new Map()));
    for (const { key, meta } of rows()) {
      const v = Object.hasOwn(meta.metadata, name) ? scalarKey(meta.metadata[name]) : undefined;
      if (v !== undefined) addTo(values, v, key);
    }
    return values;
  }
}
