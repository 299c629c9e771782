/**
 * A retrieve's answer-bytes bound (engine/retrieve.ts AnswerBound): contexts are omitted exactly when their exact
 * packed size does not fit, whether the cheap bounds or the exact sizes decided; while the bounds fit, no context
 * is packed to be measured.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import type { ContextEngine } from '../../src/engine/context-engine.ts';
import type { RetrievedContext } from '../../src/engine/types.ts';
import { packedSize } from '../../src/protocol/codec.ts';
import { retrievedView, retrievedViewBytesBound } from '../../src/server/handlers/context-view.ts';
import { openTestEngine, type TestEngine } from '../helpers/engine.ts';

// Scores by similarity and level only, so that repeated retrieves rank alike (access counts and time move nothing).
const config = loadConfig({ env: { CTXD_EMBEDDER_KIND: 'hash', CTXD_RETRIEVAL_WEIGHT_RECENCY: '0', CTXD_RETRIEVAL_WEIGHT_FREQUENCY: '0', CTXD_RETRIEVAL_WEIGHT_SIMILARITY: '0.8' } });
const ann = { threshold: 1_000_000, connectivity: 16, expansionAdd: 64, expansionSearch: 64 };
let t: TestEngine;
let engine: ContextEngine;

beforeAll(async () => {
  t = await openTestEngine(config, ann);
  engine = t.engine;
  // Texts of very different sizes, some tagged, some with metadata: the bounds are loose by different amounts.
  await engine.store('t', Array.from({ length: 60 }, (_, i) => ({
    text: `kafka consumer lag note ${i} ${'détail '.repeat((i * 37) % 300)}`,
    level: 3 as const,
    ...(i % 3 === 0 && { tags: [`tag-${i}`, 'kafka'] }),
    ...(i % 4 === 0 && { metadata: { n: i / 7, team: 'data', list: [1.5, i] } }),
  })));
});
afterAll(() => t.close());

const exactSize = (c: RetrievedContext) => packedSize(retrievedView(c));

describe('retrieve answer bytes', () => {
  it('omits exactly what does not fit by exact size, for every room from none to all', async () => {
    const all = await engine.retrieve('t', { query: 'kafka consumer lag', max_tokens: 100_000 });
    expect(all.contexts.length).toBe(60);
    const sizes = all.contexts.map(exactSize);
    const total = sizes.reduce((a, b) => a + b, 0);
    for (const maxBytes of [0, 500, 3000, Math.floor(total / 3), Math.floor(total / 2), total - 1, total, total + 10_000]) {
      // The oracle: the exact sizes alone, greedily in rank order, skipping what does not fit.
      let room = maxBytes;
      const expected = all.contexts.filter((c, i) => (sizes[i]! <= room ? ((room -= sizes[i]!), true) : false)).map((c) => c.record.id);
      const r = await engine.retrieve('t', { query: 'kafka consumer lag', max_tokens: 100_000 }, { maxBytes, sizeOf: exactSize, sizeBound: retrievedViewBytesBound });
      expect(r.contexts.map((c) => c.record.id)).toEqual(expected);
      expect(r.levels[3]!.omitted).toBe(60 - expected.length);
    }
  });

  it('packs no context to measure it while the bounds fit', async () => {
    let measured = 0;
    const r = await engine.retrieve('t', { query: 'kafka consumer lag', max_tokens: 100_000 }, { maxBytes: 10_000_000, sizeOf: (c) => (measured++, exactSize(c)), sizeBound: retrievedViewBytesBound });
    expect(r.contexts.length).toBe(60);
    expect(measured).toBe(0);
  });
});
