/**
 * Retrieve while the store cannot answer (PROTOCOL.md §7.5 "degraded":
 * ["store"]): the engine runs over a real embedded store behind a switch
 * that makes every call fail as a remote store's breaker does
 * (DependencyUnavailableError), and answers from the L1 turns this process
 * stored. The remote store itself (Qdrant) cannot run here; this tests the
 * engine's side of the contract.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { DependencyUnavailableError } from '../../src/domain/errors.ts';
import { ContextEngine } from '../../src/engine/context-engine.ts';
import { RecentTurns } from '../../src/engine/recent-turns.ts';
import { createTextAnalyzer, minRelevanceOf, spaceOf } from '../../src/engine/text/registry.ts';
import type { TextAnalyzer } from '../../src/engine/text/text-analyzer.ts';
import { BreakerRegistry } from '../../src/resilience/breaker.ts';
import { EmbeddedStore } from '../../src/store/embedded/embedded-store.ts';
import type { VectorStore } from '../../src/store/vector-store.ts';
import { makeRecord } from '../helpers/records.ts';
import { removeDir, tempDataDir } from '../helpers/daemon.ts';

const config = loadConfig({ env: { CTXD_EMBEDDER_KIND: 'hash' } });

/** A store that fails every call while `down`, as a remote store behind an open breaker does. */
function switchable(inner: VectorStore): { store: VectorStore; down: boolean } {
  const state = { down: false };
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function' || ['open', 'close', 'health', 'usage', 'name'].includes(String(prop))) {
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return (...args: unknown[]) => {
        if (state.down) return Promise.reject(new DependencyUnavailableError('store', 750, 'store is unavailable (circuit breaker open)'));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return {
    store,
    get down() {
      return state.down;
    },
    set down(v: boolean) {
      state.down = v;
    },
  };
}

let text: TextAnalyzer;
const dirs: string[] = [];
const stores: EmbeddedStore[] = [];

async function engineOver(recentTurnsBytes = 1 << 20) {
  const dir = tempDataDir();
  dirs.push(dir);
  const embedded = new EmbeddedStore({
    dataDir: dir,
    space: spaceOf(config),
    durability: 'relaxed',
    ann: { threshold: 16_384, connectivity: 16, expansionAdd: 64, expansionSearch: 64 },
  });
  await embedded.open();
  stores.push(embedded);
  const fault = switchable(embedded);
  const engine = new ContextEngine({ store: fault.store, text, config, minRelevance: minRelevanceOf(config), recentTurnsBytes });
  return { engine, fault };
}

beforeAll(async () => {
  text = await createTextAnalyzer({ config, secrets: { openaiApiKey: null }, breakers: new BreakerRegistry() });
});

afterAll(async () => {
  for (const s of stores) await s.close();
  for (const d of dirs) removeDir(d);
  await text.close();
});

describe('retrieve while the store is unreachable', () => {
  it('answers from the session\'s recent L1 turns, says degraded ["store"], and skips the levels it cannot search', async () => {
    const { engine, fault } = await engineOver();
    await engine.store('t', [
      { text: 'the deploy of billing-api failed on node 7', level: 1, session: 's1' },
      { text: 'the user prefers dark mode in the editor', level: 1, session: 's1' },
      { text: 'another session talks about the deploy too', level: 1, session: 's2' },
      { text: 'billing-api deploys go through the canary first', level: 3, session: 's1' },
    ]);
    const healthy = await engine.retrieve('t', { query: 'billing-api deploy', session: 's1' });
    expect(healthy.degraded).toEqual([]);
    expect(healthy.contexts.map((c) => c.record.text)).toContain('billing-api deploys go through the canary first');

    fault.down = true;
    const r = await engine.retrieve('t', { query: 'billing-api deploy', session: 's1' });
    expect(r.degraded).toEqual(['store']);
    const texts = r.contexts.map((c) => c.record.text);
    expect(texts[0]).toBe('the deploy of billing-api failed on node 7');
    expect(texts).not.toContain('another session talks about the deploy too');
    expect(texts).not.toContain('billing-api deploys go through the canary first');
    expect(r.contexts.every((c) => c.record.level === 1 && c.record.session === 's1')).toBe(true);
    expect(r.levels[3]!.candidates).toBe(0);
    fault.down = false;
  });

  it('never answers with a turn this process deleted or moved out of L1', async () => {
    const { engine, fault } = await engineOver();
    const [a, b, c] = await engine.store('t', [
      { text: 'kept turn about the release train', level: 1, session: 's' },
      { text: 'deleted turn about the release train', level: 1, session: 's' },
      { text: 'promoted turn about the release train', level: 1, session: 's' },
    ]);
    await engine.delete('t', b!.id);
    await engine.update('t', c!.id, { level: 3 });
    fault.down = true;
    const r = await engine.retrieve('t', { query: 'release train', session: 's' });
    expect(r.degraded).toEqual(['store']);
    expect(r.contexts.map((x) => x.record.id)).toEqual([a!.id]);
    fault.down = false;
    await engine.deleteWhere('t', { session: 's' });
    fault.down = true;
    // The kept turns of the tenant were dropped with the delete_where: nothing left to answer from.
    await expect(engine.retrieve('t', { query: 'release train', session: 's' })).rejects.toBeInstanceOf(DependencyUnavailableError);
    fault.down = false;
  });

  it('fails with the store\'s error when nothing could be searched, and refuses writes, which then never appear', async () => {
    const { engine, fault } = await engineOver();
    fault.down = true;
    const err = await engine.retrieve('t', { query: 'anything at all', session: 'never-seen' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyUnavailableError);
    expect((err as DependencyUnavailableError).retryAfterMs).toBe(750);
    await expect(engine.store('t', [{ text: 'written while down', level: 1, session: 'x' }])).rejects.toBeInstanceOf(DependencyUnavailableError);
    fault.down = false;
    const r = await engine.retrieve('t', { query: 'written while down', session: 'x' });
    expect(r.degraded).toEqual([]);
    expect(r.contexts).toEqual([]);
  });

  it('recovers: once the store answers again, retrieves are whole and not degraded', async () => {
    const { engine, fault } = await engineOver();
    await engine.store('t', [
      { text: 'l1 note on the flaky integration test', level: 1, session: 's' },
      { text: 'l2 note on the flaky integration test', level: 2, session: 's' },
    ]);
    fault.down = true;
    expect((await engine.retrieve('t', { query: 'flaky integration test', session: 's' })).contexts).toHaveLength(1);
    fault.down = false;
    const r = await engine.retrieve('t', { query: 'flaky integration test', session: 's' });
    expect(r.degraded).toEqual([]);
    expect(r.contexts).toHaveLength(2);
  });
});

describe('RecentTurns bounds', () => {
  it('keeps at most the L1 cap per session and evicts the least recently used session past its bytes', () => {
    const turns = new RecentTurns(64 * 1024, 3);
    for (let i = 0; i < 5; i++) turns.put(makeRecord({ tenant: 't', session: 'a', level: 1, text: `turn ${i}`, ts: 1000 + i }, 8));
    const kept = turns.search('t', null, 'turn', { session: 'a' });
    expect(kept.map((h) => h.meta.ts).sort()).toEqual([1002, 1003, 1004]);
    const big = 'x'.repeat(20 * 1024);
    for (let s = 0; s < 4; s++) turns.put(makeRecord({ tenant: 't', session: `big${s}`, level: 1, text: big }, 8));
    expect(turns.search('t', null, 'turn', { session: 'a' })).toEqual([]);
    expect(turns.search('t', null, 'x', { session: 'big3' })).toHaveLength(1);
    expect(turns.size).toBeLessThan(5);
  });

  it('does not answer one tenant from another tenant\'s turns', () => {
    const turns = new RecentTurns(1 << 20, 8);
    const r = makeRecord({ tenant: 'a', session: 's', level: 1, text: 'secret of tenant a' }, 8);
    turns.put(r);
    expect(turns.search('b', null, 'secret', { session: 's' })).toEqual([]);
    expect(turns.docs('b', [r.id]).size).toBe(0);
    expect(turns.docs('a', [r.id]).get(r.id)!.text).toBe('secret of tenant a');
  });
});
