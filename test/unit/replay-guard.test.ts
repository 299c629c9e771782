import { describe, expect, it } from 'vitest';
import { ReplayGuard } from '../../src/server/replay-guard.ts';

describe('ReplayGuard', () => {
  it('flags an id reused with the same key, not with another key', () => {
    const g = new ReplayGuard({ skewMs: 1000, maxIdsPerKey: 100 });
    expect(g.check('k1', 'a', 0)).toBe('fresh');
    expect(g.check('k1', 'a', 10)).toBe('replay');
    expect(g.check('k2', 'a', 10)).toBe('fresh');
  });

  it('remembers an id for at least 2 × skew, then forgets it', () => {
    const g = new ReplayGuard({ skewMs: 1000, maxIdsPerKey: 100 });
    g.check('k', 'a', 999);
    expect(g.check('k', 'a', 999 + 2000)).toBe('replay');
    expect(g.check('k', 'b', 3000)).toBe('fresh');
    expect(g.check('k', 'a', 999 + 3001)).toBe('fresh');
  });

  it('drops everything after a long quiet spell', () => {
    const g = new ReplayGuard({ skewMs: 1000, maxIdsPerKey: 100 });
    g.check('k', 'a', 0);
    expect(g.size).toBe(1);
    g.check('k', 'b', 1_000_000);
    expect(g.size).toBe(1);
  });

  it('caps each key on its own: a key at its cap blocks neither another key nor a preloaded id', () => {
    const g = new ReplayGuard({ skewMs: 1000, maxIdsPerKey: 3 });
    for (const id of ['a', 'b', 'c']) expect(g.check('flood', id, 0)).toBe('fresh');
    expect(g.check('flood', 'd', 1)).toBe('full');
    expect(g.check('calm', 'a', 1)).toBe('fresh');
    g.preload('calm', 'journaled', 1);
    expect(g.check('calm', 'journaled', 2)).toBe('replay');
  });

  it('sweeps the windows of keys gone quiet', () => {
    const g = new ReplayGuard({ skewMs: 1000, maxIdsPerKey: 3 });
    g.check('k', 'a', 0);
    g.sweep(10_000);
    expect(g.size).toBe(0);
  });

  it('answers full instead of forgetting ids still in the window', () => {
    const g = new ReplayGuard({ skewMs: 1000, maxIdsPerKey: 3 });
    for (const id of ['a', 'b', 'c']) expect(g.check('k', id, 0)).toBe('fresh');
    expect(g.check('k', 'd', 1)).toBe('full');
    expect(g.check('k', 'a', 1)).toBe('replay');
    expect(g.check('k', 'd', 3500)).toBe('fresh');
  });
});
