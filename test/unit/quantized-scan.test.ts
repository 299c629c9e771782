/**
 * Dedup's nearest-neighbour scan over 8-bit copies (quantized-scan.ts): the
 * candidates it proposes are re-scored in float32, so a near-duplicate's
 * nearest neighbour and its similarity are exactly what the float32 brute
 * force gives, also after rows were removed (swap-remove moves the last row)
 * and added, and expired rows are never returned.
 */
import { describe, expect, it } from 'vitest';
import type { ContextRecord, RecordFilter } from '../../src/domain/context.ts';
import { termHashes } from '../../src/domain/lexical.ts';
import { hashEmbed } from '../../src/engine/text/hash-embedder.ts';
import { Partition } from '../../src/store/embedded/partition.ts';
import { QUANTIZED_MIN_ROWS, QuantizedVectors } from '../../src/store/embedded/quantized-scan.ts';
import { makeRecord, syntheticText } from '../helpers/records.ts';

const DIMS = 384;
const ann = { threshold: 1_000_000, connectivity: 16, expansionAdd: 64, expansionSearch: 64 };
const textOf = (i: number) => `${syntheticText(i, 16)} #${i}`;

function partitionOf(records: ContextRecord[]): Partition {
  const p = new Partition(DIMS, ann, { background: false, pending: 0, halving: 0 });
  add(p, records, 1);
  return p;
}

function add(p: Partition, records: ContextRecord[], firstKey: number): void {
  const rows = records.map((r, i) => {
    const { text, vector: _v, terms: _t, ...meta } = r;
    return { meta, key: firstKey + i, textBytes: Buffer.byteLength(text), terms: new Uint32Array() };
  });
  p.addMany(rows, records.map((r) => r.vector), records.map((r) => termHashes(r.text)));
}

const plain = (): RecordFilter => ({ levels: [3], aliveAt: Date.now() });

describe('dedup nearest neighbour over 8-bit copies', () => {
  it('finds what the float32 brute force finds, with its exact similarity, across removes and appends', () => {
    const n = QUANTIZED_MIN_ROWS * 3;
    const records = Array.from({ length: n }, (_, i) => makeRecord({ tenant: 't', text: textOf(i) }));
    const p = partitionOf(records);
    const textById = new Map(records.map((r) => [r.id, r.text]));
    const check = () => {
      // Near-duplicates of stored texts (one word more) and unrelated queries, in one batch and one by one.
      const alive = [...p.allRows()].map((r) => r.meta.id);
      const texts = Array.from({ length: 40 }, (_, i) => `${textById.get(alive[(i * 97) % alive.length]!)} again`);
      const queries = texts.map((t) => ({ vector: hashEmbed(t, DIMS) }));
      const batch = p.searchMany(queries, plain(), 1);
      queries.forEach((q, i) => {
        const exact = p.exact(q.vector, plain(), 1);
        expect(batch[i]!.map((h) => [h.meta.id, h.similarity])).toEqual(exact.map((h) => [h.meta.id, h.similarity]));
        expect(p.search(q, plain(), 1).map((h) => h.meta.id)).toEqual(exact.map((h) => h.meta.id));
        expect(exact[0]!.similarity).toBeGreaterThan(0.9);
      });
    };
    check();
    // Swap-removes move the last rows into the holes; the 8-bit copy must follow.
    for (let key = 1; key <= n; key += 3) p.remove(key);
    check();
    const more = Array.from({ length: 500 }, (_, i) => makeRecord({ tenant: 't', text: textOf(n + i) }));
    for (const r of more) textById.set(r.id, r.text);
    add(p, more, n + 1);
    check();
  });

  it('never returns an expired row, however many of the nearest are expired', () => {
    const now = Date.now();
    const n = QUANTIZED_MIN_ROWS * 2;
    // Every row but the last has expired; the one alive is the least similar to the query.
    const records = Array.from({ length: n }, (_, i) => makeRecord({ tenant: 't', text: i === n - 1 ? 'an unrelated note about tulips' : textOf(i), expiresAt: i === n - 1 ? null : now - 1 }));
    const p = partitionOf(records);
    const hits = p.searchMany([{ vector: hashEmbed(`${textOf(5)} again`, DIMS) }], { levels: [3], aliveAt: now }, 1);
    expect(hits[0]!.map((h) => h.meta.id)).toEqual([records[n - 1]!.id]);
  });

  it('proposes the right slots after moves, as the float32 ranking over the same rows', () => {
    const vectors = Array.from({ length: 64 }, (_, i) => hashEmbed(textOf(i), DIMS));
    const flat = new Float32Array(64 * DIMS);
    vectors.forEach((v, i) => flat.set(v, i * DIMS));
    const q = new QuantizedVectors(DIMS, flat, 60);
    q.append(flat.subarray(60 * DIMS));
    expect(q.size).toBe(64);
    q.moveLastTo(3); // slot 3 now holds row 63
    expect(q.size).toBe(63);
    const [found] = q.candidates(vectors[63]!, 1, 1);
    expect(Number(found![0])).toBe(3);
    const [again] = q.candidates(vectors[10]!, 1, 1);
    expect(Number(again![0])).toBe(10);
  });
});
