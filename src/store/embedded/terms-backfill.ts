/**
 * After a start-up load: stores the term hashes computed for rows in the clear that had none (written before schema 4,
 * or dropped as stale; sqlite-file.ts), so the next start reads them instead of hashing every text again. It runs in
 * the background, one write of BACKFILL_CHUNK rows at a time through the group committer, so neither the event loop
 * nor the writer is held for long. A row that changed in the meantime is skipped (by its version): the write that
 * changed it stored its terms.
 */
import type { WriteOp } from './write-ops.ts';
import { ownTerms } from './write-ops.ts';

export const BACKFILL_CHUNK = 500;

export interface TermsStored {
  /** Rows that took their terms. */
  readonly rows: number;
  readonly ms: number;
  /** Why it stopped early (the store closed, writes failing): the rest are hashed again at the next start. */
  readonly error?: string;
}

type Current = (id: string) => { readonly version: number; readonly terms: Uint32Array } | undefined;
type Write = (op: WriteOp) => Promise<number>;

export async function storeLoadedTerms(ids: readonly string[], current: Current, write: Write): Promise<TermsStored> {
  const started = performance.now();
  let rows = 0;
  try {
    for (let at = 0; at < ids.length; at += BACKFILL_CHUNK) {
      const items: Array<{ id: string; version: number; terms: Uint32Array }> = [];
      for (const id of ids.slice(at, at + BACKFILL_CHUNK)) {
        const row = current(id);
        if (row) items.push({ id, version: row.version, terms: ownTerms(row.terms) });
      }
      if (items.length > 0) rows += await write({ kind: 'terms', items });
    }
  } catch (e) {
    return { rows, ms: Math.round(performance.now() - started), error: (e as Error).message };
  }
  return { rows, ms: Math.round(performance.now() - started) };
}
