import { describe, expect, it } from 'vitest';
import { identifiers, keyTokens, LEXICAL_TERMS_VERSION, lexicalTerms, sameKeyTokens, termHashes } from '../../src/domain/lexical.ts';
import { fuse } from '../../src/engine/relevance.ts';
import { Postings } from '../../src/store/embedded/postings.ts';

describe('lexical terms', () => {
  it('drops stop words and keeps identifiers whole beside their parts', () => {
    expect(lexicalTerms('The ticket ABC-1234 is blocked')).toEqual(['ticket', 'abc', '1234', 'blocked', 'abc-1234']);
    expect(identifiers('deploy v2.3.1 to db-07 at 10.0.0.7, not v2')).toEqual(['v2.3.1', 'db-07', '10.0.0.7']);
  });

  it('hash as this version of the term rules pins (stores keep them: a change must bump LEXICAL_TERMS_VERSION)', () => {
    expect(LEXICAL_TERMS_VERSION).toBe(1);
    expect([...termHashes('The ticket ABC-1234 is blocked by v2.3.1 on 10.0.0.7 — naïve café')]).toEqual([
      1952764188, 482950588, 232525985, 3960528129, 958242516, 340534253, 1428125071, 3713741236, 1693486945, 2049036381, 1531839163, 853051381,
      603714966, 1854905609, 3715889280,
    ]);
  });
});

describe('dedup key tokens', () => {
  it.each([
    ['Ticket ABC-1234 is blocked waiting on payments.', 'Ticket ABC-1235 is blocked waiting on payments.'],
    ['The release ships on Tuesday.', 'The release ships on Thursday.'],
    ['Alice approved the budget.', 'Alicia approved the budget.'],
    ['The cluster has 12 nodes.', 'The cluster has 13 nodes.'],
    ['The build is passing.', 'The build is not passing.'],
    ["The build is passing.", "The build isn't passing."],
    ['Meeting on March 3.', 'Meeting on March 4.'],
  ])('%j and %j differ', (a, b) => {
    expect(sameKeyTokens(a, b)).toBe(false);
  });
  it('lets texts that differ in wording only agree', () => {
    expect(sameKeyTokens('Ticket ABC-1234 is blocked.', 'ticket abc-1234 is blocked!')).toBe(true);
    expect(sameKeyTokens('the user prefers dark mode', 'the user likes the dark mode')).toBe(true);
    expect([...keyTokens('Bob said no on Friday')].sort()).toEqual(['bob', 'friday', 'no']);
  });
});

describe('BM25 postings', () => {
  const p = new Postings();
  const texts = ['ticket ABC-1234 blocked on payments', 'ticket ABC-1235 blocked on payments', 'lunch menu pizza', 'weekly payments report'];
  const lengths = new Map(
    texts.map((t, i) => {
      const terms = termHashes(t);
      p.add(i + 1, terms);
      return [i + 1, terms.length];
    }),
  );
  const score = (q: string) => p.score(q, (k) => lengths.get(k), 100);

  it('ranks the exact identifier first among texts differing only in it', () => {
    const s = score('status of ABC-1235');
    expect(s.get(2)!).toBeGreaterThan(s.get(1) ?? 0);
    expect(s.get(3)).toBeUndefined();
  });
  it('normalises by the query: all terms matched at average length is about 1', () => {
    expect(score('lunch pizza menu').get(3)!).toBeGreaterThan(0.9);
    expect(score('lunch pizza menu').get(3)!).toBeLessThanOrEqual(1);
    expect(score('unrelated words').size).toBe(0);
  });
  it('scores after removals and compactions as postings of the live rows alone would (terms held by one row, then many, then one)', () => {
    const texts = Array.from({ length: 600 }, (_, i) => `shared common words id-${i} ${i % 3 === 0 ? 'triple' : ''} ${i % 100 === 7 ? 'rare-hundred' : ''}`);
    const all = new Postings();
    const live = new Map(texts.map((t, i) => [i + 1, termHashes(t)]));
    for (const [k, t] of live) all.add(k, t);
    // Two thirds removed, one at a time: compactions run as dead rows outnumber live ones.
    for (let k = 1; k <= 600; k++) {
      if (k % 3 === 1) continue;
      const terms = live.get(k)!;
      live.delete(k);
      all.removed(terms.length, (key) => live.has(key));
    }
    const fresh = new Postings();
    for (const [k, t] of live) fresh.add(k, t);
    const lengthOf = (k: number) => live.get(k)?.length;
    for (const q of ['id-0', 'id-1', 'id-597', 'triple id-3', 'rare-hundred', 'rare-hundred id-7 triple', 'shared id-400', 'nothing']) {
      expect(all.score(q, lengthOf, 100), q).toEqual(fresh.score(q, lengthOf, 100));
    }
    // A removed row is never scored, a live one still is (id-1 is row 2, removed; id-3 row 4, live).
    expect(all.score('id-1', lengthOf, 600).has(2)).toBe(false);
    expect(all.score('id-3', lengthOf, 600).has(4)).toBe(true);
  });
});

describe('fusion (relevance.ts)', () => {
  const hit = (similarity: number, lexical: number) => ({ meta: {} as never, similarity, lexical });
  it('is the cosine without lexical evidence, and rises with it', () => {
    expect(fuse(hit(0.5, 0), 0.5, true).value).toBeCloseTo(0.5);
    expect(fuse(hit(0.5, 1), 0.5, true).value).toBeCloseTo(0.75);
    expect(fuse(hit(-0.2, 0), 0.5, true).value).toBe(0);
  });
  it('is the lexical channel alone without a query vector (degraded)', () => {
    expect(fuse(hit(0, 0.6), 0.5, false).value).toBeCloseTo(0.6);
  });
});

describe('hostile texts', () => {
  // Each finishes at once; a backtracking pattern would take minutes on these and time the test out.
  it.each([['a', 200_000], ['a-', 100_000], ['1.', 100_000], ['漢字', 50_000], ['\u0301', 60_000]])('terms of %j × %i', (piece, n) => {
    const text = piece.repeat(n);
    expect(lexicalTerms(text).length).toBeLessThanOrEqual(3);
    expect(keyTokens(text).size).toBeLessThanOrEqual(2);
  });
});
