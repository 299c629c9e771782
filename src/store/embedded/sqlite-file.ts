/**
 * The embedded system of record: one SQLite database (node:sqlite) in WAL mode.
 * Durability "strict" is synchronous=FULL (each committed group is fsynced);
 * "relaxed" is synchronous=NORMAL (survives a process crash, not power loss).
 */
import { endianness } from 'node:os';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { ContextRecord, RecordPatch } from '../../domain/context.ts';
import { sameSpace, VectorSpaceMismatchError, type VectorSpace } from '../../domain/vector-space.ts';
import { LEXICAL_TERMS_VERSION } from '../../domain/lexical.ts';
import { UnsealError, type Sealer } from '../encryption/sealer.ts';
import type { RequestEntry } from '../request-journal.ts';
import { ensureDataDir, ensurePrivateDb } from './data-files.ts';
import { hashTerms } from './load-terms.ts';
import type { RowContent } from './sealed-row.ts';
import { allSealed, noteClear, noteKeys } from './sealing.ts';
import { CONTENT_COLUMNS, checkFileKeys, RowSealing, type ContentColumns } from './row-sealing.ts';

export type Durability = 'strict' | 'relaxed';

export interface SqliteFileOptions {
  /** Open even when stored vectors are of another space (`ctxd reindex`); otherwise VectorSpaceMismatchError. */
  readonly allowForeignSpaces?: boolean;
  /** Most bytes the database file may hold (0: unlimited); past it writes fail with SQLITE_FULL, as on a full disk. */
  readonly maxDbBytes?: number;
  /**
   * Encryption at rest: rows are written sealed with its active key and read
   * with any of its keys. Without one, a file holding sealed rows is refused
   * (DataKeyError), as is one whose sealed rows its keys do not open.
   */
  readonly sealer?: Sealer | null;
}

/**
 * 2: vectors carry their vector space (`space`, PROTOCOL.md §5.1). Version 1 files are migrated: their vectors were all feature hashing.
 * 3: rows may be sealed (`enc_kid`, `sealed`; sealed-row.ts). Older files are migrated: their rows are all in the clear.
 * 4: rows in the clear carry their text's lexical term hashes (`terms`), so a start-up load need not read and hash
 *    every text; older rows have none (NULL) until the store fills them in after a load. An index on `space` makes the
 *    start-up check for vectors of another embedder two look-ups instead of a scan of the whole table.
 */
const SCHEMA_VERSION = '4';
const LEGACY_SPACE_MODEL = 'feature-hash-v1';
/** Settings key of the index snapshot's token (index-snapshot.ts). */
const SNAPSHOT_TOKEN = 'snapshot_token';

/** The integer columns a load reads, and the expression each is read from. */
const INT_COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['level', 'level'],
  ['tokens', 'tokens'],
  ['created_ts', 'created_ts'],
  ['ts', 'ts'],
  ['expires_at', 'expires_at'],
  ['access_count', 'access_count + coalesce(a.n, 0)'],
  ['version', 'version'],
];
/** Whether a value reads without throwing: an integer only within ±(2^53 − 1) (any other type reads as it is). */
const safeInt = (expr: string) => `(typeof(${expr}) != 'integer' OR ${expr} BETWEEN -${Number.MAX_SAFE_INTEGER} AND ${Number.MAX_SAFE_INTEGER})`;

/** A row as stored; `loader.ts` checks and parses it (rows written by older versions may not pass). */
export interface StoredRow {
  id: string;
  tenant: string;
  level: number;
  session: string;
  agent: string | null;
  /** Null when `terms` are stored: the load then reads no text (text_bytes gives its size). */
  text: string | null;
  /** termHashes(text) as uint32s in this machine's byte order (see dropStaleTerms); null for sealed rows and rows written before schema 4. */
  terms: Uint8Array | null;
  /** Bytes of `text` as stored (UTF-8); for a sealed row, of its blank placeholder. */
  text_bytes: number;
  tags: string;
  metadata: string;
  tokens: number;
  created_ts: number;
  ts: number;
  expires_at: number | null;
  access_count: number;
  version: number;
  vector: Uint8Array;
  /** Set when the row's sealed content did not open: the loader quarantines it with this reason. */
  damage?: string;
  /** The row's content was sealed (its text was opened here): no term hashes are stored for it. */
  fromSealed?: boolean;
}


/** What a row in the clear stores as its term hashes: those computed already (off the event loop), or computed here. */
function termsBlob(text: string, terms: Uint32Array | undefined): Uint8Array {
  const t = terms ?? hashTerms(text);
  return new Uint8Array(t.buffer, t.byteOffset, t.byteLength);
}

export function vectorToBlob(v: Float32Array): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** Copies: a blob's offset need not be 4-byte aligned. */
export function blobToVector(blob: Uint8Array): Float32Array {
  return new Float32Array(blob.slice().buffer);
}

export class SqliteFile {
  readonly db: DatabaseSync;
  private readonly upsertStmt: StatementSync;
  private readonly updateMetaStmt: StatementSync;
  private readonly deleteStmt: StatementSync;
  private readonly deleteAccessStmt: StatementSync;
  private readonly accessStmt: StatementSync;
  private readonly getStmt: StatementSync;
  private readonly getManyStmt: StatementSync;
  /** Prepared on first use: only exports, migrations and level moves read stored vectors. */
  private vectorsStmt: StatementSync | null = null;
  private readonly idsAfterStmt: StatementSync;
  private readonly requestStmt: StatementSync;
  private readonly pruneRequestsStmt: StatementSync;
  private readonly importStmt: StatementSync;
  /** Encryption at rest, row by row (row-sealing.ts); rekey's steps are called on it. */
  readonly sealing: RowSealing;

  /** Id of the configured embedder's vector space: every vector written gets it. */
  readonly spaceId: number;
  /**
   * The index snapshot token the last close left (index-snapshot.ts), or null. Every open takes it out of the file,
   * and every change to a row deletes it (triggers), so only a snapshot of the rows as they are can match it.
   */
  readonly snapshotToken: string | null;

  constructor(path: string, durability: Durability, space: VectorSpace, opts: SqliteFileOptions = {}) {
    ensureDataDir(dirname(path));
    ensurePrivateDb(path);
    this.db = new DatabaseSync(path);
    this.db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${durability === 'strict' ? 'FULL' : 'NORMAL'}; PRAGMA busy_timeout = 5000;`);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS contexts (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        level INTEGER NOT NULL,
        session TEXT NOT NULL,
        agent TEXT,
        text TEXT NOT NULL,
        tags TEXT NOT NULL,
        metadata TEXT NOT NULL,
        tokens INTEGER NOT NULL,
        created_ts INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        expires_at INTEGER,
        access_count INTEGER NOT NULL,
        version INTEGER NOT NULL,
        vector BLOB NOT NULL,
        space INTEGER NOT NULL,
        enc_kid TEXT,
        sealed BLOB,
        terms BLOB
      );
      CREATE TABLE IF NOT EXISTS vector_spaces (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, model TEXT NOT NULL, dims INTEGER NOT NULL, UNIQUE (kind, model, dims));
      CREATE INDEX IF NOT EXISTS contexts_tenant_id ON contexts (tenant, id);
      -- Access counts change on every retrieve: a narrow table, so counting does not rewrite rows with vectors.
      CREATE TABLE IF NOT EXISTS access_counts (id TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
      -- Request ids per key, for replay protection across restarts (request-journal.ts).
      CREATE TABLE IF NOT EXISTS request_ids (kid TEXT NOT NULL, id TEXT NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY (kid, id)) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS request_ids_ts ON request_ids (ts);
    `);
    // Whoever changes a row (this daemon, an older build, the sqlite3 shell while ctxd is stopped) takes the index
    // snapshot's token with it, so the snapshot of the last close is never read over rows it does not hold.
    for (const table of ['contexts', 'access_counts']) {
      for (const event of ['INSERT', 'UPDATE', 'DELETE']) {
        this.db.exec(`CREATE TRIGGER IF NOT EXISTS ${table}_${event.toLowerCase()}_stales_snapshot AFTER ${event} ON ${table}
          BEGIN DELETE FROM settings WHERE key = '${SNAPSHOT_TOKEN}'; END`);
      }
    }
    // Refused before anything is written, so a file left as it was still opens with the embedder it was made with.
    if (!opts.allowForeignSpaces && this.mayHoldForeignSpaces(space)) {
      const foreign = this.storedSpaces().filter((s) => !sameSpace(s.space, space));
      if (foreign.length > 0) {
        this.db.close();
        throw new VectorSpaceMismatchError(space, foreign);
      }
    }
    const sealer = opts.sealer ?? null;
    try {
      checkFileKeys(this.db, sealer);
    } catch (e) {
      this.db.close();
      throw e;
    }
    if (sealer) {
      // Freed pages and cells are zeroed, so text re-sealed by `rekey` or deleted does not linger in the file.
      this.db.exec('PRAGMA secure_delete = ON');
      // VACUUM's copy (the size of the database) goes to the data volume, not a small /tmp. Process-wide; set before the writer starts.
      this.db.exec(`PRAGMA temp_store_directory = '${dirname(path).replaceAll("'", "''")}'`);
    }
    this.migrate();
    this.dropStaleTerms();
    if (sealer) noteKeys(this.db, sealer);
    else noteClear(this.db);
    this.spaceId = this.ensureSpace(space);
    this.sealing = new RowSealing(this.db, sealer, this.spaceId, (tenant, id) => this.delete(tenant, id));
    // Taken by every open, before it serves or writes a row: once this connection or the writer's changes one, the
    // snapshot of the last close is stale. The migrations above that rewrite rows took it already (the triggers).
    this.snapshotToken = this.takeSetting(SNAPSHOT_TOKEN);
    // Set after the schema, so a database already at its limit still opens (and serves reads and deletes).
    if (opts.maxDbBytes && opts.maxDbBytes > 0) {
      const { page_size } = this.db.prepare('PRAGMA page_size').get() as { page_size: number };
      this.db.exec(`PRAGMA max_page_count = ${Math.max(1, Math.ceil(opts.maxDbBytes / page_size))}`);
    }
    this.upsertStmt = this.db.prepare(`INSERT OR REPLACE INTO contexts
      (id, tenant, level, session, agent, text, tags, metadata, tokens, created_ts, ts, expires_at, access_count, version, vector, space, enc_kid, sealed, terms)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    // Only the fields a patch names change, so patches and access counts committed in one group compose.
    this.updateMetaStmt = this.db.prepare(`UPDATE contexts SET level = coalesce(?, level), session = coalesce(?, session),
      tags = coalesce(?, tags), metadata = coalesce(?, metadata), tokens = coalesce(?, tokens), ts = coalesce(?, ts),
      expires_at = CASE WHEN ? THEN ? ELSE expires_at END, version = version + 1,
      text = coalesce(?, text), terms = CASE WHEN ? THEN ? ELSE terms END, vector = coalesce(?, vector), space = CASE WHEN ? THEN ? ELSE space END
      WHERE id = ? AND tenant = ?`);
    this.importStmt = this.db.prepare(`INSERT INTO contexts
      (id, tenant, level, session, agent, text, tags, metadata, tokens, created_ts, ts, expires_at, access_count, version, vector, space, enc_kid, sealed, terms)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET level = excluded.level, session = excluded.session, agent = excluded.agent, text = excluded.text,
        tags = excluded.tags, metadata = excluded.metadata, tokens = excluded.tokens, created_ts = excluded.created_ts, ts = excluded.ts,
        expires_at = excluded.expires_at, access_count = excluded.access_count, version = excluded.version, vector = excluded.vector,
        space = excluded.space, enc_kid = excluded.enc_kid, sealed = excluded.sealed, terms = excluded.terms
      WHERE contexts.tenant = excluded.tenant AND contexts.version < excluded.version`);
    this.deleteStmt = this.db.prepare('DELETE FROM contexts WHERE id = ? AND tenant = ?');
    this.deleteAccessStmt = this.db.prepare('DELETE FROM access_counts WHERE id = ?');
    // One statement per flush, not one per id: a flush under retrieve load carries thousands of ids.
    this.accessStmt = this.db.prepare(`INSERT INTO access_counts (id, n) SELECT value ->> 0, value ->> 1 FROM json_each(?) WHERE true
      ON CONFLICT (id) DO UPDATE SET n = n + excluded.n`);
    this.getStmt = this.db.prepare('SELECT text, enc_kid, sealed FROM contexts WHERE id = ? AND tenant = ?');
    this.getManyStmt = this.db.prepare('SELECT id, text, enc_kid, sealed FROM contexts WHERE id IN (SELECT value FROM json_each(?)) AND tenant = ?');
    this.idsAfterStmt = this.db.prepare('SELECT id FROM contexts WHERE tenant = ? AND id > ? ORDER BY id LIMIT ?');
    this.requestStmt = this.db.prepare('INSERT OR IGNORE INTO request_ids (kid, id, ts) VALUES (?, ?, ?)');
    this.pruneRequestsStmt = this.db.prepare('DELETE FROM request_ids WHERE ts < ?');
  }

  /**
   * A setting's value, deleted (durably with this connection's synchronous mode) when there was one; null when it
   * could not be deleted (a full disk: the database still opens, and the triggers take it with the first row changed).
   */
  private takeSetting(key: string): string | null {
    const value = this.setting(key);
    if (value === undefined) return null;
    try {
      this.db.prepare('DELETE FROM settings WHERE key = ?').run(key);
    } catch {
      return null;
    }
    return value;
  }

  /** Rows in the table, quarantined ones included (an index snapshot's plausibility check). */
  rowCount(): number {
    return Number((this.db.prepare('SELECT count(*) AS n FROM contexts').get() as { n: number }).n);
  }

  /** After the index snapshot of `token` is durable, and after the last write (index-snapshot.ts). */
  setSnapshotToken(token: string): void {
    this.db.prepare('INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)').run(SNAPSHOT_TOKEN, token);
  }

  private setting(key: string): string | undefined {
    return (this.db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  /** Brings an older file to SCHEMA_VERSION in one transaction; refuses a newer one. */
  private migrate(): void {
    const version = this.setting('schema_version');
    if (version === SCHEMA_VERSION) return;
    if (version !== undefined && version !== '1' && version !== '2' && version !== '3') throw new Error(`store schema version ${version} is newer than this build understands (${SCHEMA_VERSION})`);
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const columns = this.columns();
      if (!columns.has('space')) {
        // Version 1 stored feature-hash vectors of the `dims` setting.
        const dims = Number(this.setting('dims') ?? 0);
        const legacy = this.ensureSpace({ kind: 'hash', model: LEGACY_SPACE_MODEL, dims });
        this.db.exec(`ALTER TABLE contexts ADD COLUMN space INTEGER NOT NULL DEFAULT ${legacy}`);
      }
      // Version 2 and older held every row in the clear.
      if (!columns.has('enc_kid')) this.db.exec('ALTER TABLE contexts ADD COLUMN enc_kid TEXT');
      if (!columns.has('sealed')) this.db.exec('ALTER TABLE contexts ADD COLUMN sealed BLOB');
      // Version 3 and older kept no term hashes: the store fills them in after the first load (setTerms).
      if (!columns.has('terms')) this.db.exec('ALTER TABLE contexts ADD COLUMN terms BLOB');
      this.db.exec('CREATE INDEX IF NOT EXISTS contexts_space ON contexts (space)');
      // Rows still to re-seal are found through it (`rekey`), and the key ids in use at open.
      this.db.exec('CREATE INDEX IF NOT EXISTS contexts_enc_kid ON contexts (enc_kid)');
      this.db.prepare("DELETE FROM settings WHERE key = 'dims'").run();
      this.db.prepare("INSERT OR REPLACE INTO settings (key, value) VALUES ('schema_version', ?)").run(SCHEMA_VERSION);
      this.db.exec('COMMIT');
    } catch (e) {
      this.db.exec('ROLLBACK');
      throw e;
    }
  }

  private columns(): Set<string> {
    return new Set((this.db.prepare('PRAGMA table_info(contexts)').all() as Array<{ name: string }>).map((c) => c.name));
  }

  private recordColumns(r: ContextRecord): unknown[] {
    const [session, agent, text, tags, metadata, vector, kid, sealed] = this.sealing.stored(r.tenant, r.id, {
      session: r.session, agent: r.agent, text: r.text, tags: JSON.stringify(r.tags), metadata: JSON.stringify(r.metadata), vector: vectorToBlob(r.vector),
    });
    return [r.id, r.tenant, r.level, session, agent, text, tags, metadata, r.tokens, r.createdTs, r.ts, r.expiresAt, r.accessCount, r.version, vector, this.spaceId, kid, sealed,
      kid === null ? termsBlob(r.text, r.terms) : null];
  }

  /**
   * Whether rows may hold vectors of another space than `space`: two index look-ups (contexts_space), where counting
   * every row's space read the whole table at each start (0.16 s at 100,000 contexts). Reads only.
   */
  private mayHoldForeignSpaces(space: VectorSpace): boolean {
    const columns = this.columns();
    if (!columns.has('space')) return true;
    const known = this.db.prepare('SELECT id FROM vector_spaces WHERE kind = ? AND model = ? AND dims = ?').get(space.kind, space.model, space.dims) as { id: number } | undefined;
    if (!known) return this.db.prepare('SELECT 1 FROM contexts LIMIT 1').get() !== undefined;
    const id = Number(known.id);
    return this.db.prepare('SELECT 1 FROM contexts WHERE space < ? LIMIT 1').get(id) !== undefined || this.db.prepare('SELECT 1 FROM contexts WHERE space > ? LIMIT 1').get(id) !== undefined;
  }

  /**
   * Term hashes written by a build whose term rules differ from this one's (LEXICAL_TERMS_VERSION) would index texts
   * by the wrong terms: they are dropped, so the next load hashes those texts again and stores the new ones.
   */
  private dropStaleTerms(): void {
    // Stored in this machine's byte order (a Uint32Array's bytes): a file moved to a machine of the other order re-hashes.
    const version = `${LEXICAL_TERMS_VERSION}-${endianness()}`;
    if (this.setting('terms_version') === version) return;
    this.db.exec('BEGIN IMMEDIATE');
    try {
      this.db.exec('UPDATE contexts SET terms = NULL WHERE terms IS NOT NULL');
      this.db.prepare("INSERT OR REPLACE INTO settings (key, value) VALUES ('terms_version', ?)").run(version);
      this.db.exec('COMMIT');
    } catch (e) {
      this.db.exec('ROLLBACK');
      throw e;
    }
  }

  private ensureSpace(space: VectorSpace): number {
    this.db.prepare('INSERT OR IGNORE INTO vector_spaces (kind, model, dims) VALUES (?, ?, ?)').run(space.kind, space.model, space.dims);
    return Number((this.db.prepare('SELECT id FROM vector_spaces WHERE kind = ? AND model = ? AND dims = ?').get(space.kind, space.model, space.dims) as { id: number }).id);
  }

  /** Spaces of the stored vectors and their counts, read without changing the file (a version 1 file's are all feature hashing). */
  private storedSpaces(): Array<{ space: VectorSpace; contexts: number }> {
    const columns = this.db.prepare('PRAGMA table_info(contexts)').all() as Array<{ name: string }>;
    if (!columns.some((c) => c.name === 'space')) {
      const n = Number((this.db.prepare('SELECT count(*) AS n FROM contexts').get() as { n: number }).n);
      return n === 0 ? [] : [{ space: { kind: 'hash', model: LEGACY_SPACE_MODEL, dims: Number(this.setting('dims') ?? 0) }, contexts: n }];
    }
    const rows = this.db
      .prepare('SELECT s.kind, s.model, s.dims, count(*) AS n FROM contexts c JOIN vector_spaces s ON s.id = c.space GROUP BY c.space')
      .all() as Array<{ kind: string; model: string; dims: number; n: number }>;
    return rows.map((r) => ({ space: { kind: r.kind, model: r.model, dims: Number(r.dims) }, contexts: Number(r.n) }));
  }

  /** Contexts whose vectors are of another space than the configured one, by space (empty when all match). */
  foreignSpaces(tenant?: string): Array<{ space: VectorSpace; contexts: number }> {
    const rows = this.db
      .prepare(`SELECT s.kind, s.model, s.dims, count(*) AS n FROM contexts c JOIN vector_spaces s ON s.id = c.space
        WHERE c.space != ? ${tenant === undefined ? '' : 'AND c.tenant = ?'} GROUP BY c.space`)
      .all(...(tenant === undefined ? [this.spaceId] : [this.spaceId, tenant])) as Array<{ kind: string; model: string; dims: number; n: number }>;
    return rows.map((r) => ({ space: { kind: r.kind, model: r.model, dims: Number(r.dims) }, contexts: Number(r.n) }));
  }

  /** Up to `limit` contexts still to re-embed into the configured space, in id order (reindex). */
  toReindex(limit: number, tenant?: string, after = ''): Array<{ id: string; text: string | null }> {
    const rows = this.db
      .prepare(`SELECT id, tenant, ${CONTENT_COLUMNS} FROM contexts WHERE space != ? AND id > ? ${tenant === undefined ? '' : 'AND tenant = ?'} ORDER BY id LIMIT ?`)
      .all(...(tenant === undefined ? [this.spaceId, after, limit] : [this.spaceId, after, tenant, limit])) as unknown as Array<ContentColumns & { id: string; tenant: string }>;
    return rows.map((r) => {
      try {
        return { id: r.id, text: this.sealing.contentOf(r.tenant, r.id, r).text };
      } catch (e) {
        // Sealed content that does not open: reported as such, so one damaged row does not stop a reindex.
        if (e instanceof UnsealError) return { id: r.id, text: null };
        throw e;
      }
    });
  }

  /**
   * Marks rows whose content does not open as of the configured space
   * (reindex): they cannot be re-embedded, stay quarantined at load, and must
   * not keep the daemon from starting on the new embedder.
   */
  markSpace(ids: readonly string[]): void {
    this.db.prepare('UPDATE contexts SET space = ? WHERE id IN (SELECT value FROM json_each(?))').run(this.spaceId, JSON.stringify(ids));
  }

  /** Replaces vectors with ones of the configured space, in one transaction (a killed reindex loses at most this batch's work). */
  setVectors(items: ReadonlyArray<{ id: string; vector: Float32Array }>): void {
    const stmt = this.db.prepare('UPDATE contexts SET vector = ?, space = ? WHERE id = ?');
    const tenantOf = this.db.prepare('SELECT tenant FROM contexts WHERE id = ?');
    this.db.exec('BEGIN IMMEDIATE');
    try {
      for (const { id, vector } of items) {
        if (!this.sealing.sealer) {
          stmt.run(vectorToBlob(vector), this.spaceId, id);
          continue;
        }
        const row = tenantOf.get(id) as { tenant: string } | undefined;
        if (row) this.sealing.rewriteSealed(row.tenant, id, { vector: vectorToBlob(vector) }, {}, false, true);
      }
      this.db.exec('COMMIT');
    } catch (e) {
      this.db.exec('ROLLBACK');
      throw e;
    }
  }

  insert(r: ContextRecord): void {
    // A replaced record carries its whole access count: drop any counted on the side.
    this.deleteAccessStmt.run(r.id);
    this.upsertStmt.run(...(this.recordColumns(r) as Parameters<StatementSync['run']>));
  }

  patch(tenant: string, id: string, p: RecordPatch): void {
    if (this.sealing.sealer) {
      // Sealed as a whole: the row is opened, merged and sealed again (with the active key, whatever it was under).
      const change: Partial<RowContent> = {
        ...(p.session !== undefined && { session: p.session }),
        ...(p.tags !== undefined && { tags: JSON.stringify(p.tags) }),
        ...(p.metadata !== undefined && { metadata: JSON.stringify(p.metadata) }),
        ...(p.text !== undefined && { text: p.text }),
        ...(p.vector !== undefined && { vector: vectorToBlob(p.vector) }),
      };
      this.sealing.rewriteSealed(tenant, id, change, p, true, p.vector !== undefined);
      return;
    }
    this.updateMetaStmt.run(p.level ?? null, p.session ?? null, p.tags ? JSON.stringify(p.tags) : null,
      p.metadata ? JSON.stringify(p.metadata) : null, p.tokens ?? null, p.ts ?? null, p.expiresAt !== undefined ? 1 : 0, p.expiresAt ?? null,
      p.text ?? null, p.text !== undefined ? 1 : 0, p.text !== undefined ? termsBlob(p.text, p.terms) : null, p.vector ? vectorToBlob(p.vector) : null,
      p.vector ? 1 : 0, this.spaceId, id, tenant);
  }

  /**
   * Stores the term hashes computed at a load for rows that had none (written before schema 4, or dropped as stale),
   * unless the row changed since (its version) or is sealed. Returns how many rows took them.
   */
  setTerms(items: ReadonlyArray<{ id: string; version: number; terms: Uint32Array }>): number {
    const stmt = this.db.prepare('UPDATE contexts SET terms = ? WHERE id = ? AND version = ? AND terms IS NULL AND enc_kid IS NULL');
    let n = 0;
    for (const { id, version, terms } of items) n += Number(stmt.run(new Uint8Array(terms.buffer, terms.byteOffset, terms.byteLength), id, version).changes);
    return n;
  }

  /**
   * Writes an imported record unless its id is held by another tenant or by
   * the same or a newer version: decided here, in commit order, so concurrent
   * imports and updates cannot overwrite each other. Returns 1 when written.
   */
  importRecord(r: ContextRecord): number {
    const changes = Number(
      this.importStmt.run(...(this.recordColumns(r) as Parameters<StatementSync['run']>)).changes,
    );
    // A replaced record carries its whole access count: drop any counted on the side.
    if (changes > 0) this.deleteAccessStmt.run(r.id);
    return changes;
  }

  delete(tenant: string, id: string): void {
    if (this.deleteStmt.run(id, tenant).changes > 0) this.deleteAccessStmt.run(id);
  }

  /** Adds counts[i] to ids[i]'s access count. Only for ids the caller knows are the tenant's (ids are unique across tenants). */
  addAccessCounts(ids: readonly string[], counts: readonly number[]): void {
    // In key order (the table's, for ASCII ids; any order is correct): the upsert then walks the table's pages in order
    // instead of at random, about half the time for 12,000 ids among 100,000 rows.
    const pairs = ids.map((id, i) => [id, counts[i]] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    this.accessStmt.run(JSON.stringify(pairs));
  }

  /** A row's text; undefined when there is none, or (with its id added to `unreadable`) when its sealed content does not open. */
  text(tenant: string, id: string, unreadable?: string[]): string | undefined {
    return this.texts(tenant, [id], unreadable).get(id);
  }

  /** Texts of many ids in one statement (a retrieve's winners); ids whose sealed content does not open go to `unreadable`. */
  texts(tenant: string, ids: readonly string[], unreadable?: string[]): Map<string, string> {
    const rows = (ids.length === 1 ? [this.getStmt.get(ids[0]!, tenant)].filter((r) => r !== undefined).map((r) => ({ ...(r as object), id: ids[0]! }))
      : this.getManyStmt.all(JSON.stringify(ids), tenant)) as Array<{ id: string; text: string; enc_kid: string | null; sealed: Uint8Array | null }>;
    const out = new Map<string, string>();
    for (const r of rows) {
      try {
        out.set(r.id, this.sealing.textOf(tenant, r.id, r));
      } catch (e) {
        if (!(e instanceof UnsealError)) throw e;
        unreadable?.push(r.id);
      }
    }
    return out;
  }

  /** Vectors as stored (float32) of many ids; ids whose sealed content does not open go to `unreadable`. */
  vectors(tenant: string, ids: readonly string[], unreadable?: string[]): Map<string, Float32Array> {
    this.vectorsStmt ??= this.db.prepare(`SELECT id, ${CONTENT_COLUMNS} FROM contexts WHERE id IN (SELECT value FROM json_each(?)) AND tenant = ?`);
    const out = new Map<string, Float32Array>();
    for (const r of this.vectorsStmt.all(JSON.stringify(ids), tenant) as unknown as Array<ContentColumns & { id: string }>) {
      try {
        out.set(r.id, blobToVector(this.sealing.contentOf(tenant, r.id, r).vector));
      } catch (e) {
        if (!(e instanceof UnsealError)) throw e;
        unreadable?.push(r.id);
      }
    }
    return out;
  }

  idsAfter(tenant: string, after: string, limit: number): string[] {
    return (this.idsAfterStmt.all(tenant, after, limit) as Array<{ id: string }>).map((r) => r.id);
  }

  /** Streams every stored row as it is (start-up load); the text is for indexing its words, not kept. */
  *loadAll(): IterableIterator<StoredRow> {
    // A row with its term hashes stored is loaded without its text (only its size): the hashes are what the index needs.
    // An integer column past ±2^53 throws when read as a number (node:sqlite), outside the loader's per-row
    // quarantine, and the daemon would not start: such values read as null, and the row is quarantined.
    const ints = INT_COLUMNS.map(([column, expr]) => `CASE WHEN ${safeInt(expr)} THEN ${expr} END AS ${column}`).join(', ');
    const unsafe = INT_COLUMNS.map(([, expr]) => `NOT ${safeInt(expr)}`).join(' OR ');
    const stmt = this.db.prepare(`SELECT c.id, tenant, session, agent, tags, metadata, ${ints},
      CASE WHEN ${unsafe} THEN 1 END AS unsafe_int,
      vector, CASE WHEN terms IS NULL OR length(terms) % 4 != 0 OR enc_kid IS NOT NULL THEN text END AS text,
      CASE WHEN enc_kid IS NULL THEN terms END AS terms,
      octet_length(text) AS text_bytes, enc_kid, sealed FROM contexts c LEFT JOIN access_counts a ON a.id = c.id`);
    // Once a rekey pass left every row sealed, a row in the clear was not written by ctxd (file access); with keys, it is refused.
    const clearIsForeign = this.sealing.sealer !== null && allSealed(this.db);
    for (const row of stmt.iterate() as IterableIterator<StoredRow & { enc_kid: string | null; sealed: Uint8Array | null; unsafe_int: 1 | null }>) {
      if (row.unsafe_int !== null) row.damage = 'an integer column is beyond ±(2^53 − 1)';
      const kid = row.enc_kid;
      if (kid === null) {
        // The row as read, not a copy without enc_kid and sealed (null here): the loader reads only StoredRow's fields.
        if (clearIsForeign) row.damage = 'in the clear in a data dir whose rows were all sealed';
        yield row;
        continue;
      }
      const { enc_kid: _kid, sealed: _sealed, ...stored } = row;
      try {
        // A sealed row never has stored terms (row-sealing.ts), so its (blank) text column was read.
        yield { ...stored, ...this.sealing.contentOf(row.tenant, row.id, row as typeof row & ContentColumns), fromSealed: true };
      } catch (e) {
        yield { ...stored, damage: `sealed content does not open: ${(e as Error).message}` };
      }
    }
  }

  recordRequest(kid: string, id: string, ts: number): void {
    this.requestStmt.run(kid, id, ts);
  }

  forgetRequests(kids: readonly string[], beforeTs: number): number {
    return Number(this.db.prepare('DELETE FROM request_ids WHERE ts < ? AND kid IN (SELECT value FROM json_each(?))').run(beforeTs, JSON.stringify(kids)).changes);
  }

  pruneRequests(beforeTs: number): number {
    return Number(this.pruneRequestsStmt.run(beforeTs).changes);
  }

  recentRequests(sinceTs: number): RequestEntry[] {
    return this.db.prepare('SELECT kid, id, ts FROM request_ids WHERE ts >= ? ORDER BY ts').all(sinceTs) as unknown as RequestEntry[];
  }

  /**
   * Proves `bytes` of room: a row that size is written and deleted again, so
   * the pages must be allocated (SQLITE_FULL if they cannot be) while nothing
   * stays behind. Run inside the caller's transaction.
   */
  probe(bytes: number): void {
    this.db.prepare("INSERT OR REPLACE INTO settings (key, value) VALUES ('write_probe', zeroblob(?))").run(bytes);
    this.db.exec("DELETE FROM settings WHERE key = 'write_probe'");
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}
