/**
 * matchesFilter's tag conditions (src/domain/filter.ts): long lists are looked up through a set made once per list,
 * and must decide exactly as the definitions do, duplicates in the filter's list or the row's tags included.
 */
import { describe, expect, it } from 'vitest';
import type { ContextMeta } from '../../src/domain/context.ts';
import { matchesFilter } from '../../src/domain/filter.ts';
import { seededRandom } from '../helpers/records.ts';

const meta = (tags: string[]): ContextMeta => ({ id: 'x', tenant: 't', level: 3, session: 's', agent: null, tags, metadata: {}, tokens: 1, createdTs: 0, ts: 0, expiresAt: null, accessCount: 0, version: 1 });

describe('matchesFilter: tags_any and tags_all', () => {
  it('decides as the definitions do for short and long lists, with duplicates on either side', () => {
    const random = seededRandom(7);
    const pick = (n: number) => Array.from({ length: n }, () => `t${Math.floor(random() * 20)}`);
    for (let i = 0; i < 5000; i++) {
      const row = pick(Math.floor(random() * 24));
      const any = pick(Math.floor(random() * 30));
      const all = pick(Math.floor(random() * 30));
      const m = meta(row);
      expect(matchesFilter(m, { tagsAny: any }), `${row} any ${any}`).toBe(any.length === 0 || any.some((t) => row.includes(t)));
      expect(matchesFilter(m, { tagsAll: all }), `${row} all ${all}`).toBe(all.every((t) => row.includes(t)));
    }
  });

  it('a filter list is read once: the same list object gives the same answers across rows', () => {
    const wanted = Array.from({ length: 64 }, (_, i) => `w${i}`);
    expect(matchesFilter(meta(['w3']), { tagsAny: wanted })).toBe(true);
    expect(matchesFilter(meta(['x']), { tagsAny: wanted })).toBe(false);
    expect(matchesFilter(meta(wanted), { tagsAll: wanted })).toBe(true);
    expect(matchesFilter(meta(wanted.slice(1)), { tagsAll: wanted })).toBe(false);
    expect(matchesFilter(meta([...wanted.slice(1), 'w1']), { tagsAll: wanted })).toBe(false); // a duplicate does not stand in for w0
  });
});
