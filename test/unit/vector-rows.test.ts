/**
 * A partition's vectors (vector-rows.ts): exact float32 until the switch to halves, which goes a slice a turn from the
 * last row down and gives the float32s back as it goes; rows kept in step through appends and swap-removes across
 * the split; float32s made back from the halves; the same saved-graph check either way.
 */
import { describe, expect, it, vi } from 'vitest';
import { hashEmbed } from '../../src/engine/text/hash-embedder.ts';
import { vectorCheck } from '../../src/store/embedded/graph-files.ts';
import { roundedToHalf } from '../../src/store/embedded/half-float.ts';
import { VectorRows } from '../../src/store/embedded/vector-rows.ts';
import { syntheticText } from '../helpers/records.ts';

const DIMS = 384;
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);
const turn = () => new Promise((r) => setImmediate(r));

function filled(n: number): { rows: VectorRows; vectors: Float32Array[] } {
  const rows = new VectorRows(DIMS);
  const vectors = Array.from({ length: n }, (_, i) => hashEmbed(syntheticText(i, 12), DIMS));
  for (let at = 0; at < n; at += 100) rows.append(vectors.slice(at, at + 100));
  return { rows, vectors };
}

/** Applies the partition's swap-remove to `order` as the rows do. */
function moveLast(rows: VectorRows, order: Float32Array[], slot: number): void {
  rows.moveLastTo(slot);
  const moved = order.pop()!;
  if (slot < order.length) order[slot] = moved;
}

describe('vector rows', () => {
  it('scores exactly in float32 until switched to halves, then within 1e-3, in step through appends and swap-removes across the split', async () => {
    for (const waitForSlices of [true, false]) {
      const { rows, vectors } = filled(3000);
      const q = hashEmbed('a query about nothing in particular', DIMS);
      for (const slot of [0, 1, 517, 2999]) expect(rows.dot(q, slot)).toBeCloseTo(dot(q, vectors[slot]!), 6);
      rows.toHalves();
      // One slice done, from the last row down: the first rows are still exact, the last in halves.
      expect(rows.dot(q, 0)).toBeCloseTo(dot(q, vectors[0]!), 6);
      expect(rows.dot(q, 2999)).toBeCloseTo(dot(q, roundedToHalf(vectors[2999]!)), 6);
      expect(rows.hasFull).toBe(false);
      // Appended as halves; swap-removes from the halves into float32 rows, within the halves, and of the last row.
      const order = [...vectors];
      rows.append([vectors[7]!, vectors[8]!]);
      order.push(vectors[7]!, vectors[8]!);
      for (const slot of [5, 2500, order.length - 1, 0]) moveLast(rows, order, slot);
      // A row moved below the split holds its halves' values in float32.
      expect(rows.dot(q, 5)).toBeCloseTo(dot(q, roundedToHalf(order[5]!)), 6);
      if (waitForSlices) for (let i = 0; i < 5; i++) await turn();
      // Without waiting, dropping the float32s converts what is left at once.
      else rows.dropFull();
      expect(rows.size).toBe(order.length);
      order.forEach((v, slot) => {
        expect(rows.dot(q, slot)).toBeCloseTo(dot(q, roundedToHalf(v)), 6);
        expect(Math.abs(rows.dot(q, slot) - dot(q, v))).toBeLessThan(1e-3);
        expect(Array.from(rows.copyOf(slot))).toEqual(Array.from(roundedToHalf(v)));
      });
      // Made back from the halves, for exact search: the values the halves hold.
      const full = rows.full();
      expect(rows.hasFull).toBe(true);
      expect(full.length).toBe(order.length * DIMS);
      expect(Array.from(full.subarray(5 * DIMS, 6 * DIMS))).toEqual(Array.from(roundedToHalf(order[5]!)));
    }
  });

  it('gives back the float32s of each slice as it converts it, so the rows are never held in both forms', async () => {
    const n = 8192;
    const { rows } = filled(n);
    const halvesBytes = n * DIMS * 2;
    rows.toHalves();
    // The halves are reserved for every row at once (their pages resident only as written), the float32s shrink by a
    // slice a turn.
    const held = [rows.heldBytes];
    for (let i = 0; i < 20 && held.at(-1)! > halvesBytes; i++) {
      await turn();
      held.push(rows.heldBytes);
    }
    expect(held).toEqual(Array.from({ length: n / 1024 }, (_, i) => halvesBytes + (n - 1024 * (i + 1)) * DIMS * 4));
  });

  it('tells of each slice it converts and, once, of the end: done, or undone by making float32s again', async () => {
    for (const undo of [false, true]) {
      const { rows, vectors } = filled(3000);
      const told: Array<[number, boolean]> = [];
      rows.toHalves((converted, done) => told.push([converted, done]));
      // A row removed from the float32s meanwhile is never converted.
      rows.moveLastTo(rows.size - 1);
      rows.moveLastTo(0);
      if (undo) rows.full();
      for (let i = 0; i < 5; i++) await turn();
      expect(told.filter(([, done]) => done)).toHaveLength(1);
      expect(told.at(-1)![1]).toBe(true);
      if (undo) {
        expect(told).toEqual([[1024, false], [0, true]]);
        expect(rows.dot(vectors[1]!, 1)).toBeCloseTo(1, 6);
      } else expect(told).toEqual([[1024, false], [1024, false], [952, true]]);
    }
  });

  it('starts one chain of slices per switch: a switch undone and begun again in one turn still converts a slice a turn', async () => {
    const { rows } = filled(5000);
    const told: number[] = [];
    rows.toHalves();
    rows.full();
    rows.toHalves((converted) => told.push(converted));
    for (let i = 0; i < 2; i++) await turn();
    // The first switch's chain stopped: one slice when begun, one each turn since.
    expect(told).toEqual([1024, 1024, 1024]);
  });

  it('grows by doubling where no reservation can be made (Node 20 refuses 8 GiB), not a MiB at a time', async () => {
    const Real = ArrayBuffer;
    class Unreservable extends Real {
      constructor(length: number, opts?: { maxByteLength?: number }) {
        if (opts?.maxByteLength !== undefined) throw new RangeError('Array buffer allocation failed');
        super(length);
      }
    }
    vi.resetModules();
    globalThis.ArrayBuffer = Unreservable as ArrayBufferConstructor;
    let Rows: typeof VectorRows;
    try {
      Rows = (await import('../../src/store/embedded/vector-rows.ts')).VectorRows;
    } finally {
      globalThis.ArrayBuffer = Real;
    }
    const rows = new Rows(DIMS);
    const v = hashEmbed('one row appended many times', DIMS);
    let bytes = rows.heldBytes;
    let grown = 0;
    for (let i = 0; i < 20_000; i++) {
      rows.append([v]);
      if (rows.heldBytes !== bytes) grown++;
      bytes = rows.heldBytes;
    }
    // 16 rows doubled past 20,000: 11 copies (a MiB at a time would be ~30, each copying every vector).
    expect(grown).toBeLessThanOrEqual(11);
    expect(rows.dot(v, 19_999)).toBeCloseTo(1, 5);
  });

  it('gives a row the same saved-graph check from halves, from float32s and from the float32 vector SQLite holds', () => {
    const { rows, vectors } = filled(300);
    const before = [0, 150, 299].map((slot) => rows.checkAt(slot));
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

  it('gives the rows of a range in float32 in either form and across the split (what an index snapshot writes)', () => {
    const { rows, vectors } = filled(2500);
    expect(Array.from(rows.rows(100, 102))).toEqual([...vectors[100]!, ...vectors[101]!]);
    rows.toHalves();
    // Rows 1476 and up are halves after the first slice.
    expect(Array.from(rows.rows(1475, 1477))).toEqual([...vectors[1475]!, ...roundedToHalf(vectors[1476]!)]);
    rows.dropFull();
    expect(Array.from(rows.rows(100, 102))).toEqual([...roundedToHalf(vectors[100]!), ...roundedToHalf(vectors[101]!)]);
    rows.append([vectors[0]!]);
    expect(Array.from(rows.rows(2500, 2501))).toEqual(Array.from(roundedToHalf(vectors[0]!)));
  });
});
