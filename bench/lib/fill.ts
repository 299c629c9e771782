/**
 * Fills a stopped daemon's data dir directly: rows written into its SQLite
 * file as the daemon's own store op would write them (same id scheme, exact
 * token count of the configured tokenizer, hash-embedder vector, level 3,
 * session "default"), in transactions of 10,000, with no protocol, no dedup
 * search and no in-memory index. Section 3 uses it so that 1,000,000 contexts
 * load in minutes, not hours; the rate through the protocol is measured
 * separately, at each size, by a store_batch probe on the running daemon.
 */
import { join } from 'node:path';
import { defaultConfig } from '../../src/config/load.ts';
import type { ContextRecord } from '../../src/domain/context.ts';
import { newContextId } from '../../src/engine/ids.ts';
import { hashEmbed, hashSpace } from '../../src/engine/text/hash-embedder.ts';
import { loadTokenCounter } from '../../src/engine/text/tokenizer.ts';
import { DataDirLock } from '../../src/store/embedded/data-dir-lock.ts';
import { SqliteFile } from '../../src/store/embedded/sqlite-file.ts';

const TX_ROWS = 10_000;

export interface FillResult {
  readonly rows: number;
  readonly seconds: number;
  /** UTF-8 bytes of the texts written. */
  readonly textBytes: number;
}

/**
 * Writes contexts `from` … `to − 1` (text of each from `textOf`) into the L3 of tenant "default" in `dataDir`, with
 * hash vectors of `dims` (the daemon must run `embedder.hash.dims` of the same).
 */
export async function fillDataDir(
  dataDir: string,
  from: number,
  to: number,
  textOf: (i: number) => string,
  onProgress?: (done: number) => void,
  dims = defaultConfig().embedder.hash.dims,
): Promise<FillResult> {
  const c = defaultConfig();
  const count = await loadTokenCounter(c.embedder.tokenizer);
  // Refuses (DataDirInUseError) while a daemon holds the dir.
  const lock = DataDirLock.acquire(dataDir);
  const file = new SqliteFile(join(dataDir, 'ctxd.sqlite'), 'relaxed', hashSpace(dims));
  const t0 = performance.now();
  let textBytes = 0;
  try {
    for (let start = from; start < to; start += TX_ROWS) {
      const end = Math.min(to, start + TX_ROWS);
      file.db.exec('BEGIN IMMEDIATE');
      try {
        for (let i = start; i < end; i++) {
          const text = textOf(i);
          const now = Date.now();
          textBytes += Buffer.byteLength(text);
          const record: ContextRecord = {
            id: newContextId(now),
            tenant: 'default',
            level: 3,
            session: 'default',
            agent: null,
            text,
            tags: [],
            metadata: {},
            tokens: count(text),
            createdTs: now,
            ts: now,
            expiresAt: null,
            accessCount: 0,
            version: 1,
            vector: hashEmbed(text, dims),
          };
          file.insert(record);
        }
        file.db.exec('COMMIT');
      } catch (e) {
        file.db.exec('ROLLBACK');
        throw e;
      }
      onProgress?.(end);
    }
    // The daemon's restart then reads the main file, not a WAL of gigabytes.
    file.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  } finally {
    file.close();
    lock.release();
  }
  return { rows: to - from, seconds: (performance.now() - t0) / 1000, textBytes };
}
