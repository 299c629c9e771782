/**
 * The embedded system of record: one SQLite database (node:sqlite) in WAL mode.
 * Durability "strict" is synchronous=FULL (each committed group is fsynced);
 * "relaxed" is synchronous=NORMAL (survives a process crash, not power loss).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { NO_METADATA, NO_TAGS, type ContextMeta, type ContextRecord, type Level, type RecordPatch } from '../../domain/context.ts';

export type Durability = 'strict' | 'relaxed';

const SCHEMA_VERSION = '1';

interface Row {
  id: string;
  tenant: string;
  level: number;
  session: string;
  agent: string | null;
  text?: string;
  tags: string;
  metadata: string;
  tokens: number;
  created_ts: number;
  ts: number;
  expires_at: number | null;
  access_count: number;
  version: number;
  vector?: Uint8Array;
}

export function vectorToBlob(v: Float32Array): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** Copies: a blob's offset need not be 4-byte aligned. */
export function blobToVector(blob: Uint8Array): Float32Array {
  return new Float32Array(blob.slice().buffer);
}

function toMeta(r: Row): ContextMeta {
  return {
    id: r.id,
    tenant: r.tenant,
    level: r.level as Level,
    session: r.session,
    agent: r.agent,
    tags: r.tags === '[]' ? NO_TAGS : (JSON.parse(r.tags) as string[]),
    metadata: r.metadata === '{}' ? NO_METADATA : (JSON.parse(r.metadata) as Record<string, unknown>),
    tokens: r.tokens,
    createdTs: r.created_ts,
    ts: r.ts,
    expiresAt: r.expires_at,
    accessCount: r.access_count,
    version: r.version,
  };
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
  private readonly idsAfterStmt: StatementSync;

  constructor(path: string, durability: Durability, dims: number) {
    mkdirSync(dirname(path), { recursive: true });
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
        vector BLOB NOT NULL
      );
      CREATE INDEX IF NOT EXISTS contexts_tenant_id ON contexts (tenant, id);
      -- Access counts change on every retrieve: a narrow table, so counting does not rewrite rows with vectors.
      CREATE TABLE IF NOT EXISTS access_counts (id TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
    `);
    this.checkSetting('schema_version', SCHEMA_VERSION);
    this.checkSetting('dims', String(dims));
    this.upsertStmt = this.db.prepare(`INSERT OR REPLACE INTO contexts
      (id, tenant, level, session, agent, text, tags, metadata, tokens, created_ts, ts, expires_at, access_count, version, vector)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    // Only the fields a patch names change, so patches and access counts committed in one group compose.
    this.updateMetaStmt = this.db.prepare(`UPDATE contexts SET level = coalesce(?, level), session = coalesce(?, session),
      tags = coalesce(?, tags), metadata = coalesce(?, metadata), tokens = coalesce(?, tokens), ts = coalesce(?, ts),
      expires_at = CASE WHEN ? THEN ? ELSE expires_at END, version = version + 1,
      text = coalesce(?, text), vector = coalesce(?, vector) WHERE id = ? AND tenant = ?`);
    this.deleteStmt = this.db.prepare('DELETE FROM contexts WHERE id = ? AND tenant = ?');
    this.deleteAccessStmt = this.db.prepare('DELETE FROM access_counts WHERE id = ?');
    this.accessStmt = this.db.prepare('INSERT INTO access_counts (id, n) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET n = n + excluded.n');
    this.getStmt = this.db.prepare('SELECT text FROM contexts WHERE id = ? AND tenant = ?');
    this.getManyStmt = this.db.prepare('SELECT id, text FROM contexts WHERE id IN (SELECT value FROM json_each(?)) AND tenant = ?');
    this.idsAfterStmt = this.db.prepare('SELECT id FROM contexts WHERE tenant = ? AND id > ? ORDER BY id LIMIT ?');
  }

  /** Refuses a database made with other settings (another embedding size) instead of corrupting it. */
  private checkSetting(key: string, value: string): void {
    const row = this.db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined;
    if (!row) this.db.prepare('INSERT INTO settings (key, value) VALUES (?, ?)').run(key, value);
    else if (row.value !== value) throw new Error(`store was created with ${key}=${row.value}, but the configuration says ${value}`);
  }

  insert(r: ContextRecord): void {
    // A replaced record carries its whole access count: drop any counted on the side.
    this.deleteAccessStmt.run(r.id);
    this.upsertStmt.run(r.id, r.tenant, r.level, r.session, r.agent, r.text, JSON.stringify(r.tags), JSON.stringify(r.metadata),
      r.tokens, r.createdTs, r.ts, r.expiresAt, r.accessCount, r.version, vectorToBlob(r.vector));
  }

  patch(tenant: string, id: string, p: RecordPatch): void {
    this.updateMetaStmt.run(p.level ?? null, p.session ?? null, p.tags ? JSON.stringify(p.tags) : null,
      p.metadata ? JSON.stringify(p.metadata) : null, p.tokens ?? null, p.ts ?? null, p.expiresAt !== undefined ? 1 : 0, p.expiresAt ?? null,
      p.text ?? null, p.vector ? vectorToBlob(p.vector) : null, id, tenant);
  }

  delete(tenant: string, id: string): void {
    if (this.deleteStmt.run(id, tenant).changes > 0) this.deleteAccessStmt.run(id);
  }

  /** Only for ids the caller knows are the tenant's (ids are unique across tenants). */
  incrementAccess(id: string, n: number): void {
    this.accessStmt.run(id, n);
  }

  text(tenant: string, id: string): string | undefined {
    return (this.getStmt.get(id, tenant) as { text: string } | undefined)?.text;
  }

  /** Texts of many ids in one statement (a retrieve's winners). */
  texts(tenant: string, ids: readonly string[]): Map<string, string> {
    const rows = this.getManyStmt.all(JSON.stringify(ids), tenant) as Array<{ id: string; text: string }>;
    return new Map(rows.map((r) => [r.id, r.text]));
  }

  idsAfter(tenant: string, after: string, limit: number): string[] {
    return (this.idsAfterStmt.all(tenant, after, limit) as Array<{ id: string }>).map((r) => r.id);
  }

  /** Streams every record (start-up load); the text is for indexing its words, not kept. */
  *loadAll(): IterableIterator<{ meta: ContextMeta; vector: Float32Array; text: string; textBytes: number }> {
    const stmt = this.db.prepare(`SELECT c.id, tenant, level, session, agent, tags, metadata, tokens, created_ts, ts, expires_at,
      access_count + coalesce(a.n, 0) AS access_count, version, vector, text FROM contexts c LEFT JOIN access_counts a ON a.id = c.id`);
    for (const r of stmt.iterate() as IterableIterator<Row>) {
      yield { meta: toMeta(r), vector: blobToVector(r.vector!), text: r.text!, textBytes: Buffer.byteLength(r.text!) };
    }
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}
