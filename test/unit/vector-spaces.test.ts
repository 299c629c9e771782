import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { VectorSpaceMismatchError } from '../../src/domain/vector-space.ts';
import { hashEmbed, hashSpace } from '../../src/engine/text/hash-embedder.ts';
import { SqliteFile, vectorToBlob } from '../../src/store/embedded/sqlite-file.ts';
import { removeDir, tempDataDir } from '../helpers/daemon.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));
const LOCAL = { kind: 'local', model: 'universal-sentence-encoder-lite', dims: 512 };

/** A data file as version 1 wrote it: no vector spaces, `dims` in settings, feature-hash vectors. */
function versionOneFile(): string {
  const dir = tempDataDir();
  dirs.push(dir);
  const path = join(dir, 'ctxd.sqlite');
  const db = new DatabaseSync(path);
  db.exec(`CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE contexts (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, level INTEGER NOT NULL, session TEXT NOT NULL, agent TEXT,
      text TEXT NOT NULL, tags TEXT NOT NULL, metadata TEXT NOT NULL, tokens INTEGER NOT NULL, created_ts INTEGER NOT NULL,
      ts INTEGER NOT NULL, expires_at INTEGER, access_count INTEGER NOT NULL, version INTEGER NOT NULL, vector BLOB NOT NULL);
    INSERT INTO settings VALUES ('schema_version', '1'), ('dims', '384');`);
  db.prepare("INSERT INTO contexts VALUES ('c1', 't', 3, 'default', NULL, 'old text', '[]', '{}', 2, 1, 1, NULL, 0, 1, ?)").run(vectorToBlob(hashEmbed('old text', 384)));
  db.close();
  return path;
}

const schemaVersion = (path: string) => {
  const db = new DatabaseSync(path);
  try {
    return (db.prepare("SELECT value FROM settings WHERE key = 'schema_version'").get() as { value: string }).value;
  } finally {
    db.close();
  }
};

describe('vector spaces in the data file', () => {
  it('refuses a version 1 file under another embedder without changing it, and migrates it under its own', () => {
    const path = versionOneFile();
    let refused: unknown;
    try {
      new SqliteFile(path, 'relaxed', LOCAL);
    } catch (e) {
      refused = e;
    }
    expect(refused).toBeInstanceOf(VectorSpaceMismatchError);
    expect((refused as Error).message).toContain('1 contexts embedded by hash:feature-hash-v1:384');
    expect(schemaVersion(path)).toBe('1');

    const file = new SqliteFile(path, 'relaxed', hashSpace(384));
    expect(schemaVersion(path)).toBe('4');
    expect(file.foreignSpaces()).toEqual([]);
    expect([...file.loadAll()].map((r) => r.id)).toEqual(['c1']);
    file.close();
  });

  it('reindex moves vectors to the configured space batch by batch; what is left is what a second run does', () => {
    const path = versionOneFile();
    new SqliteFile(path, 'relaxed', hashSpace(384)).close();
    const file = new SqliteFile(path, 'relaxed', LOCAL, { allowForeignSpaces: true });
    expect(file.foreignSpaces()).toEqual([{ space: hashSpace(384), contexts: 1 }]);
    const rows = file.toReindex(10);
    expect(rows).toEqual([{ id: 'c1', text: 'old text' }]);
    file.setVectors([{ id: 'c1', vector: new Float32Array(512).fill(0.01) }]);
    expect(file.foreignSpaces()).toEqual([]);
    expect(file.toReindex(10)).toEqual([]);
    file.close();
    expect(() => new SqliteFile(path, 'relaxed', hashSpace(384))).toThrow(VectorSpaceMismatchError);
  });
});
