/**
 * The default `hash` embedder: turns texts into (vector, token count) pairs. Small inputs are handled
 * inline, where a worker round trip would cost more than the work; large texts
 * and batches go to a piscina worker pool so that one big store_batch does not
 * stall pings and retrievals on other connections. Query embeddings are cached.
 */
import { Piscina } from 'piscina';
import { LRUCache } from 'lru-cache';
import { analyze, type AnalyzeResult, type AnalyzeTask } from './analyze.ts';
import type { Analysis, Embedder, EmbedderStats } from './embedder.ts';
import { hashEmbed } from './hash-embedder.ts';
import { loadTokenCounter, type TokenizerName } from './tokenizer.ts';

export interface LocalEmbedderOptions {
  readonly dims: number;
  readonly tokenizer: TokenizerName;
  /** Inputs of at least this many UTF-16 units in total go to the pool. */
  readonly offloadMinChars: number;
  readonly maxThreads: number;
  readonly queryCacheSize: number;
}

export class LocalHashEmbedder implements Embedder {
  readonly name = 'hash';
  readonly dims: number;
  readonly stats: EmbedderStats = { queryCacheHits: 0, queryCacheMisses: 0, offloadedTasks: 0, inlineTasks: 0 };
  private readonly opts: LocalEmbedderOptions;
  private readonly pool: Piscina;
  private readonly queryCache: LRUCache<string, Float32Array>;

  private constructor(opts: LocalEmbedderOptions) {
    this.opts = opts;
    this.dims = opts.dims;
    this.pool = new Piscina({
      filename: new URL('./analyze.worker.ts', import.meta.url).href,
      minThreads: 1,
      maxThreads: opts.maxThreads,
      idleTimeout: 60_000,
    });
    this.queryCache = new LRUCache({ max: opts.queryCacheSize });
  }

  static async create(opts: LocalEmbedderOptions): Promise<LocalHashEmbedder> {
    // Load the tokenizer tables once up front, so the first store is not slow.
    await loadTokenCounter(opts.tokenizer);
    return new LocalHashEmbedder(opts);
  }

  get queueSize(): number {
    return this.pool.queueSize;
  }

  get threads(): number {
    return this.pool.threads.length;
  }

  async analyze(texts: readonly string[]): Promise<Analysis[]> {
    let chars = 0;
    for (const t of texts) chars += t.length;
    const task: AnalyzeTask = { texts, dims: this.dims, tokenizer: this.opts.tokenizer };
    let result: AnalyzeResult;
    if (chars < this.opts.offloadMinChars) {
      this.stats.inlineTasks++;
      result = await analyze(task);
    } else {
      this.stats.offloadedTasks++;
      result = (await this.pool.run(task)) as AnalyzeResult;
    }
    return texts.map((_, i) => ({
      vector: result.vectors.subarray(i * this.dims, (i + 1) * this.dims),
      tokens: result.tokens[i]!,
    }));
  }

  /** The query's embedding, from the cache when the same query was seen recently. */
  embedQuery(query: string): Float32Array {
    const hit = this.queryCache.get(query);
    if (hit) {
      this.stats.queryCacheHits++;
      return hit;
    }
    this.stats.queryCacheMisses++;
    const v = hashEmbed(query, this.dims);
    this.queryCache.set(query, v);
    return v;
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
