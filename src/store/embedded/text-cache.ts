/**
 * Texts of recently stored or read contexts, bounded in bytes (lru-cache), so
 * a retrieve's winners are not each read back from SQLite.
 *
 * Why: reading ~60 texts by id was a quarter of a retrieve's main-thread time
 * at 100,000 contexts (two B-tree descents each, on pages the 2 MB page cache
 * rarely holds: a row's page is mostly its vector). A text here is the row's
 * own, not a copy of its page.
 *
 * Each entry is tagged with its tenant and the row's version: a look-up
 * returns it only for that tenant and only while the index holds that
 * version, so a text changed by a path that did not refresh it here is read
 * again, never served stale. Not used with encryption at rest: texts of
 * sealed rows are opened per read and not kept.
 */
import { LRUCache } from 'lru-cache';

interface Entry {
  readonly tenant: string;
  readonly version: number;
  readonly text: string;
}

/** Bytes an entry is charged: UTF-16 at worst, plus the entry and its key. */
const entryBytes = (e: Entry, id: string): number => 2 * (e.text.length + id.length) + 96;

export interface TextCacheStats {
  hits: number;
  misses: number;
}

export class TextCache {
  private readonly cache: LRUCache<string, Entry> | null;
  readonly stats: TextCacheStats = { hits: 0, misses: 0 };

  /** `maxBytes` 0: nothing is kept. */
  constructor(maxBytes: number) {
    this.cache = maxBytes > 0 ? new LRUCache<string, Entry>({ maxSize: maxBytes, sizeCalculation: entryBytes }) : null;
  }

  get bytes(): number {
    return this.cache?.calculatedSize ?? 0;
  }

  get entries(): number {
    return this.cache?.size ?? 0;
  }

  /** The text of `id` at `version`, when kept for this tenant. */
  get(tenant: string, id: string, version: number): string | undefined {
    if (!this.cache) return undefined;
    const e = this.cache.get(id);
    if (e && e.tenant === tenant && e.version === version) {
      this.stats.hits++;
      return e.text;
    }
    this.stats.misses++;
    return undefined;
  }

  set(tenant: string, id: string, version: number, text: string): void {
    this.cache?.set(id, { tenant, version, text });
  }

  /** A change that kept the text (tags, expiry, level, a refresh): the kept text belongs to the new version too. */
  carry(tenant: string, id: string, from: number, to: number): void {
    const e = this.cache?.peek(id);
    if (e && e.tenant === tenant && e.version === from) this.cache!.set(id, { tenant, version: to, text: e.text });
  }

  delete(id: string): void {
    this.cache?.delete(id);
  }
}
