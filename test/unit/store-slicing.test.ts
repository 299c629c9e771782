/**
 * A big store_batch stays off the event loop: the dedup search, the text
 * analysis and the index update of 1,000 texts run in slices with a real turn
 * of the event loop (setImmediate) between them. Proved without timing: a
 * ticker re-arms itself with setImmediate, so it runs once per turn, and the
 * slices (spied calls) must have ticks between them. The results must be
 * those of one unsliced call.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import type { ContextRecord, SearchHit } from '../../src/domain/context.ts';
import { spaceOf } from '../../src/engine/text/registry.ts';
import type { TextAnalyzer } from '../../src/engine/text/text-analyzer.ts';
import { hashEmbed } from '../../src/engine/text/hash-embedder.ts';
import { EmbeddedStore, SCROLL_CHUNKS_PER_TURN } from '../../src/store/embedded/embedded-store.ts';
import { MemoryIndex, SCAN_ROWS_PER_TURN, SEARCH_SLICE_MAX_QUERIES, SEARCH_SLICE_ROWS } from '../../src/store/embedded/memory-index.ts';
import { Partition } from '../../src/store/embedded/partition.ts';
import { makeRecord, syntheticText } from '../helpers/records.ts';
import { openTestEngine, type TestEngine } from '../helpers/engine.ts';
import { removeDir, tempDataDir } from '../helpers/daemon.ts';

const DIMS = 384;
const ann = { threshold: 1_000_000, connectivity: 16, expansionAdd: 64, expansionSearch: 64 };

/** A log that a self-re-arming setImmediate writes 'tick' into once per turn of the event loop, until stopped. */
function turnLog(): { log: string[]; stop: () => void } {
  const log: string[] = [];
  let on = true;
  const tick = () => {
    if (!on) return;
    log.push('tick');
    setImmediate(tick);
  };
  setImmediate(tick);
  return { log, stop: () => (on = false) };
}

/** How many `mark` entries the log has, after checking that every two of them have a tick between. */
function slicesWithTurnsBetween(log: readonly string[], mark: string): number {
  let slices = 0;
  let tickSince = true;
  for (const e of log) {
    if (e === 'tick') tickSince = true;
    else if (e === mark) {
      expect(tickSince, `a turn of the event loop between slice ${slices} and ${slices + 1}`).toBe(true);
      slices++;
      tickSince = false;
    }
  }
  return slices;
}

/** An embedded store (hash embedder, relaxed durability) on a fresh data dir, closed and removed after `use`. */
async function withStore(use: (store: EmbeddedStore) => Promise<void>): Promise<void> {
  const dir = tempDataDir();
  const store = new EmbeddedStore({ dataDir: dir, space: spaceOf(loadConfig({ env: { CTXD_EMBEDDER_KIND: 'hash' } })), durability: 'relaxed', ann });
  await store.open();
  try {
    await use(store);
  } finally {
    await store.close();
    removeDir(dir);
  }
}

const rowOf = (r: ContextRecord) => {
  const { text, vector, terms: _terms, ...meta } = r;
  return { meta, vector, text, textBytes: Buffer.byteLength(text) };
};
const ids = (hits: SearchHit[][]) => hits.map((h) => h.map((x) => [x.meta.id, x.similarity]));

describe('memory index: a many-query search in slices', () => {
  it('sizes slices by the rows a query scans, and yields a turn between them', async () => {
    const index = new MemoryIndex(DIMS, ann);
    expect(index.queriesPerCall('a', { levels: [3] })).toBe(SEARCH_SLICE_MAX_QUERIES); // nothing to scan
    index.insertMany(Array.from({ length: 4096 }, (_, i) => rowOf(makeRecord({ tenant: 'a', text: syntheticText(i, 10), session: `s${i % 4}` }))));
    // 4,096 rows: 16 queries per call; a filter scanned row by row in JS costs 4 times as much, over the rows the
    // field index names (session s1: a quarter of them) or every row.
    expect(index.queriesPerCall('a', { levels: [3], aliveAt: 1 })).toBe(SEARCH_SLICE_ROWS / 4096);
    expect(index.queriesPerCall('a', { levels: [3], session: 's1' })).toBe(SEARCH_SLICE_ROWS / 1024 / 4);
    expect(index.queriesPerCall('a', { levels: [3], since: 1 })).toBe(SEARCH_SLICE_ROWS / 4096 / 4);

    const queries = Array.from({ length: 100 }, (_, i) => ({ vector: hashEmbed(syntheticText(i * 7, 10), DIMS) }));
    for (const filter of [{ levels: [3 as const] }, { levels: [3 as const], session: 's1' }]) {
      const whole = index.searchMany('a', queries, filter, 1);
      const turns = turnLog();
      const spy = vi.spyOn(index, 'searchMany').mockImplementation(function (this: MemoryIndex, ...args) {
        turns.log.push('call');
        return MemoryIndex.prototype.searchMany.apply(this, args);
      });
      const sliced = await index.searchManySliced('a', queries, filter, 1);
      turns.stop();
      spy.mockRestore();
      const per = index.queriesPerCall('a', filter);
      expect(slicesWithTurnsBetween(turns.log, 'call')).toBe(Math.ceil(queries.length / per));
      expect(ids(sliced)).toEqual(ids(whole));
    }
  });
});

describe('partition: vectors grow in place', () => {
  it('reserves nothing while small, then keeps one buffer from 5,000 to 20,000 rows (no doubling copies every vector), and finds every row', () => {
    const p = new Partition(DIMS, ann, { background: false, pending: 0, halving: 0 });
    const buffer = () => (p as unknown as { vectors: { floats: Float32Array } }).vectors.floats.buffer as ArrayBuffer & { resizable: boolean };
    expect(buffer().resizable).toBe(false); // a mapping per tiny partition would run out of vm.max_map_count
    const records = Array.from({ length: 20_000 }, (_, i) => makeRecord({ tenant: 'a', text: syntheticText(i, 10) }));
    let reserved: (ArrayBuffer & { resizable: boolean }) | null = null;
    for (let at = 0; at < records.length; at += 1000) {
      const chunk = records.slice(at, at + 1000);
      p.addMany(chunk.map((r, i) => ({ meta: rowOf(r).meta, key: at + i + 1, textBytes: 10, terms: new Uint32Array() })), chunk.map((r) => r.vector), chunk.map(() => new Uint32Array()));
      if (at + 1000 === 5000) reserved = buffer();
    }
    expect(reserved?.resizable).toBe(true);
    // Room for 5,000,000 rows of 384 dimensions before a copy (one at ~700,000 held the event loop 2.7 s).
    expect((reserved as unknown as { maxByteLength: number }).maxByteLength).toBeGreaterThanOrEqual(5_000_000 * 384 * 4);
    expect(buffer()).toBe(reserved);
    for (const n of [0, 8191, 8192, 19_999]) expect(p.search({ vector: records[n]!.vector }, {}, 1)[0]!.meta.id).toBe(records[n]!.id);
  });
});

describe('embedded store: a big committed write enters the index in slices', () => {
  it('applies an upsert of 200 rows in slices a turn apart, resolves after the last, and applies later writes after it', async () => {
    await withStore(async (store) => {
      const turns = turnLog();
      const sizes: number[] = [];
      const spy = vi.spyOn(store.index, 'insertMany').mockImplementation(function (this: MemoryIndex, items) {
        turns.log.push('call');
        sizes.push(items.length);
        return MemoryIndex.prototype.insertMany.call(this, items);
      });
      const big = Array.from({ length: 200 }, (_, i) => makeRecord({ tenant: 'a', text: syntheticText(i, 10) }));
      const late = makeRecord({ tenant: 'a', text: 'submitted after the big write' });
      let bigDone = false;
      const first = store.upsert(big).then(() => {
        bigDone = true;
        // Every row of the write is in the index once its promise resolves.
        expect(store.index.size).toBeGreaterThanOrEqual(200);
      });
      const second = store.upsert([late]);
      await Promise.all([first, second]);
      turns.stop();
      spy.mockRestore();
      expect(bigDone).toBe(true);
      // 200 rows in slices of 32, a turn apart; then the later write (same group or the next), in commit order.
      expect(sizes).toEqual([32, 32, 32, 32, 32, 32, 8, 1]);
      const bigSlices = turns.log.slice(0, turns.log.lastIndexOf('call'));
      expect(slicesWithTurnsBetween(bigSlices, 'call')).toBe(7);
      expect(store.index.size).toBe(201);
      expect((await store.get('a', [late.id, big[199]!.id])).map((d) => d.id)).toEqual([late.id, big[199]!.id]);
    });
  });
});

describe('engine: one big store_batch', () => {
  const config = loadConfig({ env: { CTXD_EMBEDDER_KIND: 'hash' } });
  let t: TestEngine;
  let text: TextAnalyzer;
  let store: EmbeddedStore;

  beforeAll(async () => {
    t = await openTestEngine(config, ann);
    ({ text, store } = t);
  });
  afterAll(() => t.close());

  it('analyses, searches and decides in slices a turn apart, with the dedup results of one pass', async () => {
    const { engine } = t;
    // 4,096 stored contexts: the dedup search of 300 texts is ~19 calls of 16 queries.
    await store.upsert(Array.from({ length: 4096 }, (_, i) => makeRecord({ tenant: 't', text: syntheticText(i, 12) })));
    const stored = syntheticText(7, 12);
    const long = (i: number) => syntheticText(100_000 + i, 300).slice(0, 2048);
    const items = Array.from({ length: 300 }, (_, i) => ({ text: long(i), level: 3 as const }));
    items[10] = { text: stored, level: 3 }; // already stored: merges into it
    items[20] = { text: items[5]!.text, level: 3 }; // twin of an earlier item of the batch

    const turns = turnLog();
    const search = vi.spyOn(store.index, 'searchMany').mockImplementation(function (this: MemoryIndex, ...args) {
      turns.log.push('search');
      return MemoryIndex.prototype.searchMany.apply(this, args);
    });
    const analyze = vi.spyOn(text, 'analyze').mockImplementation(function (this: TextAnalyzer, texts) {
      turns.log.push('analyze');
      return Object.getPrototypeOf(text).analyze.call(this, texts);
    });
    const results = await engine.store('t', items);
    turns.stop();
    search.mockRestore();
    analyze.mockRestore();

    // ~600 KB of text: requests of ~128 KB to the analyzer, a turn apart.
    expect(slicesWithTurnsBetween(turns.log, 'analyze')).toBeGreaterThanOrEqual(4);
    // The nearest-neighbour search: no call covers more than SEARCH_SLICE_ROWS row visits.
    expect(slicesWithTurnsBetween(turns.log, 'search')).toBeGreaterThanOrEqual(Math.ceil(300 / (SEARCH_SLICE_ROWS / 4096)));

    // Dedup as one pass would decide it, in order.
    expect(results).toHaveLength(300);
    const storedMatch = (await store.find('t', { levels: [3] }, 100_000)).length;
    expect(storedMatch).toBe(4096 + 298);
    expect(results[10]!.deduplicated).toBe(true);
    expect((await store.get('t', [results[10]!.id]))[0]!.text).toBe(stored);
    expect(results[20]).toMatchObject({ id: results[5]!.id, deduplicated: true });
    expect(results.filter((r) => !r.deduplicated)).toHaveLength(298);
    expect(new Set(results.map((r) => r.id)).size).toBe(299);
    const docs = await store.get('t', [results[0]!.id, results[299]!.id]);
    expect(docs.map((d) => d.text)).toEqual([items[0]!.text, items[299]!.text]);
  }, 60_000);
});

describe('embedded store: a scroll yields a turn now and then', () => {
  it('reads a tenant that matches nothing in groups of SCROLL_CHUNKS_PER_TURN chunks, a turn apart, and pages as one pass would', async () => {
    await withStore(async (store) => {
      const records = Array.from({ length: 6000 }, (_, i) => makeRecord({ tenant: 'a', text: syntheticText(i, 6), session: i === 5990 ? 'rare' : 's' }));
      for (let at = 0; at < records.length; at += 1000) await store.upsert(records.slice(at, at + 1000));
      const db = (store as unknown as { db: { idsAfter: (tenant: string, after: string, limit: number) => string[] } }).db;
      const original = db.idsAfter.bind(db);
      const turns = turnLog();
      const spy = vi.spyOn(db, 'idsAfter').mockImplementation((tenant, after, limit) => {
        turns.log.push('chunk');
        return original(tenant, after, limit);
      });
      const page = await store.scroll('a', { session: 'nobody' }, null, 100);
      await new Promise((resolve) => setImmediate(resolve)); // the passes apart
      const rare = await store.scroll('a', { session: 'rare' }, null, 100);
      turns.stop();
      spy.mockRestore();
      expect(page).toEqual({ items: [], next: null });
      expect(rare.items.map((m) => m.id)).toEqual([records[5990]!.id]);
      // 12 chunks of 512 ids per pass: a turn before the 5th and the 9th of each, none within a group.
      const chunks = turns.log.filter((e) => e === 'chunk').length;
      expect(chunks).toBe(2 * Math.ceil(6000 / 512));
      let group = 0;
      let sinceTick = 0;
      for (const e of turns.log) {
        if (e === 'tick') {
          if (sinceTick > 0) group++;
          sinceTick = 0;
          continue;
        }
        sinceTick++;
        expect(sinceTick, `chunks in group ${group}`).toBeLessThanOrEqual(SCROLL_CHUNKS_PER_TURN);
      }
    });
  });

  it('scans a tenant (count, stats, find, delete_where) SCAN_ROWS_PER_TURN rows a turn, over the rows present when it began and still there', async () => {
    const index = new MemoryIndex(DIMS, ann);
    const n = 2 * SCAN_ROWS_PER_TURN + 100;
    const records = Array.from({ length: n }, (_, i) => makeRecord({ tenant: 'a', text: `row ${i}`, session: `s${i % 2}` }));
    index.insertMany(records.map(rowOf));
    const visited: string[] = [];
    let turns = 0;
    // Between turns: removes from the front (swap-remove moves the last rows there), adds and updates.
    const churn = async () => {
      turns++;
      for (let i = 0; i < 50; i++) index.remove(records[turns * 1000 + i]!.id);
      index.insertMany(Array.from({ length: 50 }, (_, i) => rowOf(makeRecord({ tenant: 'a', text: `late ${turns} ${i}` }))));
      index.put({ ...rowOf(records[n - 1]!).meta, tags: ['late'] });
      // A level move (the row leaves L3: not reported at its old level), and a new text (the row is in L3 under a
      // new key: reported once, as it is now).
      const moved = rowOf(records[1100 + turns]!);
      index.put({ ...moved.meta, level: 2 }, { content: { vector: moved.vector, text: moved.text } });
      const rewritten = rowOf(records[1200 + turns]!);
      index.put({ ...rewritten.meta, version: 2 }, { textBytes: 3, content: { vector: rewritten.vector, text: 'new' } });
    };
    await index.scan('a', { levels: [3] }, (m) => void visited.push(m.id), { turn: churn });
    expect(turns).toBe(3); // one before each slice, the first too
    // Every row present at the start, once, but those removed or moved away before the scan reached them (at the
    // first turn, rows 1,000–1,049 and 1,101); row 1,201, rewritten then, once; none added meanwhile.
    const removedFirst = new Set([...records.slice(1000, 1050), records[1101]!].map((r) => r.id));
    expect(visited.sort()).toEqual(records.map((r) => r.id).filter((id) => !removedFirst.has(id)).sort());
    expect(index.meta('a', records[1201]!.id)?.version).toBe(2);
    // A field index narrows the rows, and a visit returning false ends the scan.
    const s1: string[] = [];
    await index.scan('a', { session: 's1' }, (m) => s1.push(m.id) < 10);
    expect(s1).toHaveLength(10);
    // A filter comparing tags counts each row's tags: rows of 7 tags make slices of SCAN_ROWS_PER_TURN / 8 rows, so
    // half SCAN_ROWS_PER_TURN rows are 4 slices, a turn before each.
    const tagged = new MemoryIndex(DIMS, ann);
    const tags = Array.from({ length: 7 }, (_, i) => `t${i}`);
    tagged.insertMany(Array.from({ length: SCAN_ROWS_PER_TURN / 2 }, (_, i) => rowOf(makeRecord({ tenant: 'a', text: `row ${i}`, tags, vector: records[0]!.vector }))));
    let tagTurns = 0;
    let matched = 0;
    await tagged.scan('a', { tagsAll: ['t6'] }, () => void matched++, { turn: async () => void tagTurns++ });
    expect([tagTurns, matched]).toEqual([4, SCAN_ROWS_PER_TURN / 2]);
  });

  it('runs one slice a turn of the event loop across every scan at once, each in the order it asked', async () => {
    const index = new MemoryIndex(DIMS, ann);
    const n = 2 * SCAN_ROWS_PER_TURN;
    const vector = hashEmbed('one vector for every row', DIMS);
    for (const tenant of ['a', 'b', 'c']) index.insertMany(Array.from({ length: n }, (_, i) => rowOf(makeRecord({ tenant, text: `row ${i}`, vector }))));
    const turns = turnLog();
    const done: string[] = [];
    // Three tenants' scans at once: with a setImmediate each, every turn would run three slices.
    await Promise.all(
      ['a', 'b', 'c'].map((tenant) =>
        index.scan(tenant, { since: 0 }, (m) => void turns.log.push(m.tenant)).then(() => done.push(tenant)),
      ),
    );
    turns.stop();
    const perTurn: number[] = [];
    let rows = 0;
    for (const e of turns.log) {
      if (e !== 'tick') rows++;
      else if (rows > 0) perTurn.push(rows), (rows = 0);
    }
    if (rows > 0) perTurn.push(rows);
    expect(perTurn).toEqual(Array(6).fill(SCAN_ROWS_PER_TURN));
    expect(done).toEqual(['a', 'b', 'c']);
  });

  it('runs one scan of a tenant at a time: a waiting scan has not copied its rows', async () => {
    const index = new MemoryIndex(DIMS, ann);
    const vector = hashEmbed('one vector for every row', DIMS);
    index.insertMany(Array.from({ length: 2 * SCAN_ROWS_PER_TURN + 100 }, (_, i) => rowOf(makeRecord({ tenant: 'a', text: `row ${i}`, vector }))));
    const copies = vi.spyOn(Partition.prototype, 'rowsToScan');
    const copiesAtEachTurn: number[] = [];
    const turn = async () => {
      copiesAtEachTurn.push(copies.mock.calls.length);
      await new Promise((resolve) => setImmediate(resolve));
    };
    let visited = 0;
    await Promise.all([0, 1, 2].map(() => index.scan('a', { since: 0 }, () => void visited++, { turn })));
    copies.mockRestore();
    expect(copiesAtEachTurn).toEqual([1, 1, 1, 2, 2, 2, 3, 3, 3]);
    expect(visited).toBe(3 * (2 * SCAN_ROWS_PER_TURN + 100));
    // A visit that throws ends its scan only, and the next scan of the tenant runs.
    await expect(index.scan('a', { since: 0 }, () => { throw new Error('visit failed'); })).rejects.toThrow('visit failed');
    let after = 0;
    await index.scan('a', { since: 0 }, () => void after++);
    expect(after).toBe(2 * SCAN_ROWS_PER_TURN + 100);
  });

  it('a scan of one slice, and GC\'s scans, do not wait behind a tenant\'s long scans', async () => {
    const index = new MemoryIndex(DIMS, ann);
    const vector = hashEmbed('one vector for every row', DIMS);
    const n = 2 * SCAN_ROWS_PER_TURN;
    index.insertMany(Array.from({ length: n }, (_, i) => rowOf(makeRecord({ tenant: 'a', text: `row ${i}`, vector, session: i < 10 ? 'small' : 'big' }))));
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    // A long scan holding the tenant's gate at its first slice, and another waiting behind it.
    const long = index.scan('a', { since: 0 }, () => {}, { turn: () => held });
    let queuedDone = false;
    const queued = index.scan('a', { since: 0 }, () => {}).then(() => (queuedDone = true));
    let small = 0;
    await index.scan('a', { session: 'small' }, () => void small++); // one slice: through the live rows, now
    let gc = 0;
    await index.scan('a', { minAccessCount: 0 }, () => void gc++, { background: true });
    expect([small, gc, queuedDone]).toEqual([10, n, false]);
    release();
    await Promise.all([long, queued]);
    expect(queuedDone).toBe(true);
  });

  it('serves tenants in rotation: one with three scans at once does not take the turns of one with a single scan', async () => {
    const index = new MemoryIndex(DIMS, ann);
    const n = 2 * SCAN_ROWS_PER_TURN;
    const vector = hashEmbed('one vector for every row', DIMS);
    for (const tenant of ['a', 'b']) index.insertMany(Array.from({ length: n }, (_, i) => rowOf(makeRecord({ tenant, text: `row ${i}`, vector }))));
    const turns = turnLog();
    await Promise.all(['a', 'a', 'a', 'b'].map((tenant) => index.scan(tenant, { since: 0 }, (m) => void turns.log.push(m.tenant))));
    turns.stop();
    // The tenant of each turn's slice: a's three scans take turns with b's one, not three to one.
    const order: string[] = [];
    let last = 'tick';
    for (const e of turns.log) {
      if (e !== 'tick' && last === 'tick') order.push(e);
      last = e;
    }
    expect(order).toEqual(['a', 'b', 'a', 'b', 'a', 'a', 'a', 'a']);
  });

  it('count, stats, find and delete_where of a big tenant take turns of the event loop', async () => {
    await withStore(async (store) => {
      const n = 2 * SCAN_ROWS_PER_TURN + 100;
      const records = Array.from({ length: n }, (_, i) => makeRecord({ tenant: 'a', text: `row ${i}`, session: i === 7 ? 'gone' : 's' }));
      for (let at = 0; at < n; at += 4000) await store.upsert(records.slice(at, at + 4000));
      const turnsDuring = async <T>(work: () => Promise<T>): Promise<[T, number]> => {
        const turns = turnLog();
        const out = await work();
        turns.stop();
        return [out, turns.log.length];
      };
      const [count, countTurns] = await turnsDuring(() => store.count('a', { since: 0 }));
      expect([count, countTurns >= 2]).toEqual([n, true]);
      const [stats, statsTurns] = await turnsDuring(() => store.stats('a', Date.now()));
      expect([stats.perLevel[3], statsTurns >= 2]).toEqual([n, true]);
      const [found, findTurns] = await turnsDuring(() => store.find('a', { session: 'nobody', since: 0 }, 10));
      expect([found, findTurns]).toEqual([[], 0]); // the field index: nothing to read
      const [none, noneTurns] = await turnsDuring(() => store.find('a', { minAccessCount: 1 }, 10));
      expect([none, noneTurns >= 2]).toEqual([[], true]);
      expect(await store.deleteWhere('a', { session: 'gone', since: 0 })).toBe(1);
      expect(await store.count('a', {})).toBe(n - 1);
    });
  });
});
