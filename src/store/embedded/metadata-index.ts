/**
 * Which rows of a partition hold each scalar value of the metadata keys `where` filters ask for (field-index.ts):
 * at most MAX_WHERE_KEYS keys, the least recently asked-for complete one dropped for a new one. A key's index is
 * made from every row on its first use, at once for a partition of up to BUILD_ROWS_PER_SLICE rows and otherwise a
 * slice a turn (the slice queue, in its tenant's rotation), one key at a time, serving nothing until complete;
 * writes meanwhile keep it up to date. Made at once, 8 keys of a 100,000-row partition held the event loop ~65 ms
 * each; made in slices for every key asked for, a filter of 32 keys left 31 copies of the rows behind it each time.
 */
import type { ContextMeta } from '../../domain/context.ts';
import { addTo, removeFrom, type Holders } from './holders.ts';
import { nextSlice } from './slice-queue.ts';

/** Metadata keys a partition indexes: each costs an entry a row holding a scalar value of it (~65 B with distinct values). */
export const MAX_WHERE_KEYS = 8;
export const BUILD_ROWS_PER_SLICE = 16_384;

interface Row {
  readonly key: number;
  readonly meta: ContextMeta;
}

/** The partition whose rows are indexed. */
export interface IndexedRows {
  /** The tenant, whose turns in the slice queue a build takes. */
  readonly tenant: string;
  /** Every row now (the build copies the list). */
  rows(): readonly Row[];
  /** Whether `row` is still in the partition (a build reaches rows its copy listed, some removed since). */
  isLive(row: Row): boolean;
}

interface KeyIndex {
  readonly values: Map<string, Holders>;
  ready: boolean;
  /** Settles when an index made in slices is complete (or dropped). */
  built?: Promise<void>;
}

/**
 * A metadata value as an index key, or undefined for one not indexed (a map or an array): typed, so the string "1"
 * and the number 1 differ, as they do for matchesFilter. -0 and 0 share one ("0"), as they are equal there.
 */
export function scalarKey(v: unknown): string | undefined {
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

const valueOf = (meta: ContextMeta, name: string) => (Object.hasOwn(meta.metadata, name) ? scalarKey(meta.metadata[name]) : undefined);

export class MetadataIndex {
  /** By key, least recently asked-for first. */
  private readonly keys = new Map<string, KeyIndex>();
  /** A key's index is being made in slices. */
  private building = false;

  private readonly source: IndexedRows;

  constructor(source: IndexedRows) {
    this.source = source;
  }

  add(key: number, meta: ContextMeta): void {
    for (const [name, index] of this.keys) {
      const v = valueOf(meta, name);
      if (v !== undefined) addTo(index.values, v, key);
    }
  }

  remove(key: number, meta: ContextMeta): void {
    for (const [name, index] of this.keys) {
      const v = valueOf(meta, name);
      if (v !== undefined) removeFrom(index.values, v, key);
    }
  }

  /** Whether `name` has an index, complete or being made. */
  knows(name: string): boolean {
    return this.keys.has(name);
  }

  /** Settles once the index of `name` being made in slices is complete; undefined when none is being made. */
  whenBuilt(name: string): Promise<void> | undefined {
    const index = this.keys.get(name);
    return index && !index.ready ? index.built : undefined;
  }

  /**
   * The rows holding `value` (a scalarKey) of metadata key `name` (`holders` undefined: none), or null while the
   * key has no complete index; its first use starts making one when `mayStart` (one key a filter: a filter of many
   * keys would otherwise drop and make them all, every time) and no other is being made in slices.
   */
  lookup(name: string, value: string, mayStart: boolean): { holders: Holders | undefined } | null {
    let index = this.keys.get(name);
    if (index) {
      this.keys.delete(name);
      this.keys.set(name, index);
    } else if (mayStart) index = this.start(name);
    return index?.ready ? { holders: index.values.get(value) } : null;
  }

  private start(name: string): KeyIndex | undefined {
    const rows = this.source.rows();
    const sliced = rows.length > BUILD_ROWS_PER_SLICE;
    // One index made in slices at a time: each holds a copy of the rows until its last slice.
    if (sliced && this.building) return undefined;
    if (this.keys.size >= MAX_WHERE_KEYS) {
      const complete = [...this.keys].find(([, k]) => k.ready);
      if (!complete) return undefined;
      this.keys.delete(complete[0]);
    }
    const index: KeyIndex = { values: new Map(), ready: false };
    this.keys.set(name, index);
    if (!sliced) {
      this.fill(index, name, rows, 0, rows.length);
      index.ready = true;
      return index;
    }
    this.building = true;
    index.built = this.build(index, name, rows.slice())
      .catch(() => {
        // Nothing here throws today; if it did, the key would wait for ever, and the daemon must not end for it.
        if (this.keys.get(name) === index) this.keys.delete(name);
      })
      .finally(() => (this.building = false));
    return index;
  }

  private async build(index: KeyIndex, name: string, rows: readonly Row[]): Promise<void> {
    for (let at = 0; at < rows.length; at += BUILD_ROWS_PER_SLICE) {
      await nextSlice(this.source.tenant);
      // Dropped meanwhile for another key: its rows are no longer kept up to date, nor made.
      if (this.keys.get(name) !== index) return;
      this.fill(index, name, rows, at, Math.min(rows.length, at + BUILD_ROWS_PER_SLICE));
    }
    index.ready = true;
  }

  /** Adds rows from..to of `rows` still in the partition, by their metadata now (an update since has replaced it). */
  private fill(index: KeyIndex, name: string, rows: readonly Row[], from: number, to: number): void {
    for (let i = from; i < to; i++) {
      const row = rows[i]!;
      if (!this.source.isLive(row)) continue;
      const v = valueOf(row.meta, name);
      if (v !== undefined) addTo(index.values, v, row.key);
    }
  }
}
