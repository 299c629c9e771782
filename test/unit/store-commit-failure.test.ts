/**
 * A store whose commit fails is never acknowledged, and neither is a store of
 * the same text that was deduplicated into it while it was in flight
 * (PROTOCOL.md §7.4). The engine runs over the embedded store behind a proxy
 * that holds writes of one text at a gate and then fails them (a full disk, a
 * remote store's timeout), and fails one session's listing; nothing is timed:
 * each assertion holds whichever way the two stores interleave.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import type { ContextRecord, RecordFilter } from '../../src/domain/context.ts';
import { ContextEngine } from '../../src/engine/context-engine.ts';
import { minRelevanceOf } from '../../src/engine/text/registry.ts';
import type { VectorStore } from '../../src/store/vector-store.ts';
import { openTestEngine, type TestEngine } from '../helpers/engine.ts';

const config = loadConfig({ env: { CTXD_EMBEDDER_KIND: 'hash' } });
const ann = { threshold: 1_000_000, connectivity: 16, expansionAdd: 64, expansionSearch: 64 };
const DOOMED = 'the twin text whose commit fails';

let t: TestEngine;
let engine: ContextEngine;
/** Writes of DOOMED wait here, then fail. */
let gate: { promise: Promise<void>; open: () => void };

function newGate(): typeof gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

beforeAll(async () => {
  t = await openTestEngine(config, ann);
  gate = newGate();
  const store = t.store as unknown as VectorStore;
  const failing = new Proxy(store, {
    get(target, prop) {
      if (prop === 'upsert') {
        return async (records: readonly ContextRecord[]) => {
          if (!records.some((r) => r.text === DOOMED)) return target.upsert(records);
          await gate.promise;
          throw new Error('commit failed (disk full)');
        };
      }
      if (prop === 'find') {
        return async (tenant: string, filter: RecordFilter, limit: number) => {
          if (filter.session === 'broken') throw new Error('the session cannot be listed');
          return target.find(tenant, filter, limit);
        };
      }
      const value = (target as unknown as Record<string | symbol, unknown>)[prop];
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  engine = new ContextEngine({ store: failing, text: t.text, config, minRelevance: minRelevanceOf(config) });
});
afterAll(() => t.close());

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('a store whose commit fails', () => {
  it('fails the stores of the same text decided while it was in flight', async () => {
    gate = newGate();
    const first = engine.store('T', [{ text: DOOMED, level: 3 }]);
    const twin = engine.store('T', [{ text: DOOMED, level: 3 }]);
    gate.open();
    const [a, b] = await Promise.allSettled([first, twin]);
    expect(a.status).toBe('rejected');
    // Deduplicated into the first (it answered with its id) or stored alone: either way nothing was written.
    expect(b.status).toBe('rejected');
    expect(await t.store.find('T', {}, 10)).toEqual([]);
  });

  it('leaves no unhandled rejection when another scope of the same batch fails first', async () => {
    const unhandled: unknown[] = [];
    const note = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', note);
    try {
      gate = newGate();
      const first = engine.store('T', [{ text: DOOMED, level: 3 }]);
      first.catch(() => undefined);
      // Two scopes: the twin (L3, waiting on the first's commit or its own) and an L1 item whose session cannot be
      // listed, which fails the request while the L3 scope still waits.
      const batch = engine.store('T', [
        { text: DOOMED, level: 3 },
        { text: 'a turn of a broken session', level: 1, session: 'broken' },
      ]);
      await expect(batch).rejects.toThrow('the session cannot be listed');
      gate.open();
      await expect(first).rejects.toThrow('disk full');
      for (let i = 0; i < 5; i++) await turn();
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', note);
    }
  });
});
