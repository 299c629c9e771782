import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AccessCounter } from '../../src/engine/access-counter.ts';
import { hashSpace } from '../../src/engine/text/hash-embedder.ts';
import { EmbeddedStore } from '../../src/store/embedded/embedded-store.ts';
import type { VectorStore } from '../../src/store/vector-store.ts';
import { removeDir, tempDataDir } from '../helpers/daemon.ts';
import { makeRecord } from '../helpers/records.ts';

describe('access counts', () => {
  it('are never lost from view while their write is under way', async () => {
    const dir = tempDataDir();
    const store = new EmbeddedStore({ dataDir: dir, space: hashSpace(384), durability: 'relaxed', ann: { threshold: 1000, connectivity: 16, expansionAdd: 64, expansionSearch: 64 } });
    await store.open();
    try {
      const r = makeRecord({ tenant: 'a', text: 'counted context' });
      await store.upsert([r]);
      // The real store, with its access write held at a gate until the test opens it.
      let open!: () => void;
      const gate = new Promise<void>((res) => (open = res));
      const held: VectorStore = Object.assign(Object.create(store) as VectorStore, {
        incrementAccess: (tenant: string, counts: ReadonlyMap<string, number>) => gate.then(() => store.incrementAccess(tenant, counts)),
      });
      const counter = new AccessCounter(held, 60_000, (e) => {
        throw e;
      });
      const seen = async () => (await store.get('a', [r.id]))[0]!.accessCount + counter.pendingFor('a', r.id);
      counter.record('a', [r.id, r.id]);
      expect(await seen()).toBe(2);
      const flushed = counter.flush();
      // Taken out of the queue, not yet committed: still counted.
      expect(await seen()).toBe(2);
      open();
      await flushed;
      expect(await seen()).toBe(2);
    } finally {
      await store.close();
      removeDir(dir);
    }
  });

  it('counts are seen once while another tenant\'s part of the flush is still being written, and counts an import takes are not written', async () => {
    const dir = tempDataDir();
    const store = new EmbeddedStore({ dataDir: dir, space: hashSpace(384), durability: 'relaxed', ann: { threshold: 1000, connectivity: 16, expansionAdd: 64, expansionSearch: 64 } });
    await store.open();
    try {
      const recs = Array.from({ length: 300 }, (_, i) => makeRecord({ tenant: i % 2 ? 'b' : 'a', text: `counted context ${i}` }));
      await store.upsert(recs);
      const ofA = recs.filter((r) => r.tenant === 'a').map((r) => r.id);
      const ofB = recs.filter((r) => r.tenant === 'b').map((r) => r.id);
      // The real store, with tenant b's write held at a gate: a's part of the flush commits, b's not yet.
      let open!: () => void;
      const gate = new Promise<void>((res) => (open = res));
      let heldB = false;
      const held: VectorStore = Object.assign(Object.create(store) as VectorStore, {
        incrementAccess: (tenant: string, counts: ReadonlyMap<string, number>) => {
          if (tenant !== 'b') return store.incrementAccess(tenant, counts);
          heldB = true;
          return gate.then(() => store.incrementAccess(tenant, counts));
        },
      });
      const counter = new AccessCounter(held, 60_000, (e) => {
        throw e;
      });
      for (let n = 0; n < 3; n++) {
        counter.record('a', ofA);
        counter.record('b', ofB);
      }
      const seen = async (tenant: string, ids: string[]) => (await store.get(tenant, ids)).map((d) => d.accessCount + counter.pendingFor(tenant, d.id));
      const flushing = counter.flush();
      // Until a's write has committed and b's is held (a bounded wait: the assertions below fail if it never happens).
      for (let turn = 0; turn < 10_000 && (!heldB || (await store.get('a', [ofA[0]!]))[0]!.accessCount === 0); turn++) await new Promise((r) => setImmediate(r));
      // Mid-flush: a's counts are in its rows, b's still in the batch; each is seen once.
      expect(new Set(await seen('a', ofA))).toEqual(new Set([3]));
      expect(new Set(await seen('b', ofB))).toEqual(new Set([3]));
      open();
      await flushing;
      expect(new Set([...(await seen('a', ofA)), ...(await seen('b', ofB))])).toEqual(new Set([3]));
      counter.record('a', ofA);
      counter.record('a', [ofA[0]!, ofA[2]!]);
      // What an import does before it writes: no flush writes the counts it takes; it gives back those it did not write.
      const taken = counter.take('a', [ofA[1]!, ofA[2]!]);
      expect(taken).toEqual(new Map([[ofA[1]!, 1], [ofA[2]!, 2]]));
      await counter.flush();
      expect(counter.pendingFor('a', ofA[2]!)).toBe(0);
      counter.giveBack('a', new Map([[ofA[2]!, 2]]));
      expect(counter.pendingFor('a', ofA[2]!)).toBe(2);
      await counter.flush();
      await store.close();
      // The table itself (the store's next open would read its index snapshot instead).
      const db = new DatabaseSync(join(dir, 'ctxd.sqlite'));
      const rows = db.prepare('SELECT id, n FROM access_counts').all() as Array<{ id: string; n: number }>;
      db.close();
      const counts = new Map(rows.map((r) => [r.id, r.n]));
      expect(counts.get(ofA[0]!)).toBe(5);
      expect(counts.get(ofA[1]!)).toBe(3);
      expect(counts.get(ofA[2]!)).toBe(5);
      expect(ofA.slice(3).every((id) => counts.get(id) === 4)).toBe(true);
      expect(ofB.every((id) => counts.get(id) === 3)).toBe(true);
      await store.open();
    } finally {
      await store.close();
      removeDir(dir);
    }
  });
});
