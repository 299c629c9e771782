/**
 * A partition's vectors, one row per slot, in float32 or half precision:
 * - float32 while the partition may be searched exactly: usearch's SIMD exact
 *   search and the 8-bit copies of dedup's scans (quantized-scan.ts) read them,
 *   and similarities computed there are exact;
 * - halves once the partition's graph serves: the graph's candidates and
 *   dedup's nearest are re-scored with them. The float32s were the largest part
 *   of a big partition's memory (1.5 KB a row at 384 dimensions); halves take
 *   768 bytes, and a similarity computed from them differs from the float32 one
 *   by ~1e-4 (half-float.ts).
 * The switch (`toHalves()`) converts a slice a turn from the last row down, and
 * gives back the float32s' pages as it goes: rows below `split` are float32,
 * the rest halves. Holding both forms of every row through the build had taken
 * a million-row first start to 4.0 GiB, against 2.55 GiB once it served. (Where
 * no reservation can be made, on Node 20, the float32s go at the switch's end.)
 * A partition its graph stops serving (it shrank below the threshold) gets
 * float32s back from its halves (`full()`), so exact search works on the
 * values the graph served.
 */
import { vectorCheck, halvesCheck, type VectorCheck } from './graph-files.ts';
import { HALF_VALUES, halfWriter, readHalves } from './half-float.ts';

/**
 * Address space a big partition's vectors may grow into in place (a resizable ArrayBuffer: reserved, committed only as
 * it grows): 8 GiB, ~5,600,000 rows of 384 float32s. Growing by copying held the event loop for every vector at each
 * doubling (80–140 ms from 8,192 to 16,384 rows on a loaded core); with 1 GiB, the copy at ~700,000 rows took 2.7 s
 * here (a million-row load, or a partition growing past it while serving). Address space is not memory: even a
 * reservation per 4,096 rows (see below) is 2 TiB of it at a million rows, of the 128 TiB a process has.
 *
 * Only a partition past RESERVE_FROM_ROWS gets a reservation (one copy of a few MB when it crosses): each reservation
 * is a kernel mapping, and a tenant-level partition each from the start would exhaust vm.max_map_count (65,530) with
 * some 20,000 tenants; this way their number is bounded by the rows held (at most two per 4,096).
 */
const RESERVE_BYTES = 2 ** 33;
const RESERVE_FROM_ROWS = 4096;

/** ES2024 resizable ArrayBuffers (Node ≥ 20), not in this project's TypeScript lib. */
interface Resizable extends ArrayBuffer {
  readonly resizable?: boolean;
  readonly maxByteLength: number;
  resize(byteLength: number): void;
}
const ResizableArrayBuffer = ArrayBuffer as unknown as new (byteLength: number, opts: { maxByteLength: number }) => Resizable;

type Storage = Float32Array | Uint16Array;
interface StorageKind<T extends Storage> {
  readonly BYTES_PER_ELEMENT: number;
  new (length: number): T;
  new (buffer: ArrayBufferLike): T;
}

/**
 * `length` zeroed elements in a buffer that can grow in place up to max(RESERVE_BYTES, `reserve` elements); when no
 * reservation can be made (Node 20 refuses 8 GiB), a plain array of `plain` elements: it is grown by copying, so it
 * needs the slack of a doubling (`length` alone would be copied again within a MiB of appends).
 */
function reserved<T extends Storage>(kind: StorageKind<T>, length: number, reserve: number, plain = length): T {
  try {
    // Without a length, the view tracks the buffer's: it grows with each resize.
    return new kind(new ResizableArrayBuffer(length * kind.BYTES_PER_ELEMENT, { maxByteLength: Math.max(RESERVE_BYTES, reserve * kind.BYTES_PER_ELEMENT) }));
  } catch {
    return new kind(Math.max(length, plain));
  }
}

/**
 * A reservation grows in place to the next step past what is needed, never further: growing in place copies nothing,
 * so slack buys nothing, and V8 zeroes the tail a shrink gives back, touching its never-written pages (a partition of
 * 100,000 rows grown by half each time had 70 MiB of them; the first slice of `toHalves` took RSS up by that much).
 */
const RESERVE_STEP_BYTES = 2 ** 20;

/** `array` with room for `needed` elements: grown in place within its reservation, else copied into a bigger one. */
function withRoom<T extends Storage>(kind: StorageKind<T>, array: T, needed: number, dims: number): T {
  if (needed <= array.length) return array;
  const buffer = array.buffer as Resizable;
  const stepped = Math.ceil((needed * kind.BYTES_PER_ELEMENT) / RESERVE_STEP_BYTES) * RESERVE_STEP_BYTES;
  if (buffer.resizable === true && needed * kind.BYTES_PER_ELEMENT <= buffer.maxByteLength) {
    // In place: the view tracks the buffer's length, and no vector is copied.
    buffer.resize(Math.min(stepped, buffer.maxByteLength));
    return array;
  }
  // Small (a plain array), past the reservation, or none could be made: a bigger one, every vector copied once.
  // Plain arrays double while small, then grow by half: less slack held at a million rows.
  let size = array.length;
  while (size < needed) size = size < 1 << 24 ? size * 2 : Math.ceil(size * 1.5);
  const grown = size >= RESERVE_FROM_ROWS * dims ? reserved(kind, stepped / kind.BYTES_PER_ELEMENT, size * 8, size) : new kind(size);
  grown.set(array);
  return grown;
}

/** Rows converted to halves per turn of the event loop by `toHalves` (~1 ms at 384 dimensions). */
const HALVES_SLICE = 1024;

export class VectorRows {
  readonly dims: number;
  /** Rows [0, split) in float32: null once every row is in halves. */
  private floats: Float32Array | null;
  /** Rows [split, size) in halves: null while every row is in float32. */
  private halves: Uint16Array | null = null;
  /** Writes into `halves` (half-float.ts halfWriter), made again whenever `halves` is. */
  private writeHalves: (from: Float32Array, at: number) => void = () => {};
  private split = 0;
  private count = 0;
  /** Told of each slice `toHalves` converts, and once when the switch ends (done, or undone by `full`). */
  private onSlice: ((converted: number, done: boolean) => void) | null = null;
  /** Counts switches begun: a chain of slices whose switch was undone (`full`) stops, whatever began since. */
  private switches = 0;

  constructor(dims: number) {
    this.dims = dims;
    this.floats = new Float32Array(dims * 16);
  }

  get size(): number {
    return this.count;
  }

  /** Whether every row is held in float32 (exact search can run without making them). */
  get hasFull(): boolean {
    return this.halves === null;
  }

  /** Bytes the vectors' buffers hold now (float32s and halves; a reservation as far as it has grown, its pages resident only as written). */
  get heldBytes(): number {
    return (this.floats?.buffer.byteLength ?? 0) + (this.halves?.buffer.byteLength ?? 0);
  }

  /** Appends rows: `vectors[i]` becomes slot size + i (in halves once a switch to them has begun). */
  append(vectors: readonly Float32Array[]): void {
    const dims = this.dims;
    const first = this.count;
    const needed = (first + vectors.length) * dims;
    if (this.halves) {
      const halves = withRoom(Uint16Array, this.halves, needed, dims);
      if (halves !== this.halves) this.setHalves(halves);
      for (let i = 0; i < vectors.length; i++) this.writeHalves(vectors[i]!, (first + i) * dims);
    } else {
      const floats = (this.floats = withRoom(Float32Array, this.floats!, needed, dims));
      for (let i = 0; i < vectors.length; i++) floats.set(vectors[i]!, (first + i) * dims);
      this.split += vectors.length;
    }
    this.count += vectors.length;
  }

  /** The last row takes `slot`'s place (the partition's swap-remove); the last slot is dropped. */
  moveLastTo(slot: number): void {
    const dims = this.dims;
    const last = this.count - 1;
    if (slot !== last) {
      if (last < this.split) this.floats!.copyWithin(slot * dims, last * dims, (last + 1) * dims);
      else if (slot >= this.split) this.halves!.copyWithin(slot * dims, last * dims, (last + 1) * dims);
      // A row already converted moving below the split: back to float32, with the values its halves hold.
      else readHalves(this.halves!.subarray(last * dims, (last + 1) * dims), this.floats!, slot * dims);
    }
    this.count--;
    this.split = Math.min(this.split, this.count);
  }

  /**
   * Moves every row to halves, a slice a turn from the last row down (a partition of 8,192 rows at once held the
   * event loop 7–33 ms here); rows appended meanwhile are written as halves. Each slice gives the float32s' pages
   * back (their reservation shrinks), so memory never holds both forms of the partition (a plain array, where no
   * reservation could be made, goes whole at the end).
   */
  toHalves(onSlice?: (converted: number, done: boolean) => void): void {
    if (this.halves || !this.floats) return;
    this.onSlice = onSlice ?? null;
    this.setHalves(this.fresh(Uint16Array));
    this.convertSlice(++this.switches);
  }

  private convertSlice(which: number): void {
    if (which !== this.switches || !this.halves || !this.floats) return;
    this.convertDownTo(Math.max(0, this.split - HALVES_SLICE));
    if (this.floats) setImmediate(() => this.convertSlice(which));
  }

  /** Writes rows [to, split) as halves and gives back their float32s; at 0, the float32s are dropped. */
  private convertDownTo(to: number): void {
    const dims = this.dims;
    const floats = this.floats!;
    if (to < this.split) this.writeHalves(floats.subarray(to * dims, this.split * dims), to * dims);
    const converted = this.split - to;
    this.split = to;
    const buffer = floats.buffer as Resizable;
    // A reservation gives its pages back at once (a dropped buffer would wait for a full GC); the view tracks it.
    if (buffer.resizable === true) buffer.resize(to * dims * Float32Array.BYTES_PER_ELEMENT);
    if (to === 0) this.floats = null;
    this.report(converted, to === 0);
  }

  private report(converted: number, done: boolean): void {
    const onSlice = this.onSlice;
    if (done) this.onSlice = null;
    onSlice?.(converted, done);
  }

  /** Every row in halves now (a partition that adopts a saved graph loads its rows straight into them). */
  dropFull(): void {
    if (!this.floats) return;
    if (!this.halves) this.setHalves(this.fresh(Uint16Array));
    this.convertDownTo(0);
  }

  /** Every row's float32s (a view, rows × dims), made again from the halves of the rows that have them. */
  full(): Float32Array {
    const dims = this.dims;
    if (this.halves) {
      const needed = Math.max(16, this.count) * dims;
      const floats = this.floats ? withRoom(Float32Array, this.floats, needed, dims) : this.fresh(Float32Array);
      readHalves(this.halves.subarray(this.split * dims, this.count * dims), floats, this.split * dims);
      const buffer = this.halves.buffer as Resizable;
      if (buffer.resizable === true) buffer.resize(0);
      this.halves = null;
      this.writeHalves = () => {};
      this.floats = floats;
      this.split = this.count;
      this.report(0, true);
    }
    return this.floats!.subarray(0, this.count * dims);
  }

  private setHalves(halves: Uint16Array): void {
    this.halves = halves;
    this.writeHalves = halfWriter(halves);
  }

  /** Room for the rows held, reserved as `withRoom` would have grown it. */
  private fresh<T extends Storage>(kind: StorageKind<T>): T {
    const length = Math.max(16, this.count) * this.dims;
    return this.count >= RESERVE_FROM_ROWS ? reserved(kind, length, length * 8) : new kind(length);
  }

  /** Rows `from` to `to` in float32: a view of the float32s when they hold the range, else a copy. */
  rows(from: number, to: number): Float32Array {
    const dims = this.dims;
    const split = this.split;
    if (to <= split && this.floats) return this.floats.subarray(from * dims, to * dims);
    const out = new Float32Array((to - from) * dims);
    if (from < split) out.set(this.floats!.subarray(from * dims, split * dims));
    const halvesFrom = Math.max(from, split);
    readHalves(this.halves!.subarray(halvesFrom * dims, to * dims), out, (halvesFrom - from) * dims);
    return out;
  }

  /** The vector of `slot`, a copy. */
  copyOf(slot: number): Float32Array {
    return this.rows(slot, slot + 1).slice();
  }

  /** The check a saved graph keeps of this row's vector (graph-files.ts): the same from halves or float32s. */
  checkAt(slot: number): VectorCheck {
    const dims = this.dims;
    return slot >= this.split ? halvesCheck(this.halves!.subarray(slot * dims, (slot + 1) * dims)) : vectorCheck(this.floats!.subarray(slot * dims, (slot + 1) * dims));
  }

  /** `query` · the vector of `slot`: exact from float32s while the row has them, else from halves. */
  dot(query: Float32Array, slot: number): number {
    const dims = this.dims;
    const at = slot * dims;
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    if (slot < this.split) {
      const v = this.floats!;
      for (let d = 0; d < dims; d += 4) {
        a0 += query[d]! * v[at + d]!;
        a1 += query[d + 1]! * v[at + d + 1]!;
        a2 += query[d + 2]! * v[at + d + 2]!;
        a3 += query[d + 3]! * v[at + d + 3]!;
      }
    } else {
      const v = this.halves!;
      const values = HALF_VALUES;
      for (let d = 0; d < dims; d += 4) {
        a0 += query[d]! * values[v[at + d]!]!;
        a1 += query[d + 1]! * values[v[at + d + 1]!]!;
        a2 += query[d + 2]! * values[v[at + d + 2]!]!;
        a3 += query[d + 3]! * values[v[at + d + 3]!]!;
      }
    }
    return a0 + a1 + a2 + a3;
  }
}
