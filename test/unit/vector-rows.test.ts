/**
 * A partition's vectors (vector-rows.ts): exact float32 while held, halves once dropped, both kept in step through
 * swap-removes, float32s made back from the halves, and the same saved-graph check either way.
 */
import { describe, expect, it } from 'vitest';
import { hashEmbed } from '../../src/engine/text/hash-embedder.ts';
import { vectorCheck } from '../../src/store/embedded/graph-files.ts';
import { roundedToHalf } from '../../src/store/embedded/half-float.ts';
import { VectorRows } from '../../src/store/embedded/vector-rows.ts';
import { syntheticText } from '../helpers/records.ts';

const DIMS = 384;
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

function filled(n: number): { rows: VectorRows; vectors: Float32Array[] } {
  const rows = new VectorRows(DIMS);
  const vectors = Array.from({ length: n }, (_, i) => hashEmbed(syntheticText(i, 12), DIMS));
  for (let at = 0; at < n; at += 100) rows.append(vectors.slice(at, at + 100));
  return { rows, vectors };
}

describe('vector rows', () => {
  it('scores exactly in float32 until the float32s are dropped, then with the halves (within 1e-3), in step through swap-removes', () => {
    const { rows, vectors } = filled(1000);
    const q = hashEmbed('a query about nothing in particular', DIMS);
    for (const slot of [0, 1, 517, 999]) expect(rows.dot(q, slot)).toBeCloseTo(dot(q, vectors[slot]!), 6);
    rows.keepHalves();
    // Both held: still the float32 values.
    expect(rows.dot(q, 517)).toBeCloseTo(dot(q, vectors[517]!), 6);
    rows.append([vectors[3]!]);
    // Swap-removes move the last row in both forms.
    const order = [...vectors, vectors[3]!];
    for (const slot of [10, 500, 0]) {
      rows.moveLastTo(slot);
      const moved = order.pop()!;
      if (slot < order.length) order[slot] = moved;
    }
    expect(rows.size).toBe(order.length);
    rows.dropFull();
    expect(rows.hasFull).toBe(false);
    order.forEach((v, slot) => {
      expect(rows.dot(q, slot)).toBeCloseTo(dot(q, roundedToHalf(v)), 6);
      expect(Math.abs(rows.dot(q, slot) - dot(q, v))).toBeLessThan(1e-3);
      expect(Array.from(rows.copyOf(slot))).toEqual(Array.from(roundedToHalf(v)));
    });
    // Made back from the halves, for exact search: the values the halves hold.
    const full = rows.full();
    expect(full.length).toBe(order.length * DIMS);
    expect(Array.from(full.subarray(5 * DIMS, 6 * DIMS))).toEqual(Array.from(roundedToHalf(order[5]!)));
    expect(rows.hasFull).toBe(true);
  });

  it('converts the rows it held a slice a turn; rows appended and moved meanwhile end up with their own halves', async () => {
    for (const waitForSlices of [true, false]) {
      const { rows, vectors } = filled(3000);
      rows.keepHalves();
      const order = [...vectors];
      // Appended behind the conversion under way, and swap-removes across its frontier (slice 1 of 3 is done).
      rows.append([vectors[7]!, vectors[8]!]);
      order.push(vectors[7]!, vectors[8]!);
      for (const slot of [5, 1500, 2999, 0]) {
        rows.moveLastTo(slot);
        const moved = order.pop()!;
        if (slot < order.length) order[slot] = moved;
      }
      if (waitForSlices) for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      // Without waiting, dropping the float32s converts what is left at once.
      rows.dropFull();
      expect(rows.size).toBe(order.length);
      const q = hashEmbed('what the slices leave behind', DIMS);
      order.forEach((v, slot) => expect(rows.dot(q, slot)).toBeCloseTo(dot(q, roundedToHalf(v)), 6));
    }
  });

  it('gives a row the same saved-graph check from halves, from float32s and from the float32 vector SQLite holds', () => {
    const { rows, vectors } = filled(300);
    const before = [0, 150, 299].map((slot) => rows.checkAt(slot));
    rows.keepHalves();
    rows.dropFull();
    [0, 150, 299].forEach((slot, i) => {
      expect(rows.checkAt(slot)).toEqual(before[i]);
      expect(rows.checkAt(slot)).toEqual(vectorCheck(vectors[slot]!));
      expect(vectorCheck(rows.copyOf(slot))).toEqual(vectorCheck(vectors[slot]!));
    });
    // A changed vector does not pass for the old one.
    const changed = vectors[0]!.slice();
    changed[7]! += 0.01;
    expect(vectorCheck(changed)).not.toEqual(rows.checkAt(0));
  });

  it('gives the rows of a range in float32 either way (what an index snapshot writes)', () => {
    const { rows, vectors } = filled(250);
    expect(Array.from(rows.rows(100, 102))).toEqual([...vectors[100]!, ...vectors[101]!]);
    rows.keepHalves();
    rows.dropFull();
    expect(Array.from(rows.rows(100, 102))).toEqual([...roundedToHalf(vectors[100]!), ...roundedToHalf(vectors[101]!)]);
    rows.append([vectors[0]!]);
    expect(Array.from(rows.rows(250, 251))).toEqual(Array.from(roundedToHalf(vectors[0]!)));
  });
});
