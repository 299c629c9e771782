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

  it('one write adds up every id of a flush, and forgotten ids are not written', async () => {
    const dir = tempDataDir();
    const store = new EmbeddedStore({ dataDir: dir, space: hashSpace(384), durability: 'relaxed', ann: { threshold: 1000, connectivity: 16, expansionAdd: 64, expansionSearch: 64 } });
    await store.open();
    try {
      const recs = Array.from({ length: 300 }, (_, i) => makeRecord({ tenant: 'a', text: `counted context ${i}` }));
      await store.upsert(recs);
      const counter = new AccessCounter(store, 60_000, (e) => {
        throw e;
      });
      for (let n = 0; n < 3; n++) counter.record('a', recs.map((r) => r.id));
      counter.record('a', [recs[0]!.id]);
      // What an import does for the ids it wrote: their records carry the count their export saw.
      counter.forget('a', [recs[1]!.id]);
      await counter.flush();
      counter.record('a', [recs[0]!.id]);
      await counter.flush();
      await store.close();
      // Read back from the file: the counts were committed, not only counted in memory.
      await store.open();
      const counts = new Map((await store.get('a', recs.map((r) => r.id))).map((d) => [d.id, d.accessCount]));
      expect(counts.get(recs[0]!.id)).toBe(5);
      expect(counts.get(recs[1]!.id)).toBe(0);
      expect(recs.slice(2).every((r) => counts.get(r.id) === 3)).toBe(true);
    } finally {
      await store.close();
      removeDir(dir);
    }
  });
});
