/**
 * retrievedViewBytesBound (context-view.ts) is what a retrieve adds up instead of packing each context: it must never
 * be below the exact packed size, whatever the context holds.
 */
import { describe, expect, it } from 'vitest';
import type { RetrievedContext } from '../../src/engine/types.ts';
import { packedSize } from '../../src/protocol/codec.ts';
import { retrievedView, retrievedViewBytesBound } from '../../src/server/handlers/context-view.ts';
import { seededRandom } from '../helpers/records.ts';

const WIDE = Number.MAX_SAFE_INTEGER;

function context(over: Partial<RetrievedContext['record']>, score = 0.123456789): RetrievedContext {
  return {
    record: { id: 'c_0123456789abcdef', tenant: 't', level: 3, session: 'default', agent: null, text: 'x', tags: [], metadata: {}, tokens: 1, createdTs: 1, ts: 1, expiresAt: null, accessCount: 0, version: 1, ...over },
    score,
    parts: { similarity: score, recency: score / 3, level: 0.1, frequency: 1 / 7 },
    relevance: { value: score, dense: score, lexical: 1 / 3 },
  };
}

describe('retrievedViewBytesBound', () => {
  it('is at least the packed size, for small, wide, unicode, tagged and metadata-heavy contexts', () => {
    const rnd = seededRandom(11);
    const cases: RetrievedContext[] = [
      context({}),
      context({ text: '', session: '', agent: '' }),
      context({ text: 'é🙂字'.repeat(5000), session: 's'.repeat(128), agent: 'agent-🙂'.repeat(16) }),
      context({ text: 'x'.repeat(70_000), agent: '\ud800 lone \udfff surrogates' }),
      context({ tokens: WIDE, ts: WIDE, createdTs: WIDE, expiresAt: WIDE, accessCount: WIDE, version: WIDE }, -1e300),
      context({ tags: Array.from({ length: 64 }, (_, i) => `${'🙂'.repeat(120)}${i}`) }),
      context({ metadata: { a: 0.5, b: [1.5, -2.25, WIDE, 'é'.repeat(100)], c: { d: { e: null, f: true } }, g: '' } }),
      context({ metadata: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i / 7])) }),
    ];
    for (let i = 0; i < 200; i++) {
      const words = Array.from({ length: Math.floor(rnd() * 400) }, () => String.fromCodePoint(32 + Math.floor(rnd() * 0x2fff))).join('');
      cases.push(context({ text: words, tags: words.length % 2 ? [words.slice(0, 30)] : [], metadata: words.length % 3 ? {} : { n: rnd(), s: words.slice(0, 50) }, tokens: Math.floor(rnd() * 1e6), accessCount: Math.floor(rnd() * 1e9) }, rnd()));
    }
    for (const c of cases) {
      const exact = packedSize(retrievedView(c));
      expect(retrievedViewBytesBound(c)).toBeGreaterThanOrEqual(exact);
    }
    // Not so loose that a tight answer omits much: a typical context is bounded within a few hundred bytes.
    const typical = context({ text: 'a'.repeat(200), tokens: 40, ts: Date.now(), createdTs: Date.now(), accessCount: 3 });
    expect(retrievedViewBytesBound(typical) - packedSize(retrievedView(typical))).toBeLessThan(400);
  });
});
