/**
 * How hard a graph search works (ann-graph.ts `wanted`): usearch walks a candidate list of max(expansion_search, the
 * number asked), so each search asks for its own list. A store's duplicate check (k ≤ 4) walks the shorter
 * `expansionNearest` list and still finds nearly every near-duplicate's float32 nearest neighbour, with its exact similarity;
 * a retrieve walks `expansionSearch` whatever its k, and re-scores the best k + margin as before.
 */
import usearch from 'usearch';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RecordFilter } from '../../src/domain/context.ts';
import { cosine } from '../../src/domain/cosine.ts';
import { termHashes } from '../../src/domain/lexical.ts';
import { hashEmbed } from '../../src/engine/text/hash-embedder.ts';
import { roundedToHalf } from '../../src/store/embedded/half-float.ts';
import { Partition } from '../../src/store/embedded/partition.ts';
import { makeRecord, syntheticText } from '../helpers/records.ts';

const DIMS = 384;
const ROWS = 3000;
const ann = { threshold: 2000, connectivity: 16, expansionAdd: 64, expansionSearch: 128, expansionNearest: 32 };
const textOf = (i: number) => `${syntheticText(i, 16)} #${i}`;

/** A partition its graph serves, its vectors all switched to halves (slot 0, key 1, is the last the slices convert). */
async function graphedPartition() {
  const p = new Partition(DIMS, ann, { background: false, pending: 0, halving: 0 });
  const records = Array.from({ length: ROWS }, (_, i) => makeRecord({ tenant: 't', text: textOf(i), session: `s${i % 3}`, accessCount: i % 3 }));
  const rows = records.map((r, i) => {
    const { text, vector: _v, terms: _t, ...meta } = r;
    return { meta, key: i + 1, textBytes: Buffer.byteLength(text), terms: new Uint32Array() };
  });
  p.addMany(rows, records.map((r) => r.vector), records.map((r) => termHashes(r.text)));
  expect(p.hasGraph).toBe(true);
  const halves = roundedToHalf(records[0]!.vector);
  for (let i = 0; i < 100 && !p.vectorOf(1).every((x, d) => x === halves[d]); i++) await new Promise((r) => setImmediate(r));
  return { p, records };
}

const plain = (): RecordFilter => ({ levels: [3], aliveAt: Date.now() });

afterEach(() => vi.restoreAllMocks());

/** The number of results each usearch search is asked for, from now until the spies are restored. */
function askedCounts(): number[] {
  const asked: number[] = [];
  const search = usearch.Index.prototype.search;
  vi.spyOn(usearch.Index.prototype, 'search').mockImplementation(function (this: InstanceType<typeof usearch.Index>, ...args: Parameters<typeof search>) {
    asked.push(Number(args[1]));
    return search.apply(this, args);
  });
  return asked;
}

describe('graph search effort', () => {
  it('a nearest search (k ≤ 4) walks the shorter list and finds what the brute force finds', async () => {
    const { p, records } = await graphedPartition();
    const asked = askedCounts();
    const queries = Array.from({ length: 60 }, (_, i) => ({ vector: hashEmbed(`${records[(i * 47) % ROWS]!.text} again`, DIMS) }));
    const batch = p.searchMany(queries, plain(), 1);
    const vectorOf = new Map(records.map((r) => [r.id, r.vector]));
    // A graph walk is approximate and its build multi-threaded (not the same graph twice): it must find nearly every
    // near-duplicate (1,000 of 1,000 at 100,000 rows, PRODUCTION.md "HNSW knobs"), not every one on every run.
    let found = 0;
    let foundInSession = 0;
    queries.forEach((q, i) => {
      const exact = p.exact(q.vector, plain(), 1);
      expect(exact[0]!.similarity).toBeGreaterThan(0.9);
      const hit = batch[i]![0]!;
      // Whatever it returns is re-scored with the row's half-precision vector (vector-rows.ts, the graph serves): the
      // inner product with those values (vectors are unit length), within 1e-3 of the float32 cosine.
      const halves = roundedToHalf(vectorOf.get(hit.meta.id)!);
      expect(hit.similarity).toBeCloseTo(q.vector.reduce((s, x, d) => s + x * halves[d]!, 0), 5);
      expect(Math.abs(hit.similarity - cosine(q.vector, vectorOf.get(hit.meta.id)!))).toBeLessThan(1e-3);
      if (hit.meta.id === exact[0]!.meta.id) found++;
      // One session's rows only: the filtered path, also on the shorter list.
      const session: RecordFilter = { ...plain(), session: exact[0]!.meta.session };
      if (p.searchMany([q], session, 1)[0]![0]?.meta.id === exact[0]!.meta.id) foundInSession++;
    });
    expect(found).toBeGreaterThanOrEqual(57);
    expect(foundInSession).toBeGreaterThanOrEqual(57);
    expect(new Set(asked)).toEqual(new Set([ann.expansionNearest]));
  });

  it('a retrieve-sized search (k = 100) walks expansionSearch; a filter that rejects most widens past it, or scans the rows the field index names', async () => {
    const { p, records } = await graphedPartition();
    const asked = askedCounts();
    const q = { vector: hashEmbed(records[7]!.text, DIMS) };
    const hits = p.search(q, plain(), 100);
    expect(hits).toHaveLength(100);
    // Approximate, on a graph built multi-threaded (another each run): nearly all of the exact best 100, not each one.
    const best = new Set(p.exact(q.vector, plain(), 100).map((h) => h.meta.id));
    expect(hits.filter((h) => best.has(h.meta.id)).length).toBeGreaterThanOrEqual(90);
    expect(asked).toEqual([ann.expansionSearch]);
    asked.length = 0;
    // A third of the rows pass, and no field index names them: the graph is asked for k·OVERFETCH.
    const filtered = p.search(q, { ...plain(), minAccessCount: 2 }, 100);
    expect(filtered).toHaveLength(100);
    expect(filtered.every((h) => h.meta.accessCount === 2)).toBe(true);
    expect(asked[0]).toBe(400);
    asked.length = 0;
    // A third of the rows hold session s1, and the field index names them: scoring those 1,000 beats asking the graph
    // for the ~1,200 it would take, and the answer is the exact one.
    const session = { ...plain(), session: 's1' };
    expect(p.search(q, session, 100)).toEqual(p.exact(q.vector, session, 100));
    expect(asked).toEqual([]);
  });

  it('a retrieve (search) walks expansionSearch even for k ≤ 4 (candidates_per_level may be that small)', async () => {
    const { p, records } = await graphedPartition();
    const asked = askedCounts();
    // Each of 20 rows' own text: the row itself first, nearly always (the walk is approximate, see above).
    let first = 0;
    let firstInSession = 0;
    for (let i = 11; i < 31; i++) {
      const q = { vector: hashEmbed(records[i]!.text, DIMS) };
      if (p.search(q, plain(), 2)[0]?.meta.id === records[i]!.id) first++;
      if (p.search(q, { ...plain(), session: records[i]!.session }, 1)[0]?.meta.id === records[i]!.id) firstInSession++;
    }
    expect(first).toBeGreaterThanOrEqual(18);
    expect(firstInSession).toBeGreaterThanOrEqual(18);
    expect(asked).toEqual(Array(40).fill(ann.expansionSearch));
  });
});
