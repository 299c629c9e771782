/**
 * Half precision written out (half-float.ts) against the platform's Float16Array, where it exists (Node ≥ 24): the
 * same bits for every value class (normal, subnormal, overflow, ties), and the same value for every bit pattern.
 */
import { describe, expect, it } from 'vitest';
import { HALF_VALUES, readHalves, roundedToHalf, toHalfBits, writeHalves } from '../../src/store/embedded/half-float.ts';

const Native = (globalThis as { Float16Array?: new (n: number | ArrayBufferLike) => ArrayLike<number> & { [i: number]: number } }).Float16Array;

/** The native bits of `x` as binary16. */
function nativeBits(x: number): number {
  const h = new Native!(1);
  h[0] = x;
  return new Uint16Array((h as unknown as { buffer: ArrayBuffer }).buffer)[0]!;
}

describe.runIf(Native !== undefined)('half precision', () => {
  it('reads every one of the 65,536 bit patterns as Float16Array does', () => {
    const native = new Native!(new Uint16Array(65536).map((_, i) => i).buffer);
    for (let h = 0; h < 65536; h++) {
      const want = native[h]!;
      if (Number.isNaN(want)) expect(Number.isNaN(HALF_VALUES[h])).toBe(true);
      else expect(HALF_VALUES[h]).toBe(want);
    }
  });

  it('rounds as Float16Array does: every half, the midpoints between neighbours (ties to even) and just off them, specials, random floats', () => {
    const f = new Float32Array(1);
    const check = (x: number) => {
      f[0] = x;
      const got = toHalfBits(f[0]!);
      const want = nativeBits(f[0]!);
      // Any NaN is a NaN: only the class must agree for those.
      if ((want & 0x7c00) === 0x7c00 && (want & 0x3ff) !== 0) expect((got & 0x7c00) === 0x7c00 && (got & 0x3ff) !== 0).toBe(true);
      else if (got !== want) expect({ x: f[0], got, want }).toBeUndefined();
    };
    for (let h = 0; h < 0x7c00; h++) {
      for (const sign of [1, -1]) {
        const a = sign * HALF_VALUES[h]!;
        const b = sign * HALF_VALUES[h + 1]!;
        const mid = (a + b) / 2;
        check(a);
        check(mid);
        check(mid + (b - a) * 1e-3);
        check(mid - (b - a) * 1e-3);
      }
    }
    for (const x of [0, -0, Infinity, -Infinity, NaN, 65504, 65519.99, 65520, 1e10, -1e10, 2 ** -24, 2 ** -25, 2 ** -25 * 1.0001, 2 ** -26, 1e-30, 3.4e38]) check(x);
    let seed = 1;
    const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < 200_000; i++) check((random() - 0.5) * 2 ** Math.floor(random() * 40 - 28));
  });

  it('converts arrays through either path to the same bits, and back to the values the bits hold', () => {
    const v = Float32Array.from({ length: 384 }, (_, i) => Math.sin(i * 7.1) / 20);
    const halves = new Uint16Array(400);
    writeHalves(v, halves, 16);
    expect(Array.from(halves.subarray(16), (h) => h)).toEqual(Array.from(v, (x) => toHalfBits(x)));
    const back = new Float32Array(384);
    readHalves(halves.subarray(16), back);
    expect(Array.from(back)).toEqual(Array.from(roundedToHalf(v)));
    // A unit-scale component keeps ~3 significant digits.
    v.forEach((x, i) => expect(Math.abs(back[i]! - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -11 + 2 ** -25));
  });
});
