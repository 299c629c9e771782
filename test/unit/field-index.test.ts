/**
 * Selective filters through the field index (field-index.ts): a retrieve or a count filtered by session, agent, tags
 * or a scalar `where` value reads only the rows holding it, and finds exactly what a brute force over every row
 * finds, through updates, removes, level moves and new rows, in a partition its graph serves.
 */
import { describe, expect, it } from 'vitest';
import type { ContextMeta, ContextRecord, RecordFilter } from '../../src/domain/context.ts';
import { matchesFilter } from '../../src/domain/filter.ts';
import { hashEmbed } from '../../src/engine/text/hash-embedder.ts';
import { FieldIndex } from '../../src/store/embedded/field-index.ts';
import { BUILD_ROWS_PER_SLICE, MAX_WHERE_KEYS, MetadataIndex } from '../../src/store/embedded/metadata-index.ts';
import { MemoryIndex } from '../../src/store/embedded/memory-index.ts';
import { nextSlice } from '../../src/store/embedded/slice-queue.ts';
import { makeRecord, syntheticText } from '../helpers/records.ts';

const DIMS = 384;
const ROWS = 3000;
const T = 'tenant';
const ann = { threshold: 2000, connectivity: 16, expansionAdd: 64, expansionSearch: 128 };

function recordOf(i: number): ContextRecord {
  return makeRecord({
    tenant: T,
    text: `${syntheticText(i, 16)} #${i}`,
    session: `s${i % 300}`,
    agent: i % 5 === 0 ? null : `a${i % 50}`,
    tags: i % 3 === 0 ? [] : [`t${i % 40}`, `u${i % 7}`],
    metadata: i % 4 === 0 ? {} : { team: `team${i % 100}`, n: i % 11, flag: i % 2 === 0, nested: { x: i % 3 } },
  });
}

const sizeOfHolders = (found: { holders: unknown } | null) => {
  const h = found?.holders;
  return h === undefined ? 0 : typeof h === 'number' ? 1 : Array.isArray(h) ? h.length : (h as Set<number>).size;
};

function metaOf(r: ContextRecord): ContextMeta {
  const { text: _t, vector: _v, terms: _h, ...meta } = r;
  return meta;
}

/**
 * Every meta counts how often its level is read: matchesFilter reads it first whenever a filter names levels, so the
 * count is how many rows a filtered search or count looked at.
 */
function counted(meta: ContextMeta, reads: { n: number }): ContextMeta {
  const level = meta.level;
  return Object.defineProperty({ ...meta }, 'level', { get: () => (reads.n++, level), enumerable: true });
}

function indexOf(records: ContextRecord[], reads = { n: 0 }): MemoryIndex {
  const index = new MemoryIndex(DIMS, ann);
  index.insertMany(records.map((r) => ({ meta: counted(metaOf(r), reads), textBytes: Buffer.byteLength(r.text), vector: r.vector, text: r.text })));
  expect(index.usesGraph(T, 3)).toBe(true);
  return index;
}

const live = (f: Omit<RecordFilter, 'levels' | 'aliveAt'>): RecordFilter => ({ levels: [3], aliveAt: Date.now(), ...f });
const query = { vector: hashEmbed('deploy the payments service', DIMS), text: '' };

const FILTERS: RecordFilter[] = [
  live({ session: 's7' }),
  live({ session: 'nobody' }),
  live({ agent: 'a3' }),
  live({ agent: 'nobody' }),
  live({ tagsAny: ['t3', 'u2'] }),
  live({ tagsAny: ['t1', 't1', 'none'] }),
  live({ tagsAll: ['t5', 'u5'] }),
  live({ where: { team: 'team42' } }),
  live({ where: { n: 4 } }),
  live({ where: { n: '4' } }),
  live({ where: { flag: true } }),
  live({ where: { nested: { x: 1 } } }),
  live({ where: { team: 'team42', n: 9 } }),
  live({ session: 's8', tagsAny: ['u1'] }),
];

function expectSameAsBruteForce(index: MemoryIndex, records: readonly ContextRecord[]): void {
  for (const filter of FILTERS) {
    const expected = records.filter((r) => matchesFilter(metaOf(r), filter)).map((r) => r.id);
    expect(index.count(T, filter), JSON.stringify(filter)).toBe(expected.length);
    const hits = index.search(T, query, filter, 50);
    for (const h of hits) expect(matchesFilter(h.meta, filter)).toBe(true);
    for (let i = 1; i < hits.length; i++) expect(hits[i - 1]!.similarity).toBeGreaterThanOrEqual(hits[i]!.similarity);
    // Fewer matches than k: every one of them, whatever path served the search.
    if (expected.length <= 50) expect(hits.map((h) => h.meta.id).sort(), JSON.stringify(filter)).toEqual([...expected].sort());
    else expect(hits).toHaveLength(50);
  }
}

/** A partition past one build slice, searched exactly, each row of team `i % 1000`; reads counted. */
function teamsPastOneSlice() {
  const reads = { n: 0 };
  const n = BUILD_ROWS_PER_SLICE + 4000;
  const vector = hashEmbed('one vector for every row', DIMS);
  const records = Array.from({ length: n }, (_, i) => makeRecord({ tenant: T, text: `row ${i}`, vector, metadata: { team: `team${i % 1000}` } }));
  const index = new MemoryIndex(DIMS, { ...ann, threshold: 1_000_000 });
  index.insertMany(records.map((r) => ({ meta: counted(metaOf(r), reads), textBytes: 1, vector: r.vector, text: r.text })));
  return { reads, n, vector, records, index };
}

describe('selective filters through the field index', () => {
  it('find what the brute force finds, for every indexed field, absent values and unindexed ones', () => {
    const records = Array.from({ length: ROWS }, (_, i) => recordOf(i));
    expectSameAsBruteForce(indexOf(records), records);
  });

  it('read only the rows holding the value, not the partition', () => {
    const reads = { n: 0 };
    const index = indexOf(Array.from({ length: ROWS }, (_, i) => recordOf(i)), reads);
    for (const filter of [live({ session: 's7' }), live({ agent: 'nobody' }), live({ tagsAny: ['t3', 'none'] }), live({ where: { team: 'team42' } })]) {
      index.search(T, query, filter, 50); // a where key is indexed on its first use, from every row
      reads.n = 0;
      const matching = index.count(T, filter);
      index.search(T, query, filter, 50);
      expect(reads.n, JSON.stringify(filter)).toBeLessThanOrEqual(2 * 75 + 2 * matching);
    }
    // A filter naming no indexed field still reads every row.
    reads.n = 0;
    index.count(T, live({ since: 0 }));
    expect(reads.n).toBe(ROWS);
  });

  it('follow updates, level moves, removes and new rows', () => {
    const records = Array.from({ length: ROWS }, (_, i) => recordOf(i));
    const index = indexOf(records);
    expectSameAsBruteForce(index, records); // indexes the where keys before the changes below
    const current = new Map(records.map((r) => [r.id, r]));
    // Updates in place: new session, agent, tags and metadata.
    for (let i = 0; i < ROWS; i += 13) {
      const r = { ...current.get(records[i]!.id)!, session: 's7', agent: 'a3', tags: ['t3', 'u5', 't5'], metadata: { team: 'team42', n: 9 }, version: 2 };
      index.put(metaOf(r));
      current.set(r.id, r);
    }
    // Moves to L2 and back to L3 (re-inserted under new keys), and removes (swap-remove moves the last rows).
    for (let i = 5; i < ROWS; i += 17) {
      const r = current.get(records[i]!.id)!;
      index.put({ ...metaOf(r), level: 2 }, { content: { vector: r.vector, text: r.text } });
      index.put(metaOf(r), { content: { vector: r.vector, text: r.text } });
    }
    for (let i = 7; i < ROWS; i += 11) {
      index.remove(records[i]!.id);
      current.delete(records[i]!.id);
    }
    const added = Array.from({ length: 300 }, (_, i) => recordOf(ROWS + i));
    index.insertMany(added.map((r) => ({ meta: metaOf(r), textBytes: Buffer.byteLength(r.text), vector: r.vector, text: r.text })));
    for (const r of added) current.set(r.id, r);
    expectSameAsBruteForce(index, [...current.values()]);
  });

  it(`stay exact past ${MAX_WHERE_KEYS} metadata keys asked for (the rest are scanned)`, () => {
    const records = Array.from({ length: ROWS }, (_, i) => {
      const r = recordOf(i);
      const metadata: Record<string, unknown> = { ...r.metadata };
      for (let k = 0; k < MAX_WHERE_KEYS + 4; k++) metadata[`k${k}`] = i % (k + 2);
      return { ...r, metadata };
    });
    const index = indexOf(records);
    for (let k = 0; k < MAX_WHERE_KEYS + 4; k++) {
      const filter = live({ where: { [`k${k}`]: 1 } });
      expect(index.count(T, filter)).toBe(records.filter((r) => matchesFilter(metaOf(r), filter)).length);
    }
  });

  it('makes the where index of a big partition a slice a turn, answering exactly meanwhile and after, through writes', async () => {
    const { reads, n, vector, records, index } = teamsPastOneSlice();
    const current = new Map(records.map((r) => [r.id, r]));
    const filter = live({ where: { team: 'team42' } });
    const expected = () => [...current.values()].filter((r) => matchesFilter(metaOf(r), filter)).length;
    // The first use starts the index and is answered by reading every row.
    reads.n = 0;
    expect(index.count(T, filter)).toBe(expected());
    expect(reads.n).toBe(n);
    // Writes before the slices reach them: a holder removed, a row updated to hold the value, a new holder.
    const lastHolder = records[n - 1 - ((n - 1 - 42) % 1000)]!; // row 20,042, in the second slice
    expect(lastHolder.metadata).toEqual({ team: 'team42' });
    index.remove(lastHolder.id);
    current.delete(lastHolder.id);
    const updated = { ...records[n - 1]!, metadata: { team: 'team42' } };
    index.put(metaOf(updated));
    current.set(updated.id, updated);
    const added = makeRecord({ tenant: T, text: 'late', vector, metadata: { team: 'team42' } });
    index.insertMany([{ meta: metaOf(added), textBytes: 1, vector, text: 'late' }]);
    current.set(added.id, added);
    expect(index.count(T, filter)).toBe(expected()); // still read row by row
    // Two slices, each in its own turn of the tenant's rotation: the index serves once they are done.
    for (let i = 0; i < 2; i++) await nextSlice(T);
    reads.n = 0;
    expect(index.count(T, filter)).toBe(expected());
    expect(reads.n).toBeLessThanOrEqual(expected());
  });

  it('lets a search wait for a where index being made, instead of reading every row meanwhile', async () => {
    const { reads, vector, records, index } = teamsPastOneSlice();
    const filter = live({ where: { team: 'team42' } });
    await index.whereSettled(T, filter); // starts the index, and settles once its slices are done
    const holders = records.filter((r) => r.metadata.team === 'team42');
    reads.n = 0;
    expect(index.search(T, { vector, text: '' }, filter, 50).map((h) => h.meta.id).sort()).toEqual(holders.map((r) => r.id).sort());
    expect(reads.n).toBe(holders.length); // those rows alone
  });

  it('makes one where index in slices at a time, and starts one key a filter', async () => {
    const rows = Array.from({ length: BUILD_ROWS_PER_SLICE + 100 }, (_, i) => ({ key: i + 1, meta: { ...metaOf(recordOf(i)), metadata: { k0: i % 3, k1: i % 5 } } }));
    const index = new MetadataIndex({ tenant: 'slices', rows: () => rows, isLive: () => true });
    expect(index.lookup('k0', 'n1', true)).toBeNull(); // started, in slices
    expect(index.lookup('k1', 'n1', true)).toBeNull(); // not started: k0 is being made
    expect([index.knows('k0'), index.knows('k1')]).toEqual([true, false]);
    for (let i = 0; i < 2; i++) await nextSlice('slices');
    expect(sizeOfHolders(index.lookup('k0', 'n1', false))).toBe(rows.filter((r) => r.meta.metadata.k0 === 1).length);
    expect(index.lookup('k1', 'n1', false)).toBeNull(); // may not start
    expect(index.knows('k1')).toBe(false);
    // Through the field index: a filter of 12 keys starts one of them a call.
    const small = new MemoryIndex(DIMS, ann);
    const records = Array.from({ length: 500 }, (_, i) => makeRecord({ tenant: T, text: `r ${i}`, metadata: Object.fromEntries(Array.from({ length: 12 }, (_, k) => [`k${k}`, i % (k + 2)])) }));
    small.insertMany(records.map((r) => ({ meta: metaOf(r), textBytes: 1, vector: r.vector, text: r.text })));
    const filter = live({ where: Object.fromEntries(Array.from({ length: 12 }, (_, k) => [`k${k}`, 1])) });
    const expected = records.filter((r) => matchesFilter(metaOf(r), filter)).length;
    for (let i = 0; i < 14; i++) expect(small.count(T, filter)).toBe(expected);
  });

  it('holds the rows of a value as a key, a list, then a set, and back, each row once', () => {
    const f = new FieldIndex({ tenant: 't', rows: () => [], isLive: () => true });
    const meta = (session: string): ContextMeta => ({ ...metaOf(recordOf(0)), session, agent: null, tags: ['x', 'x'], metadata: {} });
    const held = (filter: RecordFilter) => [...(f.candidates(filter)?.keys ?? [])].sort((a, b) => a - b);
    const keys = Array.from({ length: 40 }, (_, i) => i + 1);
    for (const k of keys) {
      f.add(k, meta('s'));
      expect(held({ session: 's' })).toEqual(keys.slice(0, k));
      expect(held({ tagsAll: ['x'] })).toEqual(keys.slice(0, k)); // a tag a row lists twice holds it once
    }
    for (const k of [...keys].reverse()) {
      f.remove(k, meta('s'));
      expect(held({ session: 's' })).toEqual(keys.slice(0, k - 1));
      expect(held({ tagsAny: ['x', 'y'] })).toEqual(keys.slice(0, k - 1));
    }
    expect(f.candidates({ session: 's' })?.size).toBe(0);
  });
});
