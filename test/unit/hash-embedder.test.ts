import { describe, expect, it } from 'vitest';
import { hashEmbed } from '../../src/engine/text/hash-embedder.ts';

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

describe('hash embedder', () => {
  it('is deterministic and L2-normalised', () => {
    const a = hashEmbed('The cache layer uses Redis for sessions', 384);
    expect([...a]).toEqual([...hashEmbed('The cache layer uses Redis for sessions', 384)]);
    expect(dot(a, a)).toBeCloseTo(1, 5);
    expect(a.length).toBe(384);
  });

  it('scores shared words above unrelated text, and ignores case and punctuation', () => {
    const q = hashEmbed('database migration plan', 384);
    const near = hashEmbed('The plan for the database migration is ready', 384);
    const far = hashEmbed('Lunch options near the office', 384);
    expect(dot(q, near)).toBeGreaterThan(dot(q, far) + 0.2);
    expect(dot(hashEmbed('Hello, World!', 384), hashEmbed('hello world', 384))).toBeCloseTo(1, 5);
  });

  it('gives an empty vector for text without words', () => {
    expect(dot(hashEmbed('!!!', 384), hashEmbed('!!!', 384))).toBe(0);
  });
});
