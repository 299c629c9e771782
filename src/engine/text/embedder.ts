/**
 * What turns texts into vectors. One implementation per kind (hash, the local
 * sentence encoder, an OpenAI-compatible endpoint), picked by `embedder.kind`
 * (registry.ts). Token counting, the query cache, micro-batching and the
 * degraded mode, and the windowing of long texts are shared around them
 * (text-analyzer.ts), so an embedder only embeds texts that fit its input.
 */

import type { VectorSpace } from '../../domain/vector-space.ts';
import type { ChunkRule } from './chunking.ts';

/** Which vector space an embedder's vectors belong to: stored with every vector (PROTOCOL.md §5.1). */
export type EmbedderIdentity = VectorSpace;

export interface EmbedOptions {
  /** Absolute time (epoch ms) by which the caller needs the answer; retries stop before it. */
  readonly deadline?: number;
}

export interface Embedder {
  readonly identity: EmbedderIdentity;
  /** Most texts one `embed` call should carry (the micro-batcher fills calls up to it). */
  readonly maxBatch: number;
  /** `embed` calls that may run at once (worker threads, or the endpoint's allowed concurrency). */
  readonly concurrency: number;
  /** Worker threads running (0 for a remote embedder), for /health and metrics. */
  readonly threads: number;
  /** How longer texts are split into model inputs (chunking.ts); null: any length in one input. */
  readonly chunkRule: ChunkRule | null;
  /**
   * L2-normalised vectors of `texts`, in order (a text without content may give a zero vector).
   * Rejects when the embedder cannot answer; callers treat any rejection as "embedder unavailable".
   */
  embed(texts: readonly string[], opts?: EmbedOptions): Promise<Float32Array[]>;
  close(): Promise<void>;
}

/** Scales `v` to unit length in place (a zero vector stays zero). */
export function normalize(v: Float32Array): Float32Array {
  let norm = 0;
  for (let i = 0; i < v.length; i++) norm += v[i]! * v[i]!;
  if (norm > 0) {
    const inv = 1 / Math.sqrt(norm);
    for (let i = 0; i < v.length; i++) v[i]! *= inv;
  }
  return v;
}
