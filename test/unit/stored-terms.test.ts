/**
 * Lexical term hashes stored beside each row in the clear (schema 4): a load
 * reads them instead of every text, older rows get theirs stored after their
 * first load, and sealed rows never keep any.
 */
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { termHashes } from '../../src/domain/lexical.ts';
import { hashEmbed, hashSpace } from '../../src/engine/text/hash-embedder.ts';
import { EmbeddedStore } from '../../src/store/embedded/embedded-store.ts';
import type { TermsStored } from '../../src/store/embedded/terms-backfill.ts';
import { SqliteFile } from '../../src/store/embedded/sqlite-file.ts';
import { generateDataKey, type DataKeys } from '../../src/store/encryption/data-keys.ts';
import { removeDir, tempDataDir } from '../helpers/daemon.ts';
import { makeRecord, syntheticText } from '../helpers/records.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));
const ann = { threshold: 100_000, connectivity: 16, expansionAdd: 128, expansionSearch: 64 };

interface Opened {
  store: EmbeddedStore;
  /** Settles with the background store of the load's computed terms (never, when there was nothing to store). */
  stored: Promise<TermsStored>;
}

async function openAt(dataDir: string, dataKeys: DataKeys | null = null): Promise<Opened> {
  let done!: (e: TermsStored) => void;
  const stored = new Promise<TermsStored>((r) => (done = r));
  const store = new EmbeddedStore({ dataDir, space: hashSpace(384), durability: 'relaxed', ann, dataKeys, onTermsStored: done });
  await store.open();
  return { store, stored };
}

/** Each row's stored columns, straight from the file. */
function storedRows(dir: string): Array<{ id: string; text: string; terms: Uint8Array | null; enc_kid: string | null }> {
  const db = new DatabaseSync(join(dir, 'ctxd.sqlite'), { readOnly: true });
  try {
    return db.prepare('SELECT id, text, terms, enc_kid FROM contexts ORDER BY id').all() as never;
  } finally {
    db.close();
  }
}

function sql(dir: string, statement: string): void {
  const db = new DatabaseSync(join(dir, 'ctxd.sqlite'));
  try {
    db.exec(statement);
  } finally {
    db.close();
  }
}

const asHashes = (blob: Uint8Array | null) => (blob === null ? null : [...new Uint32Array(blob.slice().buffer)]);
const hashesOf = (text: string) => [...termHashes(text)];

/** The id the lexical channel scores best for `text` (an identifier only one row holds finds that row). */
async function firstFor(store: EmbeddedStore, tenant: string, text: string): Promise<string | undefined> {
  const hits = await store.search(tenant, { vector: hashEmbed(text, 384), text }, {}, 5);
  return hits.filter((h) => h.lexical > 0).sort((a, b) => b.lexical - a.lexical)[0]?.meta.id;
}

/** A store of `n` rows (tenant t) closed again; each text carries a unique identifier. */
async function filled(n: number): Promise<{ dir: string; texts: Map<string, string> }> {
  const dir = tempDataDir();
  dirs.push(dir);
  const { store } = await openAt(dir);
  const records = Array.from({ length: n }, (_, i) => makeRecord({ tenant: 't', text: `${syntheticText(i, 12)} TICKET-${1000 + i}` }));
  await store.upsert(records);
  await store.close();
  return { dir, texts: new Map(records.map((r) => [r.id, r.text])) };
}

describe('stored lexical terms', () => {
  it('are written with each row, and a load takes them without reading the text', async () => {
    const { dir, texts } = await filled(50);
    for (const row of storedRows(dir)) expect(asHashes(row.terms)).toEqual(hashesOf(texts.get(row.id)!));

    const file = new SqliteFile(join(dir, 'ctxd.sqlite'), 'relaxed', hashSpace(384));
    const loaded = [...file.loadAll()];
    file.close();
    expect(loaded).toHaveLength(50);
    for (const r of loaded) {
      expect(r.text).toBeNull();
      expect(r.text_bytes).toBe(Buffer.byteLength(texts.get(r.id)!));
    }

    const { store } = await openAt(dir);
    const [id, text] = [...texts][17]!;
    expect(await firstFor(store, 't', 'TICKET-1017')).toBe(id);
    expect(store.index.indexedTerms(id)!.terms).toEqual(termHashes(text));
    expect(store.usage('t').textBytes).toBe([...texts.values()].reduce((n, t) => n + Buffer.byteLength(t), 0));
    await store.close();
  });

  it('follow a new text, and stay for a metadata change', async () => {
    const { dir, texts } = await filled(5);
    const [a, b] = [...texts.keys()];
    const { store } = await openAt(dir);
    await store.patch('t', a!, { text: 'a new text about PROJ-77', vector: hashEmbed('a new text about PROJ-77', 384) });
    await store.patch('t', b!, { tags: ['kept'] });
    await store.close();
    const rows = new Map(storedRows(dir).map((r) => [r.id, r]));
    expect(asHashes(rows.get(a!)!.terms)).toEqual(hashesOf('a new text about PROJ-77'));
    expect(asHashes(rows.get(b!)!.terms)).toEqual(hashesOf(texts.get(b!)!));

    const again = await openAt(dir);
    expect(await firstFor(again.store, 't', 'PROJ-77')).toBe(a);
    expect(await firstFor(again.store, 't', texts.get(a!)!.split(' ').at(-1)!)).not.toBe(a);
    await again.store.close();
  });

  it('rows without them (an older file) are hashed at load, then stored in the background; the next load reads them', async () => {
    const { dir, texts } = await filled(1_200);
    sql(dir, "UPDATE contexts SET terms = NULL; UPDATE settings SET value = '3' WHERE key = 'schema_version'");

    const first = await openAt(dir);
    expect(await firstFor(first.store, 't', 'TICKET-1999')).toBe([...texts.keys()][999]);
    expect(await first.stored).toEqual({ rows: 1_200, ms: expect.any(Number) });
    await first.store.close();
    for (const row of storedRows(dir)) expect(asHashes(row.terms)).toEqual(hashesOf(texts.get(row.id)!));

    let reported = false;
    const second = await openAt(dir);
    void second.stored.then(() => (reported = true));
    expect(await firstFor(second.store, 't', 'TICKET-1999')).toBe([...texts.keys()][999]);
    await second.store.close();
    expect(reported).toBe(false);
  });

  it('of another term-rules version are dropped at open and stored again', async () => {
    const { dir, texts } = await filled(10);
    sql(dir, "UPDATE settings SET value = '0-LE' WHERE key = 'terms_version'");
    const { store, stored } = await openAt(dir);
    expect((await stored).rows).toBe(10);
    await store.close();
    for (const row of storedRows(dir)) expect(asHashes(row.terms)).toEqual(hashesOf(texts.get(row.id)!));
  });

  it('a damaged terms value (not whole uint32s) is not trusted: the text is hashed', async () => {
    const { dir, texts } = await filled(5);
    const id = [...texts.keys()][2]!;
    sql(dir, `UPDATE contexts SET terms = x'0102030405' WHERE id = '${id}'`);
    const { store } = await openAt(dir);
    expect(store.index.indexedTerms(id)!.terms).toEqual(termHashes(texts.get(id)!));
    expect(await firstFor(store, 't', 'TICKET-1002')).toBe(id);
    await store.close();
  });

  it('are stored only where the row has not changed since the load, and never for sealed rows', () => {
    const dir = tempDataDir();
    dirs.push(dir);
    const path = join(dir, 'ctxd.sqlite');
    const file = new SqliteFile(path, 'relaxed', hashSpace(384));
    const r = makeRecord({ tenant: 't', text: 'some words here' });
    file.insert(r);
    file.db.exec('UPDATE contexts SET terms = NULL');
    const terms = termHashes(r.text);
    expect(file.setTerms([{ id: r.id, version: 2, terms }])).toBe(0);
    expect(file.setTerms([{ id: r.id, version: 1, terms }])).toBe(1);
    // Already there: not overwritten.
    expect(file.setTerms([{ id: r.id, version: 1, terms: new Uint32Array([1]) }])).toBe(0);
    file.close();
    expect(asHashes(storedRows(dir)[0]!.terms)).toEqual([...terms]);
  });

  it('an encrypted store keeps none: new rows, re-sealed rows and patched rows have no terms', async () => {
    const { dir, texts } = await filled(20);
    const dataKeys: DataKeys = { active: 'k1', keys: new Map([['k1', generateDataKey()]]) };
    const { store } = await openAt(dir, dataKeys);
    await store.upsert([makeRecord({ tenant: 't', text: 'sealed from the start ZED-9' })]);
    const [first] = [...texts.keys()];
    await store.patch('t', first!, { text: 'sealed by its patch QRS-5', vector: hashEmbed('sealed by its patch QRS-5', 384) });
    // Seal every row still in the clear (what `ctxd rekey` does).
    for (let cursor: string | null = null, first = true; first || cursor !== null; first = false) cursor = (await store.rekey(dataKeys, cursor, 8)).next;
    await store.close();
    const rows = storedRows(dir);
    expect(rows).toHaveLength(21);
    for (const row of rows) {
      expect(row.enc_kid).toBe('k1');
      expect(row.terms).toBeNull();
    }
    const again = await openAt(dir, dataKeys);
    expect(await firstFor(again.store, 't', 'ZED-9')).toBeDefined();
    expect(await firstFor(again.store, 't', 'QRS-5')).toBe(first);
    expect(await firstFor(again.store, 't', 'TICKET-1011')).toBe([...texts.keys()][11]);
    await again.store.close();
  });
});
