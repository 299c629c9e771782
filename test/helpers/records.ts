/** Generated contexts for store and engine tests. */
import type { ContextRecord, Level } from '../../src/domain/context.ts';
import { hashEmbed } from '../../src/engine/text/hash-embedder.ts';
import { newContextId } from '../../src/engine/ids.ts';

const WORDS = (
  'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango ' +
  'uniform victor whiskey xray yankee zulu cache queue index shard replica leader follower commit rollback schema migration ' +
  'tenant session agent memory budget token vector search filter recall latency throughput backup restore deploy release'
).split(' ');

/** Deterministic pseudo-random text of `n` words from seed `seed`. */
export function syntheticText(seed: number, n = 12): string {
  let x = seed * 2654435761 + 1;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x ^ (x >>> 15), 2246822519) + 0x9e3779b9) >>> 0;
    out.push(WORDS[x % WORDS.length]!);
  }
  return out.join(' ');
}

export function makeRecord(over: Partial<ContextRecord> & { tenant: string; text: string }, dims = 384): ContextRecord {
  const now = over.ts ?? Date.now();
  return {
    id: over.id ?? newContextId(now),
    level: (over.level ?? 3) as Level,
    session: 'default',
    agent: null,
    tags: [],
    metadata: {},
    tokens: over.text.split(' ').length,
    createdTs: now,
    ts: now,
    expiresAt: null,
    accessCount: 0,
    version: 1,
    vector: hashEmbed(over.text, dims),
    ...over,
  };
}

/** A deterministic random generator in [0, 1) (mulberry32), so generated texts are the same on every run. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
