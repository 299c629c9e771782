import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocateBudget } from '../../src/engine/budget.ts';

const levels = (l1: number[], l2: number[], l3: number[]) => [
  { level: 1, share: 0.3, tokens: l1 },
  { level: 2, share: 0.4, tokens: l2 },
  { level: 3, share: 0.3, tokens: l3 },
];

describe('allocateBudget', () => {
  it('gives each level its share when every level has enough', () => {
    const a = allocateBudget(100, levels(Array(10).fill(10), Array(10).fill(10), Array(10).fill(10)));
    expect(a.map((x) => [x.allocated, x.used])).toEqual([[30, 30], [40, 40], [30, 30]]);
    expect(a.map((x) => x.omitted)).toEqual([7, 6, 7]);
  });

  it('fills from L3 when L1 is empty and L3 is rich', () => {
    const a = allocateBudget(100, levels([], [10], Array(20).fill(10)));
    expect(a[0]).toMatchObject({ allocated: 0, used: 0, candidates: 0 });
    expect(a[1]).toMatchObject({ used: 10, omitted: 0 });
    expect(a[2]).toMatchObject({ used: 90, allocated: 90, omitted: 11 });
  });

  it('hands budget on repeatedly until no candidate fits', () => {
    // L3 has one big candidate that only fits once L1 and L2 hand on all they cannot use.
    const a = allocateBudget(100, levels([5], [5], [80]));
    expect(a.map((x) => x.used)).toEqual([5, 5, 80]);
  });

  it('skips a candidate too big for the budget and takes smaller ones after it', () => {
    const a = allocateBudget(50, [{ level: 3, share: 1, tokens: [60, 20, 20, 20] }]);
    expect(a[0]).toMatchObject({ used: 40, taken: [1, 2], omitted: 2 });
  });

  it('never exceeds the budget, and only leaves budget unspent when nothing left fits (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.array(fc.integer({ min: 1, max: 800 }), { maxLength: 40 }),
        fc.array(fc.integer({ min: 1, max: 800 }), { maxLength: 40 }),
        fc.array(fc.integer({ min: 1, max: 800 }), { maxLength: 40 }),
        (max, l1, l2, l3) => {
          const a = allocateBudget(max, levels(l1, l2, l3));
          const used = a.reduce((s, x) => s + x.used, 0);
          expect(used).toBeLessThanOrEqual(max);
          expect(a.reduce((s, x) => s + x.allocated, 0)).toBeLessThanOrEqual(max);
          a.forEach((x, i) => {
            const toks = [l1, l2, l3][i]!;
            expect(x.used).toBe(x.taken.reduce((s, t) => s + toks[t]!, 0));
            expect(x.used).toBeLessThanOrEqual(x.allocated);
            expect(x.omitted).toBe(toks.length - x.taken.length);
          });
          // Whatever was left out is bigger than the budget left over.
          const left = max - used;
          a.forEach((x, i) => {
            const toks = [l1, l2, l3][i]!;
            toks.forEach((t, j) => {
              if (!x.taken.includes(j)) expect(t).toBeGreaterThan(left);
            });
          });
        },
      ),
      { numRuns: 500 },
    );
  });
});
