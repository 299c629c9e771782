/**
 * Encryption at rest below the daemon: the sealer (AES-256-GCM with the row
 * bound as associated data), the key document, and the embedded store's file
 * with sealed rows: what it refuses at open, what it quarantines, and that
 * `rekey` steps move every row under the active key.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { hashSpace } from '../../src/engine/text/hash-embedder.ts';
import { EmbeddedStore } from '../../src/store/embedded/embedded-store.ts';
import { decodeContent, encodeContent, rowAad } from '../../src/store/embedded/sealed-row.ts';
import { DataKeyError, generateDataKey, parseDataKeys, type DataKeys } from '../../src/store/encryption/data-keys.ts';
import { Sealer, UnsealError } from '../../src/store/encryption/sealer.ts';
import { removeDir, tempDataDir } from '../helpers/daemon.ts';
import { makeRecord } from '../helpers/records.ts';

const ann = { threshold: 20_000, connectivity: 16, expansionAdd: 128, expansionSearch: 128 };
const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

const k1 = generateDataKey();
const k2 = generateDataKey();
const keysOf = (active: string, entries: Array<[string, Uint8Array]>): DataKeys => ({ active, keys: new Map(entries) });

async function openStore(dataDir: string, dataKeys: DataKeys | null): Promise<EmbeddedStore> {
  const s = new EmbeddedStore({ dataDir, space: hashSpace(384), durability: 'relaxed', ann, dataKeys });
  await s.open();
  return s;
}

function newDir(): string {
  const d = tempDataDir();
  dirs.push(d);
  return d;
}

/** Every file under `dir`, as bytes. */
function filesOf(dir: string): Array<[string, Buffer]> {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => [join(e.parentPath, e.name), readFileSync(join(e.parentPath, e.name))]);
}

describe('sealer', () => {
  const sealer = new Sealer(keysOf('k1', [['k1', k1]]));
  const aad = rowAad('acme', 'c1', 'k1');

  it('opens what it sealed, and only with the same key, bytes and associated data', () => {
    const sealed = sealer.seal(Buffer.from('the launch code'), aad);
    expect(sealer.open('k1', sealed, aad).toString()).toBe('the launch code');
    expect(sealed.includes(Buffer.from('launch'))).toBe(false);
    // Random nonces: the same plaintext never seals to the same bytes.
    expect(sealer.seal(Buffer.from('the launch code'), aad).equals(sealed)).toBe(false);
    const flipped = Buffer.from(sealed);
    flipped[20]! ^= 1;
    expect(() => sealer.open('k1', flipped, aad)).toThrow(UnsealError);
    expect(() => sealer.open('k1', sealed, rowAad('other-tenant', 'c1', 'k1'))).toThrow(UnsealError);
    expect(() => sealer.open('k1', sealed, rowAad('acme', 'c2', 'k1'))).toThrow(UnsealError);
    // The key id is bound too: a value relabelled with another id does not open under it.
    expect(() => new Sealer(keysOf('k1', [['k1', k1], ['k2', k1]])).open('k2', sealed, rowAad('acme', 'c1', 'k2'))).toThrow(UnsealError);
    expect(() => new Sealer(keysOf('k1', [['k1', k2]])).open('k1', sealed, aad)).toThrow(UnsealError);
    expect(() => sealer.open('k9', sealed, aad)).toThrow(/no data key k9/);
    expect(() => sealer.open('k1', sealed.subarray(0, 20), aad)).toThrow(UnsealError);
  });

  it('lays a row out so that it decodes to the same fields', () => {
    const c = { session: 's', agent: null, text: 'héllo', tags: '["a"]', metadata: '{"x":1}', vector: new Uint8Array([1, 2, 3, 4]) };
    expect(decodeContent(encodeContent(c))).toEqual(c);
    expect(() => decodeContent(Buffer.from([9, 0, 0, 0, 1]))).toThrow(/truncated/);
  });
});

describe('data key document', () => {
  const hex = Buffer.from(k1).toString('hex');

  it('accepts an active key among 32-byte hex keys', () => {
    const keys = parseDataKeys(JSON.stringify({ active: 'a', keys: [{ id: 'a', key: hex }, { id: 'b', key: hex }] }), 'test');
    expect(keys.active).toBe('a');
    expect([...keys.keys.keys()]).toEqual(['a', 'b']);
  });

  it.each([
    ['not JSON', '{', /not valid JSON/],
    ['JSON broken right after a key', `{"active": "a", "keys": [{"id": "a", "key": "${Buffer.from(k1).toString('hex')}"},]}`, /^key file K: not valid JSON( \(at character \d+\))?$/],
    ['no keys', '{"active": "a", "keys": []}', /expected/],
    ['a short key', JSON.stringify({ active: 'a', keys: [{ id: 'a', key: 'abcd' }] }), /32 bytes/],
    ['a bad id', JSON.stringify({ active: 'a b', keys: [{ id: 'a b', key: hex }] }), /id must be/],
    ['a repeated id', JSON.stringify({ active: 'a', keys: [{ id: 'a', key: hex }, { id: 'a', key: hex }] }), /twice/],
    ['an active id that is not a key', JSON.stringify({ active: 'z', keys: [{ id: 'a', key: hex }] }), /"active" must name/],
  ])('refuses %s, naming the source and never the key', (_what, text, message) => {
    const e = (() => {
      try {
        parseDataKeys(text, 'key file K');
      } catch (err) {
        return err as Error;
      }
      throw new Error('accepted');
    })();
    expect(e).toBeInstanceOf(DataKeyError);
    expect(e.message).toMatch(message);
    expect(e.message).toMatch(/^key file K/);
    expect(e.message).not.toContain(hex);
    // Not even a few digits of it (JSON.parse quotes the text around an error).
    expect(e.message).not.toMatch(/[0-9a-f]{6}/);
  });
});

describe('embedded store with sealed rows', () => {
  it('keeps text, tags, metadata, session, agent and vector out of the file, and reads them back after a reopen', async () => {
    const dir = newDir();
    const s = await openStore(dir, keysOf('k1', [['k1', k1]]));
    const r = makeRecord({ tenant: 'acme', text: 'MARKERTEXT alpha bravo', session: 'MARKERSESSION', agent: 'MARKERAGENT', tags: ['MARKERTAG'], metadata: { MARKERKEY: 'MARKERVALUE' } });
    await s.upsert([r]);
    await s.patch('acme', r.id, { metadata: { MARKERKEY: 'MARKERVALUE2' }, tags: ['MARKERTAG2'] });
    await s.close();
    // Hash vectors are mostly zeros: 32 bytes from the first non-zero component are what would betray it.
    const first = r.vector.findIndex((x) => x !== 0);
    const vectorBytes = Buffer.from(r.vector.buffer, r.vector.byteOffset + first * 4, 32);
    for (const [path, bytes] of filesOf(dir)) {
      for (const marker of ['MARKER', 'alpha bravo']) expect(bytes.includes(Buffer.from(marker)), `${marker} in ${path}`).toBe(false);
      expect(bytes.includes(vectorBytes), `vector bytes in ${path}`).toBe(false);
    }
    const again = await openStore(dir, keysOf('k1', [['k1', k1]]));
    const [doc] = await again.get('acme', [r.id]);
    expect(doc).toMatchObject({ text: 'MARKERTEXT alpha bravo', session: 'MARKERSESSION', agent: 'MARKERAGENT', tags: ['MARKERTAG2'], metadata: { MARKERKEY: 'MARKERVALUE2' }, version: 2 });
    expect([...(await again.vectors('acme', [r.id])).get(r.id)!]).toEqual([...r.vector]);
    await again.close();
  });

  it('refuses to open with no key, a wrong key, or keys lacking one in use, and leaves the file as it was', async () => {
    const dir = newDir();
    const s = await openStore(dir, keysOf('k1', [['k1', k1]]));
    await s.upsert([makeRecord({ tenant: 'acme', text: 'sealed fact' })]);
    await s.close();
    const before = readFileSync(join(dir, 'ctxd.sqlite'));
    await expect(openStore(dir, null)).rejects.toThrow(/holds 1 contexts sealed with data key k1, and no encryption key is configured/);
    await expect(openStore(dir, keysOf('k1', [['k1', k2]]))).rejects.toThrow(/data key k1 is not the key this data dir's contexts were sealed with/);
    await expect(openStore(dir, keysOf('k2', [['k2', k2]]))).rejects.toThrow(/sealed with data key k1, which the configured keys do not hold/);
    await expect(openStore(dir, null)).rejects.toBeInstanceOf(DataKeyError);
    expect(readFileSync(join(dir, 'ctxd.sqlite')).equals(before)).toBe(true);
  });

  it('quarantines a sealed value moved onto another row: it never opens as that row', async () => {
    const dir = newDir();
    const s = await openStore(dir, keysOf('k1', [['k1', k1]]));
    const a = makeRecord({ tenant: 'acme', text: 'belongs to acme' });
    const b = makeRecord({ tenant: 'other', text: 'belongs to other' });
    const c = makeRecord({ tenant: 'other', text: 'stays intact' });
    await s.upsert([a, b, c]);
    await s.close();
    const db = new DatabaseSync(join(dir, 'ctxd.sqlite'));
    db.prepare('UPDATE contexts SET sealed = (SELECT sealed FROM contexts WHERE id = ?) WHERE id = ?').run(a.id, b.id);
    db.close();
    const again = await openStore(dir, keysOf('k1', [['k1', k1]]));
    expect(again.quarantined.count).toBe(1);
    expect(again.quarantined.sample[0]).toMatchObject({ id: b.id, reason: expect.stringMatching(/does not open/) });
    expect(await again.get('other', [b.id])).toEqual([]);
    expect((await again.get('other', [c.id]))[0]!.text).toBe('stays intact');
    await again.close();
  });

  it('rekey steps seal rows in the clear and under older keys with the active one, resuming from any step', async () => {
    const dir = newDir();
    const plain = await openStore(dir, null);
    const records = Array.from({ length: 25 }, (_, i) => makeRecord({ tenant: i % 2 ? 'a' : 'b', text: `plain fact number ${i}` }));
    await plain.upsert(records.slice(0, 10));
    await plain.close();
    const s1 = await openStore(dir, keysOf('k1', [['k1', k1]]));
    await s1.upsert(records.slice(10));
    expect(s1.encryption()).toEqual({ active_kid: 'k1', remaining: 10 });
    const step = await s1.rekey(keysOf('k1', [['k1', k1]]), null, 4);
    expect(step).toMatchObject({ active_kid: 'k1', resealed: 4, unreadable: 0, dropped: 0, remaining: 6 });
    expect(step.next).not.toBeNull();
    // A new active key: rows under k1 and in the clear are all re-sealed with k2, step by step.
    const both = keysOf('k2', [['k1', k1], ['k2', k2]]);
    let cursor: string | null = null;
    let resealed = 0;
    do {
      const r = await s1.rekey(both, cursor, 7);
      resealed += r.resealed;
      cursor = r.next;
    } while (cursor !== null);
    expect(resealed).toBe(25);
    expect(s1.encryption()).toEqual({ active_kid: 'k2', remaining: 0 });
    // Keys that cannot read the data are refused, and the store goes on with the ones it had.
    await expect(s1.rekey(keysOf('k3', [['k3', k1]]), null, 10)).rejects.toThrow(/must still hold k2/);
    await expect(s1.rekey(keysOf('k2', [['k2', k1]]), null, 10)).rejects.toThrow(/is not the key/);
    await s1.close();
    const s2 = await openStore(dir, keysOf('k2', [['k2', k2]]));
    expect((await s2.get('a', [records[1]!.id]))[0]!.text).toBe('plain fact number 1');
    expect((await s2.get('b', [records[24]!.id]))[0]!.text).toBe('plain fact number 24');
    await s2.close();
    for (const [path, bytes] of filesOf(dir)) expect(bytes.includes(Buffer.from('plain fact')), path).toBe(false);
  });

  it('rekey without encryption configured is refused', async () => {
    const s = await openStore(newDir(), null);
    await expect(s.rekey(null, null, 10)).rejects.toThrow(/not configured/);
    await s.close();
  });
});

describe('embedded store with sealed rows: damage, leftovers and failures', () => {
  /** Rewrites one row's sealed value on disk, as a bad disk or a hand with write access would. */
  function damage(dir: string, id: string): void {
    const db = new DatabaseSync(join(dir, 'ctxd.sqlite'));
    db.prepare('UPDATE contexts SET sealed = sealed || x\'00\' WHERE id = ?').run(id);
    db.close();
  }

  it('a damaged row left under an old key neither blocks the start nor the next rekey; --drop-unreadable removes it, then the old key can go', async () => {
    const dir = newDir();
    const s = await openStore(dir, keysOf('k1', [['k1', k1]]));
    const records = Array.from({ length: 10 }, (_, i) => makeRecord({ tenant: 'a', text: `fact ${i}` }));
    await s.upsert(records);
    await s.close();
    damage(dir, records[3]!.id);
    const both = keysOf('k2', [['k1', k1], ['k2', k2]]);
    const s2 = await openStore(dir, both);
    expect(s2.quarantined.count).toBe(1);
    const pass = await s2.rekey(both, null, 100);
    expect(pass).toMatchObject({ resealed: 9, unreadable: 1, dropped: 0, remaining: 1, next: null });
    await s2.close();
    // The right keys still open the store, and a second pass is accepted.
    const s3 = await openStore(dir, both);
    expect(await s3.rekey(both, null, 100)).toMatchObject({ resealed: 0, unreadable: 1, remaining: 1 });
    expect(await s3.rekey(both, null, 100, { dropUnreadable: true })).toMatchObject({ resealed: 0, unreadable: 0, dropped: 1, remaining: 0 });
    await s3.close();
    const s4 = await openStore(dir, keysOf('k2', [['k2', k2]]));
    expect((await s4.get('a', records.map((r) => r.id))).length).toBe(9);
    await s4.close();
  });

  it('a wrong key is refused by its check value even when no row is sealed with it any more', async () => {
    const dir = newDir();
    const s = await openStore(dir, keysOf('k1', [['k1', k1]]));
    const r = makeRecord({ tenant: 'a', text: 'soon gone' });
    await s.upsert([r]);
    await s.delete('a', [r.id]);
    await s.close();
    await expect(openStore(dir, keysOf('k1', [['k1', k2]]))).rejects.toThrow(/data key k1 is not the key/);
  });

  it('text deleted while the store was in the clear leaves the disk at the end of the first pass, even with nothing to re-seal', async () => {
    const dir = newDir();
    const plain = await openStore(dir, null);
    const records = Array.from({ length: 200 }, (_, i) => makeRecord({ tenant: 'a', text: `SECRETPLAIN row ${i} ${'padding words '.repeat(20)}` }));
    await plain.upsert(records);
    await plain.delete('a', records.map((r) => r.id));
    await plain.close();
    const s = await openStore(dir, keysOf('k1', [['k1', k1]]));
    expect(await s.rekey(keysOf('k1', [['k1', k1]]), null, 100)).toMatchObject({ resealed: 0, remaining: 0, compact: { pending: false, error: null } });
    await s.close();
    for (const [path, bytes] of filesOf(dir)) expect(bytes.includes(Buffer.from('SECRETPLAIN')), path).toBe(false);
  });

  it('a row altered on disk after load fails alone: reads of other rows go on and it is quarantined', async () => {
    const dir = newDir();
    const s = await openStore(dir, keysOf('k1', [['k1', k1]]));
    const [a, b] = [makeRecord({ tenant: 't', text: 'row a' }), makeRecord({ tenant: 't', text: 'row b' })];
    await s.upsert([a, b]);
    damage(dir, a.id);
    expect((await s.get('t', [a.id, b.id])).map((d) => d.text)).toEqual(['row b']);
    expect(s.quarantined.count).toBe(1);
    expect(await s.get('t', [a.id])).toEqual([]);
    await s.close();
  });

  it('a row in the clear written into a fully sealed data dir is quarantined, not served', async () => {
    const dir = newDir();
    const keys = keysOf('k1', [['k1', k1]]);
    const s = await openStore(dir, keys);
    const r = makeRecord({ tenant: 't', text: 'genuine' });
    await s.upsert([r]);
    await s.rekey(keys, null, 100);
    await s.close();
    const db = new DatabaseSync(join(dir, 'ctxd.sqlite'));
    db.prepare("UPDATE contexts SET enc_kid = NULL, sealed = NULL, text = 'forged', tags = '[]', metadata = '{}', session = 'default', vector = ? WHERE id = ?").run(new Uint8Array(384 * 4), r.id);
    db.close();
    const again = await openStore(dir, keys);
    expect(again.quarantined.sample[0]).toMatchObject({ id: r.id, reason: expect.stringMatching(/in the clear/) });
    expect(await again.get('t', [r.id])).toEqual([]);
    await again.close();
  });

  it('a full disk during a re-seal is UNAVAILABLE (disk_full), not an internal error, and the rows stay readable', async () => {
    const dir = newDir();
    const plain = await openStore(dir, null);
    const records = Array.from({ length: 500 }, (_, i) => makeRecord({ tenant: 'a', text: `row ${i} ${'some words '.repeat(30)}` }));
    await plain.upsert(records);
    await plain.close();
    const size = readFileSync(join(dir, 'ctxd.sqlite')).length;
    const keys = keysOf('k1', [['k1', k1]]);
    const s = new EmbeddedStore({ dataDir: dir, space: hashSpace(384), durability: 'relaxed', ann, dataKeys: keys, maxDbBytes: size });
    await s.open();
    await expect(s.rekey(keys, null, 500)).rejects.toMatchObject({ name: 'StoreUnavailableError', reason: 'disk_full' });
    expect((await s.get('a', [records[7]!.id]))[0]!.text).toBe(records[7]!.text);
    await s.close();
  });
});
