/**
 * IEEE 754 binary16 ("half precision") in Uint16Arrays: how a partition keeps
 * its vectors once a graph serves it (vector-rows.ts). Written out rather
 * than through Float16Array, which Node 22 (within this package's engines)
 * lacks; where it exists, bulk conversion uses it (the same rounding:
 * to nearest, ties to even; a unit test compares the two).
 *
 * A unit vector's components lose nothing that matters to a similarity: the
 * relative error of each is at most 2^-11, so a dot product of 384 of them
 * moves by ~1e-4, far below the gaps ranking and the dedup threshold see.
 */

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/** The binary16 bits nearest to `x` (rounded to nearest, ties to even; overflow to ±infinity, NaN stays NaN). */
export function toHalfBits(x: number): number {
  scratch[0] = x;
  const bits = scratchBits[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // A subnormal half (or zero): the implicit bit joins the mantissa, shifted further right.
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let h = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (h & 1) === 1)) h++;
    return sign | h;
  }
  // A carry out of the mantissa moves to the next exponent (and from the largest finite value to infinity), as it should.
  let h = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}

/** Every binary16 value as a float32, by its bits: 256 KiB, so reading a half is one look-up. */
export const HALF_VALUES: Float32Array = (() => {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >>> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0) table[h] = sign * mantissa * 2 ** -24;
    else if (exponent === 0x1f) table[h] = mantissa === 0 ? sign * Infinity : NaN;
    else table[h] = sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  return table;
})();

type Float16ArrayLike = { set(from: ArrayLike<number>, at?: number): void };
const NativeHalf = (globalThis as { Float16Array?: new (buffer: ArrayBufferLike, byteOffset: number, length: number) => Float16ArrayLike }).Float16Array;

/** Writes `from` as halves into `to` from index `at`. */
export function writeHalves(from: Float32Array, to: Uint16Array, at: number): void {
  halfWriter(to)(from, at);
}

/**
 * A writer of halves into `to` (from index `at`), for many writes: one Float16Array view made once. A view made per
 * 384-float row cost ~5 µs a row in the daemon (5 s of a million-row start) against ~0.6 µs through one view.
 */
export function halfWriter(to: Uint16Array): (from: Float32Array, at: number) => void {
  if (NativeHalf) {
    // Over the rest of the buffer (tracking its length when it is resizable), as `to` is.
    const view = new (NativeHalf as unknown as new (buffer: ArrayBufferLike, byteOffset: number) => Float16ArrayLike)(to.buffer, to.byteOffset);
    return (from, at) => view.set(from, at);
  }
  return (from, at) => {
    for (let i = 0; i < from.length; i++) to[at + i] = toHalfBits(from[i]!);
  };
}

/** The halves `from` as float32s, into `to` from index `at`. */
export function readHalves(from: Uint16Array, to: Float32Array, at = 0): void {
  const values = HALF_VALUES;
  for (let i = 0; i < from.length; i++) to[at + i] = values[from[i]!]!;
}

/** `vector` rounded to half precision (a new array): the values a partition holding halves gives back for it. */
export function roundedToHalf(vector: Float32Array): Float32Array {
  const halves = new Uint16Array(vector.length);
  writeHalves(vector, halves, 0);
  const out = new Float32Array(vector.length);
  readHalves(halves, out);
  return out;
}
