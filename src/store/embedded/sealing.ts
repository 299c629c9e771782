/**
 * The file-wide side of encryption at rest (PRODUCTION.md "Encryption at
 * rest"): which data keys the file's rows are sealed with, whether configured
 * keys are the ones they were sealed with, and rebuilding the file once rows
 * have been re-sealed. Row layout and associated data are in sealed-row.ts.
 *
 * Settings kept in the file:
 *   key_check:<kid>  a constant sealed with that key: proves a key's bytes without sampling rows
 *   sealed_since     set while the file is opened with keys; its absence means rows may be in the clear
 *   all_sealed       a rekey pass ended with every row under the active key: a clear row found later was not written by ctxd
 *   compact_pending  rows were re-sealed (or sealing began) since the file was last rebuilt
 *   compact_error    why the last rebuild failed
 */
import type { DatabaseSync } from 'node:sqlite';
import { DataKeyError } from '../encryption/data-keys.ts';
import { UnsealError, type Sealer } from '../encryption/sealer.ts';
import { openKeyCheck, sealKeyCheck } from './sealed-row.ts';

const get = (db: DatabaseSync, key: string): string | undefined =>
  (db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined)?.value;
const put = (db: DatabaseSync, key: string, value: string): void => void db.prepare('INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)').run(key, value);
const drop = (db: DatabaseSync, key: string): void => void db.prepare('DELETE FROM settings WHERE key = ?').run(key);

function hasSealColumns(db: DatabaseSync): boolean {
  return (db.prepare('PRAGMA table_info(contexts)').all() as Array<{ name: string }>).some((c) => c.name === 'enc_kid');
}

/** Distinct key ids rows are sealed with: a skip-scan of the enc_kid index (one seek per id, not a scan of every row). */
export function keyIdsInUse(db: DatabaseSync): string[] {
  if (!hasSealColumns(db)) return [];
  const rows = db
    .prepare(`WITH RECURSIVE k(v) AS (SELECT min(enc_kid) FROM contexts WHERE enc_kid IS NOT NULL
      UNION ALL SELECT (SELECT min(enc_kid) FROM contexts WHERE enc_kid > v) FROM k WHERE v IS NOT NULL) SELECT v FROM k WHERE v IS NOT NULL`)
    .all() as Array<{ v: string }>;
  return rows.map((r) => r.v);
}

function countUnder(db: DatabaseSync, kid: string): number {
  return Number((db.prepare('SELECT count(*) AS n FROM contexts WHERE enc_kid = ?').get(kid) as { n: number }).n);
}

/**
 * Refuses keys that cannot read this file: sealed rows and no keys, a key id
 * in use that `sealer` lacks, or a configured key whose check value does not
 * open (a wrong key). Reads only, so a refused file is left as it was.
 * `sampleOpens` decides a key in use that has no check value yet (a file
 * sealed before check values existed): it must open one of its rows.
 */
export function checkKeys(db: DatabaseSync, sealer: Sealer | null, sampleOpens: (kid: string) => boolean): void {
  const inUse = keyIdsInUse(db);
  if (inUse.length > 0 && !sealer) {
    const total = inUse.reduce((n, kid) => n + countUnder(db, kid), 0);
    throw new DataKeyError(`the data dir holds ${total} contexts sealed with data key${inUse.length > 1 ? 's' : ''} ${inUse.join(', ')}, and no encryption key is configured (encryption.key_file or encryption.key_env)`);
  }
  if (!sealer) return;
  for (const kid of inUse) {
    if (!sealer.has(kid)) {
      throw new DataKeyError(`${countUnder(db, kid)} stored contexts are sealed with data key ${kid}, which the configured keys do not hold; add it back (ctxd rekey re-seals its rows with the active key, after which it may go)`);
    }
  }
  for (const kid of sealer.keys.keys.keys()) {
    const check = db.prepare('SELECT value FROM settings WHERE key = ?').get(`key_check:${kid}`) as { value: string } | undefined;
    const opens = check ? tryOpen(() => openKeyCheck(sealer, kid, Buffer.from(check.value, 'base64'))) : !inUse.includes(kid) || sampleOpens(kid);
    if (!opens) throw new DataKeyError(`data key ${kid} is not the key this data dir's contexts were sealed with under that id (its check value does not open)`);
  }
}

function tryOpen(open: () => void): boolean {
  try {
    open();
    return true;
  } catch (e) {
    if (e instanceof UnsealError) return false;
    throw e;
  }
}

/**
 * Run by the writer when it takes keys: a check value for each key that has
 * none, so a later start with other bytes under the same id is refused; and
 * the first time the file is opened with keys, a rebuild is scheduled, since
 * pages may hold bytes freed while rows were in the clear.
 */
export function noteKeys(db: DatabaseSync, sealer: Sealer): void {
  db.exec('BEGIN IMMEDIATE');
  try {
    for (const kid of sealer.keys.keys.keys()) {
      if (get(db, `key_check:${kid}`) === undefined) put(db, `key_check:${kid}`, sealKeyCheck(sealer, kid).toString('base64'));
    }
    if (get(db, 'sealed_since') === undefined) {
      put(db, 'sealed_since', String(Date.now()));
      put(db, 'compact_pending', '1');
    }
    db.exec('COMMIT');
  } catch (e) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw e;
  }
}

/** Opened without keys: rows written now are in the clear, so a later sealed open must rebuild the file again. */
export function noteClear(db: DatabaseSync): void {
  if (get(db, 'sealed_since') !== undefined || get(db, 'all_sealed') !== undefined) {
    drop(db, 'sealed_since');
    drop(db, 'all_sealed');
  }
}

/** Whether every row was under the active key at the end of a rekey pass, and has been since: a clear row is then not ctxd's. */
export function allSealed(db: DatabaseSync): boolean {
  return get(db, 'all_sealed') !== undefined;
}

export function markAllSealed(db: DatabaseSync): void {
  put(db, 'all_sealed', '1');
}

export function markCompactPending(db: DatabaseSync): void {
  put(db, 'compact_pending', '1');
}

export interface CompactState {
  /** The file still holds bytes from before a re-seal: the next pass's end rebuilds it. */
  readonly pending: boolean;
  /** Why the last rebuild failed, if it did. */
  readonly error: string | null;
}

export function compactState(db: DatabaseSync): CompactState {
  return { pending: get(db, 'compact_pending') !== undefined, error: get(db, 'compact_error') ?? null };
}

/**
 * Rebuilds the file (VACUUM) when a rebuild is pending, then empties and
 * truncates the WAL; the pending mark goes only when both succeeded, and a
 * failure is recorded, never thrown. secure_delete zeroes what is freed from
 * now on, but bytes a page kept from before (the unused room of a page that
 * split while rows were in the clear) leave the disk only when the file is
 * rebuilt. Outside any transaction; VACUUM's temporary copy goes to the temp
 * directory set at open (the data dir).
 */
export function compact(db: DatabaseSync): void {
  if (get(db, 'compact_pending') === undefined) return;
  try {
    db.exec('VACUUM');
    const { busy } = db.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get() as { busy: number };
    // A reader (a backup being written) kept the WAL: its frames may hold old bytes; the next pass tries again.
    if (busy) throw new Error('the WAL could not be truncated: a reader (a backup?) holds it; run ctxd rekey again once it is done');
    drop(db, 'compact_pending');
    drop(db, 'compact_error');
  } catch (e) {
    put(db, 'compact_error', (e as Error).message);
  }
}
