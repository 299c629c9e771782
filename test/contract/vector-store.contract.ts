/**
 * The behaviour every VectorStore backend shares. Each backend's test file
 * calls `vectorStoreContract` with a factory; the Qdrant backend runs it only
 * where QDRANT_URL points at a server.
 */
import { describe, expect, it } from 'vitest';
import type { VectorStore } from '../../src/store/vector-store.ts';
import { hashEmbed } from '../../src/engine/text/hash-embedder.ts';
import { makeRecord, syntheticText } from '../helpers/records.ts';

export interface StoreFactory {
  /** A fresh, open, empty store. */
  open(): Promise<VectorStore>;
  /** Closes `store` and opens the same data again. */
  reopen(store: VectorStore): Promise<VectorStore>;
}

export function vectorStoreContract(name: string, factory: StoreFactory): void {
  describe(`VectorStore contract: ${name}`, () => {
    it('upserts and gets records with every field, per tenant only', async () => {
      const s = await factory.open();
      const r = makeRecord({ tenant: 'a', text: 'alpha bravo charlie', level: 2, session: 's1', agent: 'bot', tags: ['x', 'y'], metadata: { k: 'v', n: 3 }, expiresAt: Date.now() + 60_000 });
      await s.upsert([r]);
      const [got] = await s.get('a', [r.id]);
      const { vector, ...doc } = r;
      expect(got).toEqual(doc);
      expect((await s.search('a', { vector: vector }, {}, 1))[0]!.similarity).toBeCloseTo(1, 4);
      expect(await s.get('b', [r.id])).toEqual([]);
      expect(await s.delete('b', [r.id])).toBe(0);
      expect(await s.patch('b', r.id, { tags: ['stolen'] })).toBeNull();
      expect((await s.get('a', [r.id]))[0]!.tags).toEqual(['x', 'y']);
      await s.close();
    });

    it('locates ids whatever their tenant, and hands out vectors only to their own tenant', async () => {
      const s = await factory.open();
      const a = makeRecord({ tenant: 'a', text: 'foxtrot golf' });
      const b = makeRecord({ tenant: 'b', text: 'hotel india', version: 4 });
      await s.upsert([a, b]);
      const at = await s.locate([a.id, b.id, 'no-such-id']);
      expect(Object.fromEntries(at)).toEqual({ [a.id]: { tenant: 'a', version: 1 }, [b.id]: { tenant: 'b', version: 4 } });
      const vectors = await s.vectors('a', [a.id, b.id]);
      expect([...vectors.keys()]).toEqual([a.id]);
      expect([...vectors.get(a.id)!]).toEqual([...a.vector]);
      await s.close();
    });

    it('imports decide at commit: never over another tenant or a newer version, whatever runs concurrently', async () => {
      const s = await factory.open();
      const base = makeRecord({ tenant: 'a', text: 'juliet kilo' });
      const other = { ...base, tenant: 'b', text: 'lima mike' };
      const [mine, theirs] = await Promise.all([s.importRecords([base]), s.importRecords([other])]);
      expect([...mine, ...theirs].sort()).toEqual(['inserted', 'taken']);
      const winner = mine[0] === 'inserted' ? 'a' : 'b';
      expect((await s.locate([base.id])).get(base.id)).toEqual({ tenant: winner, version: 1 });
      expect(await s.get(winner === 'a' ? 'b' : 'a', [base.id])).toEqual([]);
      const v5 = { ...base, tenant: winner, version: 5, text: 'version five' };
      const v2 = { ...base, tenant: winner, version: 2, text: 'version two' };
      const [five, two] = await Promise.all([s.importRecords([v5]), s.importRecords([v2])]);
      expect(five).toEqual(['replaced']);
      // Committed after five (submitted after it) or before it: either way version 5 stays.
      expect(['kept', 'replaced']).toContain(two[0]);
      const [got] = await s.get(winner, [base.id]);
      expect(got).toMatchObject({ version: 5, text: 'version five' });
      expect(await s.importRecords([v5])).toEqual(['kept']);
      await s.close();
    });

    it('patches bump the version and compose with access increments committed together', async () => {
      const s = await factory.open();
      const r = makeRecord({ tenant: 'a', text: 'delta echo' });
      await s.upsert([r]);
      const once = new Map([[r.id, 1]]);
      await Promise.all([s.incrementAccess('a', once), s.patch('a', r.id, { tags: ['t'] }), s.incrementAccess('a', new Map([[r.id, 2]]))]);
      const [got] = await s.get('a', [r.id]);
      expect(got).toMatchObject({ accessCount: 3, tags: ['t'], version: 2 });
      const moved = await s.patch('a', r.id, { level: 2, expiresAt: 123 });
      expect(moved).toMatchObject({ level: 2, expiresAt: 123, version: 3 });
      expect((await s.patch('a', r.id, { expiresAt: null }))!.expiresAt).toBeNull();
      await s.close();
    });

    it('searches by words too: BM25 beside the cosine, and by words alone without a query vector', async () => {
      const s = await factory.open();
      const near = Array.from({ length: 20 }, (_, i) => makeRecord({ tenant: 'a', text: `ticket ABC-${1200 + i} is blocked on the payments team` }));
      const far = makeRecord({ tenant: 'a', text: 'the zephyr quartz memo' });
      await s.upsert([...near, far]);
      const query = 'status of ABC-1207';
      const hits = await s.search('a', { vector: hashEmbed(query, 384), text: query }, {}, 5);
      const best = [...hits].sort((x, y) => y.lexical - x.lexical)[0]!;
      expect(best.meta.id).toBe(near[7]!.id);
      expect(best.lexical).toBeGreaterThan(0);
      // A word-only match the dense top-k need not hold still comes back, with its cosine.
      const rare = await s.search('a', { vector: hashEmbed('payments blocked', 384), text: 'zephyr' }, {}, 3);
      expect(rare.find((h) => h.meta.id === far.id)).toMatchObject({ lexical: expect.any(Number) });
      // Degraded: no vector, the lexical channel alone.
      const words = await s.search('a', { vector: null, text: 'quartz memo' }, {}, 3);
      expect(words.map((h) => h.meta.id)).toEqual([far.id]);
      expect(words[0]).toMatchObject({ similarity: 0 });
      expect(await s.search('b', { vector: null, text: 'quartz memo' }, {}, 3)).toEqual([]);
      await s.close();
    });

    it('searches with a query vector that is a view into a larger buffer as with its copy', async () => {
      const s = await factory.open();
      const recs = ['apple pie recipe with cinnamon', 'kubernetes pod eviction policy', 'quarterly tax filing deadline'].map((text) => makeRecord({ tenant: 'a', text }));
      await s.upsert(recs);
      const buffer = new Float32Array(384 * 3);
      buffer.set(hashEmbed('kubernetes pods', 384), 0);
      buffer.set(hashEmbed('apple pie', 384), 384);
      const view = buffer.subarray(384, 768);
      expect((await s.search('a', { vector: view }, {}, 1))[0]!.meta.id).toBe(recs[0]!.id);
      expect((await s.search('a', { vector: view.slice() }, {}, 1))[0]!.meta.id).toBe(recs[0]!.id);
      await s.close();
    });

    it('finds a changed text by its new words only, with a lexical score of at most 1', async () => {
      const s = await factory.open();
      const r = makeRecord({ tenant: 'a', text: 'alpha bravo charlie' });
      await s.upsert([r, makeRecord({ tenant: 'a', text: 'unrelated filler words' })]);
      for (const text of ['omega sigma', 'alpha bravo charlie', 'omega sigma']) await s.patch('a', r.id, { text, vector: hashEmbed(text, 384) });
      const old = await s.search('a', { vector: null, text: 'alpha' }, {}, 5);
      expect(old.find((h) => h.meta.id === r.id)).toBeUndefined();
      const now = await s.search('a', { vector: null, text: 'omega sigma' }, {}, 5);
      expect(now[0]!.meta.id).toBe(r.id);
      expect(now[0]!.lexical).toBeLessThanOrEqual(1);
      await s.close();
    });

    it('applies every filter inside the search, not after a top-k cut', async () => {
      const s = await factory.open();
      const now = Date.now();
      const near = Array.from({ length: 30 }, (_, i) => makeRecord({ tenant: 'a', text: `rollback commit schema ${i}` }));
      const tagged = makeRecord({ tenant: 'a', text: 'lunch menu pizza', tags: ['rare'], agent: 'solo', metadata: { team: 'red' }, ts: now - 5000 });
      await s.upsert([...near, tagged]);
      const q = hashEmbed('rollback commit schema', 384);
      expect((await s.search('a', { vector: q }, {}, 5)).map((h) => h.meta.id)).not.toContain(tagged.id);
      for (const filter of [{ tagsAny: ['rare'] }, { tagsAll: ['rare'] }, { agent: 'solo' }, { where: { team: 'red' } }, { until: now - 1000 }]) {
        const hits = await s.search('a', { vector: q }, filter, 5);
        expect(hits.map((h) => h.meta.id), JSON.stringify(filter)).toEqual([tagged.id]);
      }
      expect(await s.search('a', { vector: q }, { since: now - 1000, agent: 'solo' }, 5)).toEqual([]);
      expect(await s.search('b', { vector: q }, {}, 5)).toEqual([]);
      await s.close();
    });

    it('ranks by cosine similarity and filters by level, session and expiry', async () => {
      const s = await factory.open();
      const now = Date.now();
      const exact = makeRecord({ tenant: 'a', text: 'vector search recall latency', level: 1, session: 's1' });
      const other = makeRecord({ tenant: 'a', text: 'vector search', level: 1, session: 's2' });
      const expired = makeRecord({ tenant: 'a', text: 'vector search recall latency', level: 2, session: 's1', expiresAt: now - 1 });
      await s.upsert([exact, other, expired]);
      const q = hashEmbed('vector search recall latency', 384);
      const all = await s.search('a', { vector: q }, {}, 10);
      expect(all[0]!.similarity).toBeCloseTo(1, 5);
      expect(all.map((h) => h.similarity)).toEqual([...all.map((h) => h.similarity)].sort((x, y) => y - x));
      expect((await s.search('a', { vector: q }, { session: 's2' }, 10)).map((h) => h.meta.id)).toEqual([other.id]);
      expect((await s.search('a', { vector: q }, { levels: [2] }, 10)).map((h) => h.meta.id)).toEqual([expired.id]);
      expect(await s.search('a', { vector: q }, { levels: [2], aliveAt: now }, 10)).toEqual([]);
      expect((await s.find('a', { expiredBy: now }, 10)).map((m) => m.id)).toEqual([expired.id]);
      await s.close();
    });

    it('scrolls in id order with a stable cursor while writes go on', async () => {
      const s = await factory.open();
      const recs = Array.from({ length: 25 }, (_, i) => makeRecord({ tenant: 'a', text: syntheticText(i) }));
      await s.upsert(recs);
      const seen: string[] = [];
      let after: string | null = null;
      let page = 0;
      do {
        const p = await s.scroll('a', {}, after, 10);
        seen.push(...p.items.map((m) => m.id));
        after = p.next;
        if (page++ === 0) {
          await s.delete('a', [recs[15]!.id]);
          await s.upsert([makeRecord({ tenant: 'a', text: 'late arrival' })]);
        }
      } while (after);
      const expected = recs.map((r) => r.id).filter((id) => id !== recs[15]!.id);
      expect(seen.slice(0, expected.length)).toEqual(expected);
      expect(seen).toHaveLength(expected.length + 1);
      await s.close();
    });

    it('counts, deletes by filter, reports stats and tenants', async () => {
      const s = await factory.open();
      const now = Date.now();
      await s.upsert([
        makeRecord({ tenant: 'a', text: 'one', level: 1, session: 's1' }),
        makeRecord({ tenant: 'a', text: 'two', level: 2, session: 's2', tags: ['t'] }),
        makeRecord({ tenant: 'a', text: 'three', level: 3 }),
        makeRecord({ tenant: 'b', text: 'four', level: 3 }),
      ]);
      expect(await s.count('a', {})).toBe(3);
      expect(await s.stats('a', now)).toEqual({ perLevel: { 1: 1, 2: 1, 3: 1 }, textBytes: 11, sessions: 2 });
      expect((await s.tenants()).sort()).toEqual(['a', 'b']);
      expect(await s.deleteWhere('a', { tagsAny: ['t'] })).toBe(1);
      expect(await s.count('a', {})).toBe(2);
      expect(await s.count('b', {})).toBe(1);
      await s.close();
    });

    it('keeps per-tenant usage (records and text bytes) through every kind of write', async () => {
      let s = await factory.open();
      expect(s.usage('a')).toEqual({ contexts: 0, textBytes: 0 });
      const one = makeRecord({ tenant: 'a', text: 'one two', level: 1, session: 's1' });
      const two = makeRecord({ tenant: 'a', text: 'three', level: 2, session: 's1', expiresAt: Date.now() - 1 });
      await s.upsert([one, two, makeRecord({ tenant: 'b', text: 'four' })]);
      expect(s.usage('a')).toEqual({ contexts: 2, textBytes: 12 });
      await s.upsert([{ ...one, text: 'one two and more', version: 2 }]);
      expect(s.usage('a')).toEqual({ contexts: 2, textBytes: 21 });
      await s.patch('a', one.id, { text: 'é', level: 3 });
      expect(s.usage('a')).toEqual({ contexts: 2, textBytes: 7 });
      s = await factory.reopen(s);
      // Expired records still count until GC deletes them: they still take room.
      expect(s.usage('a')).toEqual({ contexts: 2, textBytes: 7 });
      await s.delete('a', [two.id]);
      expect(s.usage('a')).toEqual({ contexts: 1, textBytes: 2 });
      expect(s.usage('b')).toEqual({ contexts: 1, textBytes: 4 });
      await s.close();
    });

    it('keeps everything across a close and reopen', async () => {
      let s = await factory.open();
      const recs = Array.from({ length: 50 }, (_, i) => makeRecord({ tenant: 'a', text: syntheticText(i), level: ((i % 3) + 1) as 1 | 2 | 3 }));
      await s.upsert(recs);
      await s.incrementAccess('a', new Map([[recs[0]!.id, 1]]));
      s = await factory.reopen(s);
      expect(await s.count('a', {})).toBe(50);
      const [first] = await s.get('a', [recs[0]!.id]);
      expect(first!.accessCount).toBe(1);
      const hits = await s.search('a', { vector: recs[7]!.vector }, {}, 1);
      expect(hits[0]!.meta.id).toBe(recs[7]!.id);
      await s.close();
    });
  });
}
