/**
 * The `local` embedder: Universal Sentence Encoder lite in worker threads
 * (piscina), so embedding never runs on the event loop. One call of up to
 * `maxBatch` windows is one task; the micro-batcher (micro-batcher.ts) fills
 * calls from concurrent stores, and `concurrency` tasks run at once, one per
 * thread. Texts arrive already windowed (chunking.ts, LOCAL_CHUNK_RULE).
 */
import { Piscina } from 'piscina';
import type { ChunkRule } from './chunking.ts';
import type { Embedder, EmbedderIdentity } from './embedder.ts';
import type { EncodeTask } from './sentence-encoder.worker.ts';

/** The model the worker threads run (sentence-encoder.ts); named here so the main thread never loads TensorFlow.js. */
export const SENTENCE_ENCODER_MODEL = 'universal-sentence-encoder-lite';
export const SENTENCE_ENCODER_DIMS = 512;

/** About 128 vocabulary pieces, the length the model was trained on; at most 16 windows a text. */
export const LOCAL_CHUNK_RULE: ChunkRule = { windowWords: 96, windowChars: 768, maxWindows: 16 };

export interface LocalModelOptions {
  readonly threads: number;
  readonly batchSize: number;
}

export class LocalModelEmbedder implements Embedder {
  readonly identity: EmbedderIdentity = { kind: 'local', model: SENTENCE_ENCODER_MODEL, dims: SENTENCE_ENCODER_DIMS };
  readonly maxBatch: number;
  readonly concurrency: number;
  readonly chunkRule = LOCAL_CHUNK_RULE;
  private readonly pool: Piscina;

  private constructor(opts: LocalModelOptions) {
    this.maxBatch = opts.batchSize;
    this.concurrency = opts.threads;
    this.pool = new Piscina({
      filename: new URL('./sentence-encoder.worker.ts', import.meta.url).href,
      minThreads: opts.threads,
      maxThreads: opts.threads,
      // A model per thread is loaded once and kept: an idle thread is not worth reloading it.
      idleTimeout: Number.POSITIVE_INFINITY,
    });
  }

  /** Starts the threads and loads the model in each, so the first store is not slow and a broken install fails at start. */
  static async create(opts: LocalModelOptions): Promise<LocalModelEmbedder> {
    const embedder = new LocalModelEmbedder(opts);
    try {
      await Promise.all(Array.from({ length: opts.threads }, () => embedder.pool.run({ texts: ['warm up'] } satisfies EncodeTask)));
    } catch (e) {
      await embedder.close();
      throw e;
    }
    return embedder;
  }

  get threads(): number {
    return this.pool.threads.length;
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    const dims = this.identity.dims;
    // A call larger than maxBatch (reindex, a direct caller) is split into tasks run side by side.
    const parts: Promise<Float32Array>[] = [];
    for (let at = 0; at < texts.length; at += this.maxBatch) parts.push(this.pool.run({ texts: texts.slice(at, at + this.maxBatch) } satisfies EncodeTask));
    const vectors: Float32Array[] = [];
    for (const rows of await Promise.all(parts)) {
      for (let at = 0; at < rows.length; at += dims) vectors.push(rows.slice(at, at + dims));
    }
    return vectors;
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
