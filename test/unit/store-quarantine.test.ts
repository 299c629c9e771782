/**
 * Rows an older version stored that today's rules reject, or damaged rows,
 * are quarantined at load: left on disk, never served, counted and reported.
 * The rows are written straight into ctxd.sqlite with node:sqlite.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import type { ContextRecord } from '../../src/domain/context.ts';
import { hashEmbed, hashSpace } from '../../src/engine/text/hash-embedder.ts';
import { EmbeddedStore } from '../../src/store/embedded/embedded-store.ts';
import type { AdmitInput, QuarantineEntry } from '../../src/store/embedded/loader.ts';
import { makeRecord } from '../helpers/records.ts';

const ann = { threshold: 20_000, connectivity: 16, expansionAdd: 128, expansionSearch: 128 };
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Depth of nesting, stopping early past `limit` (the check must survive 3,000 levels). */
function deeperThan(v: unknown, limit: number): boolean {
  if (typeof v !== 'object' || v === null) return false;
  if (limit === 0) return true;
  return Object.values(v).some((x) => deeperThan(x, limit - 1));
}

function hasProtoKey(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  return Object.hasOwn(v, '__proto__') || Object.values(v).some(hasProtoKey);
}

/** Stands in for the wire's rules, which the composition root passes in. */
function admit(r: AdmitInput): string | null {
  if (deeperThan(r.metadata, 32) || deeperThan(r.tags, 1)) return 'nested deeper than 32';
  if (hasProtoKey(r.metadata)) return 'metadata has a __proto__ key';
  return null;
}

const open = (dataDir: string, onQuarantine?: (e: QuarantineEntry) => void) => {
  const s = new EmbeddedStore({ dataDir, space: hashSpace(384), durability: 'relaxed', ann, admit, onQuarantine });
  return s.open().then(() => s);
};

function insertRaw(db: DatabaseSync, r: ContextRecord, over: { tags?: string; metadata?: string; vector?: Uint8Array } = {}): void {
  db.prepare(`INSERT INTO contexts (id, tenant, level, session, agent, text, tags, metadata, tokens, created_ts, ts, expires_at, access_count, version, vector, space)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT id FROM vector_spaces WHERE kind = 'hash'))`).run(r.id, r.tenant, r.level, r.session, r.agent, r.text,
    over.tags ?? JSON.stringify(r.tags), over.metadata ?? JSON.stringify(r.metadata), r.tokens, r.createdTs, r.ts, r.expiresAt, r.accessCount, r.version,
    over.vector ?? new Uint8Array(r.vector.buffer));
}

describe('quarantine at load', () => {
  it('keeps rows failing the checks on disk, out of every read, and reports them; the rest loads', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctxd-quarantine-'));
    dirs.push(dir);
    const viaStore = makeRecord({ tenant: 'a', text: 'stored through the store', metadata: { ok: { fine: [1, 2] } } });
    let s = await open(dir);
    await s.upsert([viaStore]);
    await s.close();

    const text = 'quarantine candidate words';
    const rec = (id: string) => makeRecord({ tenant: 'a', id, text });
    const good = rec('good-direct');
    const db = new DatabaseSync(join(dir, 'ctxd.sqlite'));
    insertRaw(db, good, { metadata: JSON.stringify({ depth: JSON.parse('['.repeat(30) + ']'.repeat(30)) }) });
    insertRaw(db, rec('deep'), { metadata: '{"a":' + '['.repeat(3_000) + ']'.repeat(3_000) + '}' });
    insertRaw(db, rec('proto'), { metadata: '{"x":{"__proto__":1}}' });
    insertRaw(db, rec('broken-json'), { metadata: '{"x":' });
    insertRaw(db, rec('short-vector'), { vector: new Uint8Array(100) });
    insertRaw(db, rec('tags-not-strings'), { tags: '[1,2]' });
    // Integers node:sqlite cannot read as numbers (it throws, and the daemon did not start).
    insertRaw(db, rec('huge-version'));
    db.exec(`UPDATE contexts SET version = ${2n ** 60n} WHERE id = 'huge-version'`);
    insertRaw(db, rec('huge-expiry'));
    db.exec(`UPDATE contexts SET expires_at = ${-(2n ** 62n)} WHERE id = 'huge-expiry'`);
    db.close();

    const reported: QuarantineEntry[] = [];
    s = await open(dir, (e) => reported.push(e));
    const bad = ['deep', 'proto', 'broken-json', 'short-vector', 'tags-not-strings', 'huge-version', 'huge-expiry'];
    const q = s.quarantined;
    expect(q.count).toBe(7);
    expect(q.sample.map((e) => e.id).sort()).toEqual([...bad].sort());
    expect(reported).toEqual(q.sample);
    const reason = (id: string) => q.sample.find((e) => e.id === id)!.reason;
    expect(reason('deep')).toBe('nested deeper than 32');
    expect(reason('proto')).toBe('metadata has a __proto__ key');
    expect(reason('broken-json')).toMatch(/^metadata is not valid JSON/);
    expect(reason('short-vector')).toBe('vector has 100 bytes, expected 1536');
    expect(reason('tags-not-strings')).toBe('tags are not a list of strings');
    expect(reason('huge-version')).toBe('an integer column is beyond ±(2^53 − 1)');
    expect(reason('huge-expiry')).toBe('an integer column is beyond ±(2^53 − 1)');
    for (const e of q.sample) expect(e.tenant).toBe('a');

    // Never served: not by get, scroll, search, count, find (GC), usage.
    expect((await s.get('a', [...bad, good.id, viaStore.id])).map((d) => d.id)).toEqual([good.id, viaStore.id]);
    const page = await s.scroll('a', {}, null, 100);
    expect(page.items.map((m) => m.id).sort()).toEqual([good.id, viaStore.id].sort());
    const hits = await s.search('a', { vector: hashEmbed(text, 384), text }, {}, 10);
    expect(hits[0]!.meta.id).toBe(good.id);
    expect(hits.map((h) => h.meta.id).sort()).toEqual([good.id, viaStore.id].sort());
    expect(await s.count('a', {})).toBe(2);
    expect((await s.find('a', {}, 100)).map((m) => m.id).sort()).toEqual([good.id, viaStore.id].sort());
    expect(s.usage('a').contexts).toBe(2);
    expect(await s.delete('a', bad)).toBe(0);
    expect(s.health().ok).toBe(true);
    expect(s.health().detail).toMatch(/^2 records; 7 quarantined: /);
    expect(s.health().detail).toContain('deep (nested deeper than 32)');

    // Still on disk, untouched.
    const check = new DatabaseSync(join(dir, 'ctxd.sqlite'), { readOnly: true });
    const rows = check.prepare('SELECT id, metadata FROM contexts ORDER BY id').all() as Array<{ id: string; metadata: string }>;
    expect(rows.map((r) => r.id).sort()).toEqual([...bad, good.id, viaStore.id].sort());
    expect(rows.find((r) => r.id === 'proto')!.metadata).toBe('{"x":{"__proto__":1}}');
    check.close();
    await s.close();
  });

  it('an admit check that throws quarantines the row, and a throwing report hook does not stop the load', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctxd-quarantine-'));
    dirs.push(dir);
    let s = await open(dir);
    await s.upsert([makeRecord({ tenant: 'a', text: 'one', id: 'boom' }), makeRecord({ tenant: 'a', text: 'two', id: 'fine' })]);
    await s.close();
    s = new EmbeddedStore({
      dataDir: dir, space: hashSpace(384), durability: 'relaxed', ann,
      admit: (r) => {
        if (r.id === 'boom') throw new RangeError('Maximum call stack size exceeded');
        return null;
      },
      onQuarantine: () => {
        throw new Error('logger down');
      },
    });
    await s.open();
    expect(s.quarantined).toEqual({ count: 1, sample: [{ id: 'boom', tenant: 'a', reason: 'Maximum call stack size exceeded' }] });
    expect(await s.count('a', {})).toBe(1);
    await s.close();
  });
});
