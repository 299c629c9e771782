/**
 * The start-up load: every row into the memory index, from SQLite row by row
 * (loader.ts checks each) or from the index snapshot of the last clean close
 * (index-snapshot.ts). Either way a row failing today's admit check is
 * quarantined, not indexed.
 */
import type { ContextMeta } from '../../domain/context.ts';
import { LoadTerms } from './load-terms.ts';
import { admitRows, type AdmitCheck, type LoadedRow, type Quarantine, type QuarantineEntry } from './loader.ts';
import type { MemoryIndex } from './memory-index.ts';
import type { SnapshotReader } from './index-snapshot.ts';
import type { SqliteFile } from './sqlite-file.ts';

/** Rows per insertMany of a SQLite load (and per batch of texts hashed on the terms thread). */
const LOAD_CHUNK = 1000;

export interface LoadInto {
  readonly index: MemoryIndex;
  readonly quarantine: Quarantine;
  readonly admit?: AdmitCheck | undefined;
  readonly onQuarantine?: ((entry: QuarantineEntry) => void) | undefined;
}

/** Reads every row from SQLite into the index; returns the ids whose term hashes the load computed (to store). */
export function loadRows(file: SqliteFile, dims: number, into: LoadInto): string[] {
  const { index, quarantine, admit, onQuarantine } = into;
  const termsToStore: string[] = [];
  // Rows without stored term hashes have them computed, on another thread while the next chunk is read (load-terms.ts).
  const terms = new LoadTerms();
  try {
    type Chunk = { rows: LoadedRow[]; hashing: LoadedRow[]; ticket: number };
    let waiting: Chunk | null = null;
    const insert = (w: Chunk) => {
      if (w.hashing.length > 0) {
        const hashes = terms.take(w.ticket, w.hashing.map((r) => r.text));
        for (let i = 0; i < w.hashing.length; i++) w.hashing[i]!.terms = hashes[i];
      }
      index.insertMany(w.rows);
      for (const r of w.hashing) if (r.termsToStore) termsToStore.push(r.meta.id);
    };
    const submit = (rows: LoadedRow[]) => {
      const hashing = rows.filter((r) => r.terms === undefined);
      const next = { rows, hashing, ticket: hashing.length > 0 ? terms.submit(hashing.map((r) => r.text)) : -1 };
      if (waiting) insert(waiting);
      waiting = next;
    };
    let chunk: LoadedRow[] = [];
    for (const row of admitRows(file.loadAll(), dims, quarantine, admit, onQuarantine)) {
      chunk.push(row);
      if (chunk.length === LOAD_CHUNK) {
        submit(chunk);
        chunk = [];
      }
    }
    if (chunk.length > 0) submit(chunk);
    if (waiting) insert(waiting);
  } finally {
    terms.close();
  }
  return termsToStore;
}

/** Fills the index from a checked snapshot, chunk by chunk (its vectors are read into one buffer the index copies from). */
export function loadSnapshot(reader: SnapshotReader, into: LoadInto): void {
  const { index, quarantine, admit, onQuarantine } = into;
  const dims = reader.dims;
  try {
    quarantine.restore(reader.quarantine);
    for (const chunk of reader.chunks) {
      const vectors = reader.vectorsOf(chunk);
      const rows: Array<{ meta: ContextMeta; textBytes: number; terms: Uint32Array; text: string; vector: Float32Array }> = [];
      chunk.rows.forEach(({ meta, textBytes, terms }, i) => {
        // The snapshot's rows passed the rules of the build that wrote it; the store cannot tell whether its own are the same.
        try {
          const reason = admit?.(meta);
          if (reason) throw new Error(reason);
        } catch (e) {
          quarantine.leaveOut(meta.id, meta.tenant, e, onQuarantine);
          return;
        }
        rows.push({ meta, textBytes, terms, text: '', vector: vectors.subarray(i * dims, (i + 1) * dims) });
      });
      index.insertMany(rows);
    }
  } finally {
    reader.close();
  }
}
