/**
 * Acknowledged writes survive: a graceful restart, a kill -9 in the middle of
 * a stream of stores, and a store of 100,000 L3 contexts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startDaemon, stopAll, tempDataDir } from '../helpers/daemon.ts';
import { syntheticText } from '../helpers/records.ts';

afterAll(stopAll);

describe('durability', () => {
  it('brings everything back after a restart, L1 included, with access counts', async () => {
    const dataDir = tempDataDir();
    const first = await startDaemon({ dataDir, args: ['--set', 'engine.access_flush_ms=5000'] });
    const c = await first.client();
    const l1 = await c.store({ text: 'working memory: user wants a haiku', level: 1, session: 'r' });
    const l2 = await c.store({ text: 'session note: prefers short answers', level: 2, session: 'r', metadata: { k: 1 } });
    const l3 = await c.store({ text: 'durable fact: the office is in Lisbon', level: 3, tags: ['office'] });
    await c.retrieve({ query: 'office Lisbon', levels: [3] });
    await c.close();
    // Access counts are flushed every 5 s here: a graceful stop must write them anyway.
    expect(await first.stop('SIGTERM')).toBe(0);

    const second = await startDaemon({ dataDir });
    const c2 = await second.client();
    expect(await c2.get(l1.id)).toMatchObject({ level: 1, session: 'r', text: 'working memory: user wants a haiku' });
    expect(await c2.get(l2.id)).toMatchObject({ level: 2, metadata: { k: 1 } });
    expect(await c2.get(l3.id)).toMatchObject({ level: 3, tags: ['office'], access_count: 1 });
    const r = await c2.retrieve({ query: 'haiku', session: 'r', levels: [1] });
    expect(r.contexts[0]!.id).toBe(l1.id);
    await c2.close();
    await second.stop();
  });

  it('keeps every acknowledged store when the daemon is killed with SIGKILL mid-stream', async () => {
    const dataDir = tempDataDir();
    const first = await startDaemon({ dataDir });
    const c = await first.client({ timeoutMs: 5000 });
    const acked = new Map<string, string>();
    let n = 0;
    let stop = false;
    const writer = async () => {
      while (!stop) {
        const text = `crash-test record ${n++} ${syntheticText(n, 6)}`;
        try {
          const r = await c.store({ text, level: ((n % 3) + 1) as 1 | 2 | 3, session: `s${n % 5}` });
          if (!r.deduplicated) acked.set(r.id, text);
        } catch {
          return; // the connection died with the daemon: unacknowledged, so not counted
        }
      }
    };
    const writers = Array.from({ length: 16 }, writer);
    await new Promise((r) => setTimeout(r, 1500));
    first.proc.kill('SIGKILL');
    await first.exited;
    stop = true;
    await Promise.all(writers);
    await c.close();
    expect(acked.size).toBeGreaterThan(100);

    const second = await startDaemon({ dataDir });
    const c2 = await second.client();
    const ids = [...acked.keys()];
    const found = await Promise.all(ids.map((id) => c2.get(id).then((d) => d.text, (e) => e.code)));
    const lost = ids.filter((id, i) => found[i] !== acked.get(id));
    expect(lost).toEqual([]);
    await c2.close();
    await second.stop();
  });
});

describe('scale', () => {
  it('holds 100,000 L3 contexts in the embedded store and answers retrieves over them', async () => {
    const d = await startDaemon();
    const c = await d.client({ timeoutMs: 120_000 });
    const total = 100_000;
    const batch = 1000;
    for (let i = 0; i < total; i += batch) {
      const r = await c.storeBatch(Array.from({ length: batch }, (_, j) => ({ text: `${syntheticText(i + j, 16)} #${i + j}`, level: 3 })));
      expect(r.results.every((x) => 'id' in x && typeof x.id === 'string')).toBe(true);
    }
    const stats = await c.stats();
    expect(stats.levels['3']).toBeGreaterThanOrEqual(total * 0.99); // a few generated texts may dedup
    for (let q = 0; q < 20; q++) {
      const r = await c.retrieve({ query: syntheticText(7_000_000 + q, 4), max_tokens: 2000 });
      expect(r.contexts.length).toBeGreaterThan(0);
      expect(r.total_tokens).toBeLessThanOrEqual(2000);
      expect(r.levels['3']!.candidates).toBeGreaterThan(0);
    }
    // A context stored at the end is found by its own text.
    const needle = await c.store({ text: 'needle in the haystack: the vault code is 4711', level: 3 });
    const found = await c.retrieve({ query: 'vault code needle haystack', max_tokens: 100 });
    expect(found.contexts[0]!.id).toBe(needle.id);
    await c.close();
    expect(await d.stop()).toBe(0);
  }, 600_000);
});
