import { describe, expect, it } from 'vitest';
import { termHashes } from '../../src/domain/lexical.ts';
import { hashTerms, LoadTerms } from '../../src/store/embedded/load-terms.ts';

const texts = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => `Ticket ABC-${from + i} on host 10.0.0.${i % 250}: the cache shard ${i} réplica Ünïcode v2.3.${i} ${'x'.repeat(i % 7)}`);
const plain = (hashes: Uint32Array[]) => hashes.map((h) => [...h]);

describe('load-time term hashes', () => {
  it('hashTerms is termHashes', () => {
    for (const t of [...texts(0, 50), '', 'the of and', '   ', 'ﬁne ＡＢＣ-１２']) expect([...hashTerms(t)]).toEqual([...termHashes(t)]);
  });

  it('the worker answers each batch with termHashes of each text, in order, batches pipelined', () => {
    const terms = new LoadTerms(true);
    try {
      const batches = [texts(0, 300), texts(1000, 1), texts(2000, 0), texts(3000, 123)];
      const tickets = batches.map((b) => terms.submit(b));
      batches.forEach((b, i) => expect(plain(terms.take(tickets[i]!, b))).toEqual(plain(b.map(termHashes))));
    } finally {
      terms.close();
    }
  });

  it('without the worker (or once it is gone) the texts are hashed here, alike', () => {
    const none = new LoadTerms(false);
    const b = texts(0, 20);
    expect(plain(none.take(none.submit(b), b))).toEqual(plain(b.map(termHashes)));
    const closed = new LoadTerms(true);
    const t = closed.submit(b);
    closed.close();
    expect(plain(closed.take(t, b))).toEqual(plain(b.map(termHashes)));
  });
});
