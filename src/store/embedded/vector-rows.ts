/**
 * A partition's vectors, one row per slot, in float32 or half precision or both:
 * - float32 while the partition may be searched exactly: usearch's SIMD exact
 *   search and the 8-bit copies of dedup's scans (quantized-scan.ts) read them,
 *   and similarities computed there are exact;
 * - halves too from `keepHalves()` on (the partition asks at half its graph
 *   threshold, so the switch below copies nothing);
 * - halves alone once the partition's graph serves (`dropFull()`): the graph's
 *   candidates and dedup's nearest are re-scored with them. The float32s were
 *   the largest part of a big partition's memory (1.5 KB a row at 384
 *   dimensions); halves take 768 bytes, and a similarity computed from them
 *   differs from the float32 one by ~1e-4 (half-float.ts).
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

/** `length` zeroed elements in a buffer that can grow in place up to max(RESERVE_BYTES, `reserve` elements); a plain array when no reservation can be made. */
function reserved<T extends Storage>(kind: StorageKind<T>, length: number, reserve: number): T {
  try {
    // Without a length, the view tracks the buffer's: it grows with each resize.
    return new kind(new ResizableArrayBuffer(length * kind.BYTES_PER_ELEMENT, { maxByteLength: Math.max(RESERVE_BYTES, reserve * kind.BYTES_PER_ELEMENT) }));
  } catch {
    return new kind(length);
  }
}

/** `array` with room for `needed` elements: grown in place within its reservation, else copied into a bigger one. */
function withRoom<T extends Storage>(kind: StorageKind<T>, array: T, needed: number, dims: number): T {
  if (needed <= array.length) return array;
  // Double while small, then grow by half: less slack held at a million rows.
  let size = array.length;
  while (size < needed) size = size < 1 << 24 ? size * 2 : Math.ceil(size * 1.5);
  const buffer = array.buffer as Resizable;
  if (buffer.resizable === true && size * kind.BYTES_PER_ELEMENT <= buffer.maxByteLength) {
    // In place: the view tracks the buffer's length, and no vector is copied.
    buffer.resize(size * kind.BYTES_PER_ELEMENT);
    return array;
  }
  // Small (a plain array), past the reservation, or none could be made: a bigger one, every vector copied once.
  const grown = size >= RESERVE_FROM_ROWS * dims ? reserved(kind, size, size * 8) : new kind(size);
  grown.set(array);
  return grown;
}

/** Rows converted to halves per turn of the event loop once `keepHalves` is called (~1 ms at 384 dimensions). */
const HALVES_SLICE = 1024;

export class VectorRows {
  readonly dims: number;
  private floats: Float32Array | null;
  private halves: Uint16Array | null = null;
  /** Writes into `halves` (half-float.ts halfWriter), made again whenever `halves` is. */
  private writeHalves: (from: Float32Array, at: number) => void = () => {};
  /** Rows below this slot have their halves written (the rest are converted a slice a turn, or by `dropFull`). */
  private halved = 0;
  private count = 0;

  constructor(dims: number) {
    this.dims = dims;
    this.floats = new Float32Array(dims * 16);
  }

  get size(): number {
    return this.count;
  }

  /** Whether float32s are held (exact search can run without making them). */
  get hasFull(): boolean {
    return this.floats !== null;
  }

  /** Appends rows: `vectors[i]` becomes slot size + i. */
  append(vectors: readonly Float32Array[]): void {
    const dims = this.dims;
    const first = this.count;
    const needed = (first + vectors.length) * dims;
    if (this.floats) {
      const floats = (this.floats = withRoom(Float32Array, this.floats, needed, dims));
      for (let i = 0; i < vectors.length; i++) floats.set(vectors[i]!, (first + i) * dims);
    }
    if (this.halves) {
      const halves = withRoom(Uint16Array, this.halves, needed, dims);
      if (halves !== this.halves) this.setHalves(halves);
      // Behind a conversion still under way, the new rows wait for its slices.
      if (this.halved === first) {
        for (let i = 0; i < vectors.length; i++) this.writeHalves(vectors[i]!, (first + i) * dims);
        this.halved += vectors.length;
      }
    }
    this.count += vectors.length;
  }

  /** The last row takes `slot`'s place (the partition's swap-remove); the last slot is dropped. */
  moveLastTo(slot: number): void {
    const dims = this.dims;
    const last = this.count - 1;
    if (slot !== last) {
      this.floats?.copyWithin(slot * dims, last * dims, (last + 1) * dims);
      if (this.halves && slot < this.halved) {
        // The moved row's halves, written now if its conversion had not come yet (the float32s are held until it has).
        if (last < this.halved) this.halves.copyWithin(slot * dims, last * dims, (last + 1) * dims);
        else this.writeHalves(this.floats!.subarray(slot * dims, (slot + 1) * dims), slot * dims);
      }
    }
    this.count--;
    this.halved = Math.min(this.halved, this.count);
  }

  /**
   * Keeps halves from now on, beside the float32s: the rows held are converted a slice a turn (a partition of
   * 8,192 rows at once held the event loop 7–33 ms here), the rows appended after them at once.
   */
  keepHalves(): void {
    if (this.halves || !this.floats) return;
    this.setHalves(this.fresh(Uint16Array));
    this.halved = 0;
    this.convertSlice();
  }

  private convertSlice(): void {
    if (!this.halves || !this.floats || this.halved >= this.count) return;
    this.convert(Math.min(this.count, this.halved + HALVES_SLICE));
    if (this.halved < this.count) setImmediate(() => this.convertSlice());
  }

  /** Writes the halves of rows up to `to`. */
  private convert(to: number): void {
    const dims = this.dims;
    this.writeHalves(this.floats!.subarray(this.halved * dims, to * dims), this.halved * dims);
    this.halved = to;
  }

  /** Drops the float32s, once halves are kept (the rest converted now): only re-scoring reads vectors now. */
  dropFull(): void {
    if (!this.halves || !this.floats) return;
    if (this.halved < this.count) this.convert(this.count);
    // A reservation gives its pages back at once (a dropped buffer would wait for a full GC); no view of it outlives a call.
    const buffer = this.floats.buffer as Resizable;
    if (buffer.resizable === true) buffer.resize(0);
    this.floats = null;
  }

  /** Every row's float32s (a view, rows × dims), made again from the halves when only they are held. */
  full(): Float32Array {
    if (!this.floats) {
      const floats = this.fresh(Float32Array);
      readHalves(this.halves!.subarray(0, this.count * this.dims), floats);
      this.floats = floats;
    }
    return this.floats.subarray(0, this.count * this.dims);
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

  /** Rows `from` to `to` in float32: a view of the float32s, or a copy made from the halves. */
  rows(from: number, to: number): Float32Array {
    const dims = this.dims;
    if (this.floats) return this.floats.subarray(from * dims, to * dims);
    const out = new Float32Array((to - from) * dims);
    readHalves(this.halves!.subarray(from * dims, to * dims), out);
    return out;
  }

  /** The vector of `slot`, a copy. */
  copyOf(slot: number): Float32Array {
    return this.rows(slot, slot + 1).slice();
  }

  /** The check a saved graph keeps of this row's vector (graph-files.ts): the same from halves or float32s. */
  checkAt(slot: number): VectorCheck {
    const dims = this.dims;
    return this.halves && slot < this.halved ? halvesCheck(this.halves.subarray(slot * dims, (slot + 1) * dims)) : vectorCheck(this.floats!.subarray(slot * dims, (slot + 1) * dims));
  }

  /** `query` · the vector of `slot`: exact from float32s while they are held, else from halves. */
  dot(query: Float32Array, slot: number): number {
    const dims = this.dims;
    const at = slot * dims;
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    if (this.floats) {
      const v = this.floats;
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
