/**
 * The ranking score: weighted similarity, recency, level and access frequency.
 * `parts` are the weighted contributions and sum to the score, so a caller can
 * see why a context won.
 */
import type { ContextMeta, Level } from '../domain/context.ts';

export interface ScoreWeights {
  readonly similarity: number;
  readonly recency: number;
  readonly level: number;
  readonly frequency: number;
  readonly levelValues: Readonly<Record<Level, number>>;
  readonly halfLifeMs: number;
  readonly frequencySaturation: number;
}

export interface ScoreParts {
  readonly similarity: number;
  readonly recency: number;
  readonly level: number;
  readonly frequency: number;
}

export interface Scored {
  readonly score: number;
  readonly parts: ScoreParts;
}

export function scoreContext(meta: ContextMeta, similarity: number, now: number, w: ScoreWeights): Scored {
  const age = Math.max(0, now - meta.ts);
  const parts: ScoreParts = {
    similarity: w.similarity * Math.max(0, Math.min(1, similarity)),
    recency: w.recency * Math.pow(0.5, age / w.halfLifeMs),
    level: w.level * w.levelValues[meta.level],
    frequency: w.frequency * Math.min(1, Math.log1p(meta.accessCount) / Math.log1p(w.frequencySaturation)),
  };
  return { score: parts.similarity + parts.recency + parts.level + parts.frequency, parts };
}
