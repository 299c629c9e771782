import { describe, expect, it } from 'vitest';
import { Fingerprinter, FingerprintSet } from '../../src/server/fingerprint-set.ts';

function fingerprints(fp: Fingerprinter, ids: string[]): Array<[number, number]> {
  return ids.map((id) => {
    fp.take(id);
    return [fp.hi, fp.lo];
  });
}

describe('FingerprintSet', () => {
  it('keeps every id through many growths and finds none it was not given', () => {
    const fp = new Fingerprinter();
    const set = new FingerprintSet();
    const held = fingerprints(fp, Array.from({ length: 100_000 }, (_, i) => `req-${i.toString(36)}`));
    expect(held.filter(([hi, lo]) => !set.add(hi, lo))).toEqual([]);
    expect(set.size).toBe(100_000);
    expect(held.every(([hi, lo]) => set.has(hi, lo))).toBe(true);
    // Ids one character away from held ones (the likeliest to collide in a weak hash).
    const near = fingerprints(fp, Array.from({ length: 100_000 }, (_, i) => `req-${i.toString(36)}_`));
    expect(near.filter(([hi, lo]) => set.has(hi, lo))).toEqual([]);
  });

  it('keeps fingerprints that share a first slot, in a run that wraps past the last slot, through growths', () => {
    const set = new FingerprintSet();
    expect(set.has(0xffffffff, 1)).toBe(false);
    // One hi for all: every fingerprint starts at the last slot of any table size and wraps to slot 0 onwards.
    const los = Array.from({ length: 5_000 }, (_, i) => 2 * i + 1);
    expect(los.filter((lo) => !set.add(0xffffffff, lo))).toEqual([]);
    expect(set.size).toBe(5_000);
    expect(los.every((lo) => set.has(0xffffffff, lo))).toBe(true);
    // Same hi, another lo; same lo, another hi: both absent.
    expect(set.has(0xffffffff, 10_001)).toBe(false);
    expect(set.has(0xfffffffe, 1)).toBe(false);
    expect(set.add(0xffffffff, 1)).toBe(false);
  });

  it('adds an id once', () => {
    const fp = new Fingerprinter();
    const set = new FingerprintSet();
    fp.take('same');
    expect(set.add(fp.hi, fp.lo)).toBe(true);
    fp.take('same');
    expect(set.add(fp.hi, fp.lo)).toBe(false);
    expect(set.size).toBe(1);
  });

  it('fingerprints by the whole string: anagrams, empty and non-ASCII ids differ', () => {
    const fp = new Fingerprinter();
    const ids = ['ab', 'ba', '', 'a', 'é', 'e\u0301', '\u{1F600}', 'a'.repeat(64), 'a'.repeat(63) + 'b'];
    const seen = new Set(fingerprints(fp, ids).map(([hi, lo]) => `${hi}:${lo}`));
    expect(seen.size).toBe(ids.length);
    // The low word is never 0 (the empty-slot mark).
    expect(fingerprints(fp, ids).every(([, lo]) => lo !== 0)).toBe(true);
  });

  it('seeds each fingerprinter at random, so fingerprints cannot be predicted', () => {
    const a = new Fingerprinter();
    const b = new Fingerprinter();
    a.take('id-1');
    b.take('id-1');
    expect([a.hi, a.lo]).not.toEqual([b.hi, b.lo]);
  });
});
