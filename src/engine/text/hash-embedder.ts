/**
 * The `hash` embedder: signed feature hashing of word unigrams, word bigrams
 * and character trigrams, L2-normalised. Deterministic, offline and tiny; it
 * measures lexical overlap (shared words and word pieces), not meaning: "car"
 * and "automobile" are unrelated to it. For tests and keyword-only
 * deployments; the default is the local sentence encoder.
 */
import { hash32, words as wordsOf } from '../../domain/words.ts';
import { normalize, type Embedder, type EmbedderIdentity } from './embedder.ts';
import type { TextWorkers } from './text-workers.ts';

const UNIGRAM_WEIGHT = 1.0;
const BIGRAM_WEIGHT = 0.7;
const TRIGRAM_WEIGHT = 0.25;

function addFeature(v: Float32Array, feature: string, weight: number): void {
  const h = hash32(feature);
  const index = h % v.length;
  // The sign comes from the top bit, independent of the index bits for power-of-two and other dims alike.
  v[index]! += h & 0x80000000 ? -weight : weight;
}

export function hashEmbed(text: string, dims: number): Float32Array {
  const v = new Float32Array(dims);
  const words = wordsOf(text);
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    addFeature(v, 'w\u0000' + w, UNIGRAM_WEIGHT);
    if (i > 0) addFeature(v, 'b\u0000' + words[i - 1] + ' ' + w, BIGRAM_WEIGHT);
    const padded = '#' + w + '#';
    for (let j = 0; j + 3 <= padded.length; j++) addFeature(v, 'c\u0000' + padded.slice(j, j + 3), TRIGRAM_WEIGHT);
  }
  return normalize(v);
}

/** The vector space of feature hashing at `dims`. */
export function hashSpace(dims: number): EmbedderIdentity {
  return { kind: 'hash', model: 'feature-hash-v1', dims };
}

/** Largest batch one call takes: hashing is cheap, a call is split only to bound one worker task. */
const HASH_BATCH = 1024;

export class HashEmbedder implements Embedder {
  readonly identity: EmbedderIdentity;
  readonly maxBatch = HASH_BATCH;
  readonly concurrency = 4;
  readonly threads = 0;
  /** Hashing takes any length in one pass. */
  readonly chunkRule = null;
  private readonly workers: TextWorkers;

  constructor(dims: number, workers: TextWorkers) {
    this.identity = hashSpace(dims);
    this.workers = workers;
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    const dims = this.identity.dims;
    const rows = await this.workers.run<Float32Array>({ kind: 'hash', texts, dims });
    // Copies, not views: a view would pin the whole call's buffer (in the query cache too), and usearch's
    // exactSearch reads a typed array from its buffer's start, ignoring the view's offset.
    return texts.map((_, i) => rows.slice(i * dims, (i + 1) * dims));
  }

  async close(): Promise<void> {}
}
