/**
 * Sets of strings kept as 63-bit fingerprints in open-addressing tables of
 * typed arrays: what the replay guard remembers request ids in.
 *
 * Why not a Set<string>: at 80,000 requests/s the replay window holds
 * millions of ids. Each was a string kept alive for 2–3 × skew, ~100 bytes
 * with its Set entry; every one was promoted to the old generation and then
 * marked by every major GC, and a look-up in a table that size missed the
 * cache. Here an id costs 16–32 bytes, nothing is allocated per id, and the id
 * strings die young.
 *
 * The cost is a false "seen" with probability (ids held) / 2^63 per look-up:
 * at the default cap of 500,000 ids a key, ~5e-14. The hash is seeded with
 * random values per Fingerprinter, so a peer cannot aim ids at one slot's
 * probe run; and a key's ids only ever meet that key's own ids.
 */
import { randomBytes } from 'node:crypto';

const MIN_SLOTS = 16;

/** A seeded 63-bit fingerprint of a string, as two words (`lo` never 0: 0 marks an empty slot). */
export class Fingerprinter {
  hi = 0;
  lo = 0;
  private readonly seedHi: number;
  private readonly seedLo: number;

  constructor() {
    const seeds = randomBytes(8);
    this.seedHi = seeds.readUInt32LE(0);
    this.seedLo = seeds.readUInt32LE(4);
  }

  /** Sets `hi` and `lo` to the fingerprint of `s` (two murmur3-style lanes over its UTF-16 code units). */
  take(s: string): void {
    let a = this.seedHi;
    let b = this.seedLo;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      let k = Math.imul(c, 0xcc9e2d51);
      k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
      a ^= k;
      a = (Math.imul((a << 13) | (a >>> 19), 5) + 0xe6546b64) | 0;
      let m = Math.imul(c, 0x85ebca6b);
      m = Math.imul((m << 13) | (m >>> 19), 0xc2b2ae35);
      b ^= m;
      b = (Math.imul((b << 17) | (b >>> 15), 9) + 0x38b34ae5) | 0;
    }
    this.hi = fmix(a ^ s.length);
    this.lo = (fmix(b ^ s.length) | 1) >>> 0;
  }
}

function fmix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Fingerprints (from one Fingerprinter) in one table: slot i is words 2i (hi) and 2i + 1 (lo), at most half full.
 * `hi` and `lo` are unsigned 32-bit values, `lo` odd, as Fingerprinter makes them.
 */
export class FingerprintSet {
  private words = new Uint32Array(2 * MIN_SLOTS);
  private mask = MIN_SLOTS - 1;
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(hi: number, lo: number): boolean {
    return this.find(hi, lo) >= 0;
  }

  /** Adds the fingerprint; false when it was there already. */
  add(hi: number, lo: number): boolean {
    let at = this.find(hi, lo);
    if (at >= 0) return false;
    if ((this.count + 1) * 2 > this.mask + 1) {
      this.grow();
      at = this.find(hi, lo);
    }
    this.words[2 * ~at] = hi;
    this.words[2 * ~at + 1] = lo;
    this.count++;
    return true;
  }

  /** The slot holding (hi, lo), or ~slot of the empty slot where it would go. */
  private find(hi: number, lo: number): number {
    const words = this.words;
    const mask = this.mask;
    for (let i = hi & mask; ; i = (i + 1) & mask) {
      const l = words[2 * i + 1]!;
      if (l === 0) return ~i;
      if (l === lo && words[2 * i] === hi) return i;
    }
  }

  private grow(): void {
    const old = this.words;
    this.words = new Uint32Array(old.length * 2);
    this.mask = old.length - 1;
    for (let i = 0; i < old.length; i += 2) {
      if (old[i + 1] === 0) continue;
      const at = ~this.find(old[i]!, old[i + 1]!);
      this.words[2 * at] = old[i]!;
      this.words[2 * at + 1] = old[i + 1]!;
    }
  }
}
