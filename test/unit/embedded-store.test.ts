import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedStore } from '../../src/store/embedded/embedded-store.ts';
import { TextCache } from '../../src/store/embedded/text-cache.ts';
import type { VectorStore } from '../../src/store/vector-store.ts';
import { vectorStoreContract } from '../contract/vector-store.contract.ts';
import { removeDir, tempDataDir } from '../helpers/daemon.ts';
import { hashEmbed, hashSpace } from '../../src/engine/text/hash-embedder.ts';
import { makeRecord, syntheticText } from '../helpers/records.ts';
import { generateDataKey, type DataKeys } from '../../src/store/encryption/data-keys.ts';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { roundedToHalf } from '../../src/store/embedded/half-float.ts';
import type { GraphFilesEvent } from '../../src/store/embedded/embedded-store.ts';
import { SNAPSHOT_FILE } from '../../src/store/embedded/index-snapshot.ts';

const dirs: string[] = [];
const ann = { threshold: 20_000, connectivity: 16, expansionAdd: 128, expansionSearch: 128 };

/** With the daemon's default cache of texts, so the contract runs through it. */
const TEXT_CACHE_BYTES = 64 * 1024 * 1024;

function openAt(dataDir: string, annThreshold = ann.threshold, dataKeys: DataKeys | null = null, textCacheBytes = TEXT_CACHE_BYTES): Promise<EmbeddedStore> {
  const s = new EmbeddedStore({ dataDir, space: hashSpace(384), durability: 'relaxed', ann: { ...ann, threshold: annThreshold }, dataKeys, textCacheBytes });
  return s.open().then(() => s);
}

const where = new WeakMap<VectorStore, string>();

vectorStoreContract('embedded', {
  async open() {
    const dir = tempDataDir();
    dirs.push(dir);
    const s = await openAt(dir);
    where.set(s, dir);
    return s;
  },
  async reopen(store) {
    await store.close();
    const s = await openAt(where.get(store)!);
    where.set(s, where.get(store)!);
    return s;
  },
});

// The same contract with every row sealed (encryption at rest): sealing must change nothing a caller sees.
const keys: DataKeys = { active: 'k1', keys: new Map([['k1', generateDataKey()]]) };
vectorStoreContract('embedded, encrypted at rest', {
  async open() {
    const dir = tempDataDir();
    dirs.push(dir);
    const s = await openAt(dir, ann.threshold, keys);
    where.set(s, dir);
    return s;
  },
  async reopen(store) {
    await store.close();
    const s = await openAt(where.get(store)!, ann.threshold, keys);
    where.set(s, where.get(store)!);
    return s;
  },
});

afterAll(() => dirs.forEach(removeDir));

describe('embedded store: the cache of texts', () => {
  const rec = (tenant: string, text: string) => makeRecord({ tenant, text });

  it('serves texts it keeps, never an old version, never to another tenant, and reads what it evicted', async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    const s = await openAt(dir);
    const a = rec('t1', 'the ferry leaves at noon');
    const b = rec('t1', 'the bridge closes at dusk');
    await s.upsert([a, b]);
    expect((await s.get('t1', [a.id, b.id])).map((d) => d.text)).toEqual([a.text, b.text]);
    expect(s.texts.stats).toMatchObject({ hits: 2, misses: 0 });
    // Another tenant asking for the id gets nothing, and the cache is not asked on its behalf.
    expect(await s.get('t2', [a.id])).toEqual([]);
    await s.patch('t1', a.id, { tags: ['boats'] });
    expect((await s.get('t1', [a.id]))[0]!).toMatchObject({ text: a.text, tags: ['boats'] });
    await s.patch('t1', a.id, { text: 'the ferry leaves at one', ts: a.ts + 1 });
    expect((await s.get('t1', [a.id]))[0]!.text).toBe('the ferry leaves at one');
    await s.delete('t1', [b.id]);
    expect(await s.get('t1', [b.id])).toEqual([]);
    await s.close();

    // A cache of a few entries: texts are evicted and read again from SQLite, each its own.
    const small = await openAt(dir, ann.threshold, null, 2000);
    const many = Array.from({ length: 50 }, (_, i) => rec('t1', `${syntheticText(i, 12)} #${i}`));
    await small.upsert(many);
    const docs = await small.get('t1', many.map((r) => r.id));
    expect(docs.map((d) => d.text)).toEqual(many.map((r) => r.text));
    expect(small.texts.stats.misses).toBeGreaterThan(40);
    expect(small.texts.bytes).toBeLessThanOrEqual(2000);
    expect(small.texts.entries).toBeGreaterThan(0);
    await small.close();
  });

  it('answers a look-up only for the tenant and the version it was kept with', () => {
    const c = new TextCache(1024);
    c.set('t1', 'c1', 3, 'kept text');
    expect(c.get('t1', 'c1', 3)).toBe('kept text');
    expect(c.get('t1', 'c1', 4)).toBeUndefined();
    expect(c.get('t2', 'c1', 3)).toBeUndefined();
    c.carry('t1', 'c1', 3, 4);
    expect(c.get('t1', 'c1', 4)).toBe('kept text');
    expect(c.get('t1', 'c1', 3)).toBeUndefined();
    c.carry('t1', 'c1', 3, 5); // from a version it does not hold: nothing
    expect(c.get('t1', 'c1', 5)).toBeUndefined();
    c.delete('c1');
    expect(c.get('t1', 'c1', 4)).toBeUndefined();
    expect(new TextCache(0).bytes).toBe(0);
  });

  it('keeps no text with encryption at rest', async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    const s = await openAt(dir, ann.threshold, keys);
    const a = rec('t1', 'a sealed note about the vault');
    await s.upsert([a]);
    expect((await s.get('t1', [a.id]))[0]!.text).toBe(a.text);
    expect(s.texts.entries).toBe(0);
    expect(s.texts.stats.hits).toBe(0);
    await s.close();
  });
});

describe('embedded store: restart', () => {
  it('opens once the rows are read; big partitions get their graphs after, searched exactly meanwhile, and it says so', async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    const first = await openAt(dir, 1_000_000_000);
    const records = Array.from({ length: 6_000 }, (_, j) => makeRecord({ tenant: 'a', text: syntheticText(j, 10) }));
    await first.upsert(records);
    await first.close();

    let built!: () => void;
    const graphsBuilt = new Promise<void>((r) => (built = r));
    const s = new EmbeddedStore({ dataDir: dir, space: hashSpace(384), durability: 'relaxed', ann: { ...ann, threshold: 5_000 }, onGraphsBuilt: () => built() });
    await s.open();
    // Open, with the graph still to build: exact search answers, and health names what is left.
    expect(s.index.usesGraph('a', 3)).toBe(false);
    expect(s.health().detail).toMatch(/6000 records; read from the index snapshot; ANN graphs building, \d+ rows to go \(exact search meanwhile\)/);
    const hit = await s.search('a', { vector: hashEmbed(syntheticText(42, 10), 384) }, {}, 1);
    expect(hit[0]!.similarity).toBeCloseTo(1, 5);
    await graphsBuilt;
    expect(s.index.usesGraph('a', 3)).toBe(true);
    expect(s.health().detail).toBe('6000 records; read from the index snapshot');
    // Reported once the vectors are switched to halves too (their slices run after the graph is complete), so memory
    // measured then is memory at rest: every row, the first loaded the last switched, holds its halves.
    for (const r of [records[0]!, records[5_999]!]) expect(Array.from(s.index.vector('a', r.id)!)).toEqual(Array.from(roundedToHalf(r.vector)));
    await s.close();
  });
});

describe('embedded store: HNSW above the threshold', () => {
  it('finds recall@10 >= 0.95 against exact search, on 20,000 generated contexts', async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    const s = await openAt(dir, 5_000);
    const n = 20_000;
    for (let i = 0; i < n; i += 2000) {
      await s.upsert(Array.from({ length: 2000 }, (_, j) => makeRecord({ tenant: 'a', text: syntheticText(i + j, 10) })));
      if (i + 2000 < 5_000 || i >= 5_000) continue;
      // Crossing the threshold while open builds the graph in steps between other work; exact search serves meanwhile.
      // (Asked right after the crossing write: the writes after it, applied in slices, give the steps turns to finish.)
      expect(s.index.graphBuild.pending).toBeGreaterThan(0);
      const exactMeanwhile = await s.search('a', { vector: hashEmbed(syntheticText(42, 10), 384) }, {}, 1);
      expect(exactMeanwhile[0]!.similarity).toBeCloseTo(1, 5);
    }
    for (let i = 0; i < 10_000 && !s.index.usesGraph('a', 3); i++) await new Promise((r) => setImmediate(r));
    expect(s.index.usesGraph('a', 3)).toBe(true);
    let found = 0;
    const queries = 200;
    for (let q = 0; q < queries; q++) {
      const v = hashEmbed(syntheticText(1_000_000 + q, 4), 384);
      const exact = new Set(s.index.exactSearch('a', v, {}, 10).map((h) => h.meta.id));
      const approx = await s.search('a', { vector: v }, {}, 10);
      found += approx.filter((h) => exact.has(h.meta.id)).length;
    }
    const recall = found / (queries * 10);
    expect(recall).toBeGreaterThanOrEqual(0.95);

    // A filter matching one record in 20,000 still finds it: the graph falls back to the exact scan.
    const needle = makeRecord({ tenant: 'a', text: syntheticText(5, 10), tags: ['needle'] });
    await s.upsert([needle]);
    const hits = await s.search('a', { vector: hashEmbed('something else entirely', 384) }, { tagsAny: ['needle'] }, 10);
    expect(hits.map((h) => h.meta.id)).toEqual([needle.id]);

    // An outlier (words nothing else has) is unreachable by the graph walk; its words make it a candidate.
    const outlier = makeRecord({ tenant: 'a', text: 'the vault combination is 4711 behind the painting' });
    await s.upsert([outlier]);
    const q = 'vault combination painting';
    const withText = await s.search('a', { vector: hashEmbed(q, 384), text: q }, {}, 10);
    expect(withText[0]!.meta.id).toBe(outlier.id);
    // Exact, or the graph's half-precision distance when the walk found it too.
    expect(withText[0]!.similarity).toBeCloseTo(s.index.exactSearch('a', hashEmbed(q, 384), {}, 1)[0]!.similarity, 3);
    await s.close();
  }, 120_000);

  it('holds a served partition\'s vectors in half precision; exports and level moves take the float32s SQLite holds', async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    const s = await openAt(dir, 2_000);
    const records = Array.from({ length: 3_000 }, (_, i) => makeRecord({ tenant: 'a', text: syntheticText(i, 10) }));
    for (let i = 0; i < records.length; i += 500) await s.upsert(records.slice(i, i + 500));
    for (let i = 0; i < 10_000 && !s.index.usesGraph('a', 3); i++) await new Promise((r) => setImmediate(r));
    expect(s.index.usesGraph('a', 3)).toBe(true);
    const r = records[1234]!;
    // The index: halves once the switch's slices (a turn each, vector-rows.ts) reach the row. An export: the vector as stored.
    const halved = () => Array.from(s.index.vector('a', r.id)!).every((x, d) => x === roundedToHalf(r.vector)[d]);
    for (let i = 0; i < 100 && !halved(); i++) await new Promise((r) => setImmediate(r));
    expect(Array.from(s.index.vector('a', r.id)!)).toEqual(Array.from(roundedToHalf(r.vector)));
    expect(Array.from((await s.vectors('a', [r.id])).get(r.id)!)).toEqual(Array.from(r.vector));
    // A move to a small level's partition (float32, searched exactly) takes the stored vector, not the rounded one.
    await s.patch('a', r.id, { level: 2 });
    expect(Array.from(s.index.vector('a', r.id)!)).toEqual(Array.from(r.vector));
    const moved = await s.search('a', { vector: r.vector }, { levels: [2] }, 1);
    expect(moved[0]!.meta.id).toBe(r.id);
    expect(moved[0]!.similarity).toBeCloseTo(1, 6);
    // The graph saved at close keeps every row at the next open from SQLite (no index snapshot): the checks it saved
    // (of halves) match the float32s the rows load with.
    await s.close();
    rmSync(join(dir, SNAPSHOT_FILE), { force: true });
    const events: GraphFilesEvent[] = [];
    const again = new EmbeddedStore({ dataDir: dir, space: hashSpace(384), durability: 'relaxed', ann: { ...ann, threshold: 2_000 }, onGraphFiles: (e) => events.push(e) });
    await again.open();
    expect(events).toContainEqual(expect.objectContaining({ kind: 'loaded', graphs: 1, rowsReused: 2_999, rowsToAdd: 0 }));
    expect(again.index.usesGraph('a', 3)).toBe(true);
    // Shrunk below the threshold, the partition is searched exactly again, on float32s made from its halves.
    await again.delete('a', records.slice(0, 1_500).map((x) => x.id));
    expect(again.index.usesGraph('a', 3)).toBe(false);
    const kept = records[2_500]!;
    const exact = await again.search('a', { vector: kept.vector }, { levels: [3] }, 3);
    expect(exact[0]!.meta.id).toBe(kept.id);
    const halves = roundedToHalf(kept.vector);
    expect(exact[0]!.similarity).toBeCloseTo(kept.vector.reduce((sum, x, d) => sum + x * halves[d]!, 0), 5);
    await again.close();
  }, 120_000);
});
