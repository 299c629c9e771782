import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/load.ts';
import type { ContextMeta } from '../../src/domain/context.ts';
import { scoreWeights } from '../../src/engine/retrieve.ts';
import { scoreContext } from '../../src/engine/scoring.ts';

const w = scoreWeights(defaultConfig().retrieval);
const meta = (over: Partial<ContextMeta>): ContextMeta => ({
  id: 'x', tenant: 't', level: 3, session: 's', agent: null, tags: [], metadata: {}, tokens: 1,
  createdTs: 0, ts: 0, expiresAt: null, accessCount: 0, version: 1, ...over,
});

describe('scoreContext', () => {
  it('is the sum of its weighted parts, with the default weights 0.5/0.2/0.2/0.1', () => {
    const s = scoreContext(meta({ level: 1, ts: 1000, accessCount: 100 }), 1, 1000, w);
    expect(s.parts).toEqual({ similarity: 0.5, recency: 0.2, level: 0.2, frequency: expect.closeTo(0.1, 9) });
    expect(s.score).toBeCloseTo(1, 9);
  });

  it('halves recency every half-life (24 h by default)', () => {
    const day = 86_400_000;
    expect(scoreContext(meta({ ts: 0 }), 0, day, w).parts.recency).toBeCloseTo(0.1, 9);
    expect(scoreContext(meta({ ts: 0 }), 0, 2 * day, w).parts.recency).toBeCloseTo(0.05, 9);
  });

  it('log-scales access frequency and caps it', () => {
    const f = (n: number) => scoreContext(meta({ accessCount: n }), 0, 0, w).parts.frequency;
    expect(f(0)).toBe(0);
    expect(f(10)).toBeGreaterThan(f(1));
    expect(f(2) - f(1)).toBeGreaterThan(f(11) - f(10));
    expect(f(10_000)).toBeCloseTo(0.1, 9);
  });

  it('ranks levels L1 > L2 > L3 by default, and ignores negative similarity', () => {
    const l = (level: 1 | 2 | 3) => scoreContext(meta({ level }), -0.5, 0, w);
    expect(l(1).score).toBeGreaterThan(l(2).score);
    expect(l(2).score).toBeGreaterThan(l(3).score);
    expect(l(1).parts.similarity).toBe(0);
  });
});
