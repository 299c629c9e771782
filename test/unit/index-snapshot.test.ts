/**
 * The index snapshot (index-snapshot.ts): a clean close writes the index's rows
 * beside the database; the next open reads them instead of SQLite, with the same
 * contents, and only while the database has not been written since.
 */
import { cpSync, existsSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { hashEmbed, hashSpace } from '../../src/engine/text/hash-embedder.ts';
import { EmbeddedStore, type GraphFilesEvent, type SnapshotEvent } from '../../src/store/embedded/embedded-store.ts';
import { CHUNK_ROWS, SNAPSHOT_FILE } from '../../src/store/embedded/index-snapshot.ts';
import { generateDataKey, type DataKeys } from '../../src/store/encryption/data-keys.ts';
import type { ContextMeta, ContextRecord } from '../../src/domain/context.ts';
import { roundedToHalf } from '../../src/store/embedded/half-float.ts';
import { removeDir, tempDataDir } from '../helpers/daemon.ts';
import { makeRecord, syntheticText } from '../helpers/records.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));
const ann = { threshold: 1_000, connectivity: 16, expansionAdd: 64, expansionSearch: 64 };

interface Opened {
  store: EmbeddedStore;
  events: SnapshotEvent[];
}

async function openAt(dataDir: string, dataKeys: DataKeys | null = null, onGraphFiles?: (e: GraphFilesEvent) => void): Promise<Opened> {
  const events: SnapshotEvent[] = [];
  const store = new EmbeddedStore({ dataDir, space: hashSpace(384), durability: 'relaxed', ann, dataKeys, onSnapshot: (e) => events.push(e), onGraphFiles });
  await store.open();
  return { store, events };
}

/** Records of two tenants and every level, one partition over several chunks, fields at their edges. */
function records(): ContextRecord[] {
  const out: ContextRecord[] = [];
  for (let j = 0; j < CHUNK_ROWS * 2 + 300; j++) out.push(makeRecord({ tenant: 'a', text: `${syntheticText(j, 10)} #${j}` }));
  out.push(
    makeRecord({ tenant: 'a', level: 1, session: 's-1', agent: 'planner', text: 'working memory of a session', tags: ['x', 'ünï'] }),
    makeRecord({ tenant: 'a', level: 2, text: 'short term, expiring', expiresAt: Date.now() + 3_600_000, accessCount: 7, version: 4 }),
    makeRecord({
      tenant: 'b',
      text: 'wide numbers and nested metadata',
      metadata: { big: 2 ** 40, neg: -5, frac: 1.5, deep: { list: [1, 'two', null, { three: true }] }, emoji: '🦀', empty: '' },
      tags: Array.from({ length: 20 }, (_, i) => `tag-${i}`),
    }),
  );
  return out;
}

/** Everything a load puts in the index for each record. */
function contents(s: EmbeddedStore, recs: readonly ContextRecord[]): Array<{ meta: ContextMeta | undefined; vector: number[]; terms: number[] | undefined }> {
  return recs.map((r) => ({
    meta: s.index.meta(r.tenant, r.id),
    vector: [...(s.index.vector(r.tenant, r.id) ?? [])],
    terms: s.index.indexedTerms(r.id) && [...s.index.indexedTerms(r.id)!.terms],
  }));
}

async function answers(s: EmbeddedStore): Promise<string[][]> {
  const out: string[][] = [];
  for (let q = 0; q < 20; q++) out.push((await s.search('a', { vector: hashEmbed(syntheticText(800_000 + q, 4), 384), text: syntheticText(800_000 + q, 4) }, {}, 10)).map((h) => h.meta.id));
  return out;
}

/** A data dir closed cleanly over `records()`, and what a load from SQLite gives (the snapshot set aside for it). */
async function savedDir(graphEvents: GraphFilesEvent[] = []): Promise<{ dir: string; recs: ContextRecord[]; fromSql: ReturnType<typeof contents>; sqlAnswers: string[][] }> {
  const dir = tempDataDir();
  dirs.push(dir);
  const recs = records();
  const first = await openAt(dir, null, (e) => graphEvents.push(e));
  await first.store.upsert(recs);
  // The big partition's graph complete, so the close saves it beside the snapshot.
  for (let i = 0; i < 100_000 && first.store.index.graphBuild.pending > 0; i++) await new Promise((r) => setImmediate(r));
  expect(first.store.index.usesGraph('a', 3)).toBe(true);
  await first.store.close();
  expect(first.events).toEqual([expect.objectContaining({ kind: 'saved', rows: recs.length })]);
  // The reference: the same dir read from SQLite (a copy whose snapshot is gone).
  const copy = tempDataDir();
  dirs.push(copy);
  cpSync(dir, copy, { recursive: true });
  rmSync(join(copy, SNAPSHOT_FILE));
  const sql = await openAt(copy);
  expect(sql.events).toEqual([]);
  const fromSql = contents(sql.store, recs);
  const sqlAnswers = await answers(sql.store);
  await sql.store.close();
  return { dir, recs, fromSql, sqlAnswers };
}

describe('index snapshot', () => {
  it('a clean close writes it (0600); the next open reads the same rows from it, says so, and removes it', async () => {
    const { dir, recs, fromSql, sqlAnswers } = await savedDir();
    expect(statSync(join(dir, SNAPSHOT_FILE)).mode & 0o777).toBe(0o600);
    const next = await openAt(dir);
    expect(next.events).toEqual([expect.objectContaining({ kind: 'loaded', rows: recs.length })]);
    expect(next.store.health().detail).toBe(`${recs.length} records; read from the index snapshot; 1 ANN graphs loaded from disk`);
    expect(contents(next.store, recs)).toEqual(fromSql);
    expect(await answers(next.store)).toEqual(sqlAnswers);
    expect(next.store.index.usage('b')).toEqual({ contexts: 1, textBytes: Buffer.byteLength('wide numbers and nested metadata') });
    expect(next.store.index.textBytes('a')).toBe(recs.filter((r) => r.tenant === 'a').reduce((n, r) => n + Buffer.byteLength(r.text), 0));
    // Its token has left the database: the file could never match again.
    expect(existsSync(join(dir, SNAPSHOT_FILE))).toBe(false);
    await next.store.close();
  });

  it('makes the graphs saved by the same close trusted: their rows keep their keys without a vector check', async () => {
    const saved: GraphFilesEvent[] = [];
    const { dir, recs } = await savedDir(saved);
    expect(saved).toContainEqual(expect.objectContaining({ kind: 'saved', graphs: 1 }));
    // A vector changed in the snapshot (its vectors are not CRC-checked): a checked adoption would re-add that row.
    const file = join(dir, SNAPSHOT_FILE);
    const bytes = readFileSync(file);
    // In a graph's partition: held, and so snapshotted, in half precision (vector-rows.ts).
    expect(recs[0]!.tenant === 'a' && recs[0]!.level === 3).toBe(true);
    const v = roundedToHalf(recs[0]!.vector);
    const at = bytes.indexOf(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
    expect(at).toBeGreaterThan(0);
    bytes.writeFloatLE(0.5, at);
    writeFileSync(file, bytes);
    const graphs: GraphFilesEvent[] = [];
    const trusted = await openAt(dir, null, (e) => graphs.push(e));
    expect(trusted.events).toEqual([expect.objectContaining({ kind: 'loaded' })]);
    const big = recs.filter((r) => r.tenant === 'a' && r.level === 3).length;
    expect(graphs).toEqual([expect.objectContaining({ kind: 'loaded', graphs: 1, rowsReused: big, rowsToAdd: 0 })]);
    await trusted.store.close();
  });

  it('is not used once the database may have changed since: any open takes its token, so a copy put back is refused', async () => {
    const { dir, recs } = await savedDir();
    const kept = readFileSync(join(dir, SNAPSHOT_FILE));
    const opened = await openAt(dir);
    const added = makeRecord({ tenant: 'a', text: 'written after the snapshot' });
    await opened.store.upsert([added]);
    await opened.store.delete('a', [recs[0]!.id]);
    // As after a kill -9: a copy of the dir as it is now (committed writes in its WAL), with the old snapshot put back.
    const crashed = tempDataDir();
    dirs.push(crashed);
    cpSync(dir, crashed, { recursive: true });
    writeFileSync(join(crashed, SNAPSHOT_FILE), kept);
    await opened.store.close();
    const next = await openAt(crashed);
    expect(next.events).toEqual([{ kind: 'refused', reason: 'written before the database last changed' }]);
    expect(next.store.index.meta('a', added.id)?.id).toBe(added.id);
    expect(next.store.index.meta('a', recs[0]!.id)).toBeUndefined();
    expect(next.store.index.size).toBe(recs.length);
    await next.store.close();
  });

  it('is not used after a row was changed by another program while the daemon was stopped (the sqlite3 shell)', async () => {
    const { dir, recs } = await savedDir();
    for (const edit of ["UPDATE contexts SET session = 'edited' WHERE id = ?", 'INSERT INTO access_counts (id, n) VALUES (?, 5)']) {
      const db = new DatabaseSync(join(dir, 'ctxd.sqlite'));
      db.prepare(edit).run(recs[1]!.id);
      db.close();
      const next = await openAt(dir);
      expect(next.events[0]).toEqual({ kind: 'refused', reason: 'written before the database last changed' });
      await next.store.close();
    }
    const last = await openAt(dir);
    expect(last.events).toEqual([expect.objectContaining({ kind: 'loaded' })]);
    expect(last.store.index.meta('a', recs[1]!.id)).toMatchObject({ session: 'edited', accessCount: 5 });
    await last.store.close();
  });

  it('is refused when the database lost rows without its triggers firing (a file rebuilt by sqlite3 .dump keeps the token)', async () => {
    const { dir, recs } = await savedDir();
    const db = new DatabaseSync(join(dir, 'ctxd.sqlite'));
    db.exec('DROP TRIGGER contexts_delete_stales_snapshot');
    db.prepare('DELETE FROM contexts WHERE id = ?').run(recs[5]!.id);
    db.close();
    const next = await openAt(dir);
    expect(next.events).toEqual([{ kind: 'refused', reason: `holds ${recs.length} rows and 0 quarantined, the database ${recs.length - 1}` }]);
    expect(next.store.index.meta('a', recs[5]!.id)).toBeUndefined();
    await next.store.close();
  });

  it('is not written when the table and the index differ at close (a row written by another program meanwhile)', async () => {
    const { dir, recs } = await savedDir();
    const opened = await openAt(dir);
    const db = new DatabaseSync(join(dir, 'ctxd.sqlite'));
    db.prepare("INSERT INTO contexts SELECT 'outsider', tenant, level, session, agent, text, tags, metadata, tokens, created_ts, ts, expires_at, access_count, version, vector, space, enc_kid, sealed, terms FROM contexts WHERE id = ?").run(recs[0]!.id);
    db.close();
    await opened.store.close();
    expect(opened.events.at(-1)).toEqual({ kind: 'skipped', reason: `the database holds ${recs.length + 1} rows, the index ${recs.length} and 0 quarantined: the next start reads every row from the database` });
    expect(existsSync(join(dir, SNAPSHOT_FILE))).toBe(false);
    const next = await openAt(dir);
    expect(next.events).toEqual([]);
    expect(next.store.index.meta('a', 'outsider')?.id).toBe('outsider');
    await next.store.close();
  });

  it('is not written after a committed write failed to reach the index (the table may hold what the index does not)', async () => {
    const { dir, recs } = await savedDir();
    const opened = await openAt(dir);
    // Fault injection: the index refuses the patch the database has just committed.
    opened.store.index.put = () => {
      throw new Error('injected: index update failed');
    };
    await expect(opened.store.patch('a', recs[2]!.id, { tags: ['patched'] })).rejects.toThrow('injected');
    await opened.store.close();
    expect(opened.events.at(-1)).toEqual({ kind: 'skipped', reason: 'a write failed after its commit or the writer thread failed: the next start reads every row from the database' });
    const next = await openAt(dir);
    expect(next.events).toEqual([]);
    expect(next.store.index.meta('a', recs[2]!.id)?.tags).toEqual(['patched']);
    await next.store.close();
  });

  it.each([
    ['damaged', (f: string) => {
      // A byte of the first chunk's body (its text sizes); a damaged vector is not checked (index-snapshot.ts).
      const b = readFileSync(f);
      b.writeUInt8(b.readUInt8(4096) ^ 0xff, 4096);
      writeFileSync(f, b);
    }, /checksum mismatch/],
    ['truncated', (f: string) => truncateSync(f, statSync(f).size - 100), /truncated/],
    ['of another build', (f: string) => writeFileSync(f, readFileSync(f).toString('latin1').replace(/"build":"[^"]*"/, '"build":"0.0.0"'), 'latin1'), /written with build 0\.0\.0/],
  ])('%s, it is refused with the reason and every row is read from SQLite', async (_, spoil, reason) => {
    const { dir, recs, fromSql } = await savedDir();
    spoil(join(dir, SNAPSHOT_FILE));
    const next = await openAt(dir);
    expect(next.events).toHaveLength(1);
    expect(next.events[0]).toMatchObject({ kind: 'refused', reason: expect.stringMatching(reason) });
    expect(contents(next.store, recs)).toEqual(fromSql);
    await next.store.close();
  });

  it('keeps the quarantine report of the load it was made from', async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    const s = await openAt(dir);
    await s.store.upsert([makeRecord({ tenant: 'a', text: 'a good row' })]);
    await s.store.close();
    rmSync(join(dir, SNAPSHOT_FILE));
    const db = new DatabaseSync(join(dir, 'ctxd.sqlite'));
    db.prepare("UPDATE contexts SET metadata = '{\"x\":' WHERE tenant = 'a'").run();
    db.prepare("INSERT INTO contexts SELECT 'second', tenant, level, session, agent, text, tags, '{}', tokens, created_ts, ts, expires_at, access_count, version, vector, space, enc_kid, sealed, terms FROM contexts").run();
    db.close();
    const quarantined = await openAt(dir);
    expect(quarantined.store.quarantined.count).toBe(1);
    await quarantined.store.close();
    const next = await openAt(dir);
    expect(next.events).toEqual([expect.objectContaining({ kind: 'loaded', rows: 1 })]);
    expect(next.store.quarantined).toEqual(quarantined.store.quarantined);
    await next.store.close();
  });

  it('with encryption at rest, none is written, and one found is removed', async () => {
    const { dir } = await savedDir();
    const dataKeys: DataKeys = { active: 'k1', keys: new Map([['k1', generateDataKey()]]) };
    const sealed = await openAt(dir, dataKeys);
    expect(sealed.events).toEqual([{ kind: 'removed', reason: expect.stringContaining('encryption at rest') }]);
    expect(existsSync(join(dir, SNAPSHOT_FILE))).toBe(false);
    await sealed.store.close();
    expect(existsSync(join(dir, SNAPSHOT_FILE))).toBe(false);
    expect(sealed.events).toHaveLength(1);
  });
});
