/**
 * What the engine asks of text: a vector and an exact token count per stored
 * text, a vector per query. Wraps the configured embedder with what every
 * kind shares: micro-batching of concurrent stores, token counting (inline or
 * in the worker pool), the query-embedding cache (lru-cache), and the
 * failure rule of PROTOCOL.md §7.5 "degraded": a store whose text cannot be
 * embedded fails with DependencyUnavailableError (UNAVAILABLE on the wire,
 * nothing written), a query that cannot be embedded is searched by its words
 * alone.
 */
import { LRUCache } from 'lru-cache';
import { DependencyUnavailableError } from '../../domain/errors.ts';
import type { Embedder, EmbedderIdentity } from './embedder.ts';
import { MicroBatcher } from './micro-batcher.ts';
import type { TextWorkers } from './text-workers.ts';
import type { TokenizerName } from './tokenizer.ts';

export interface Analysis {
  readonly vector: Float32Array;
  readonly tokens: number;
}

/** When a client should retry a store the embedder could not serve, unless the breaker knows better. */
const EMBEDDER_RETRY_MS = 1000;

export interface TextAnalyzerOptions {
  readonly embedder: Embedder;
  readonly workers: TextWorkers;
  readonly tokenizer: TokenizerName;
  readonly queryCacheSize: number;
  /** Reports an embedder failure (logged by the caller, without texts). */
  readonly onFailure?: (err: unknown) => void;
}

export class TextAnalyzer {
  readonly identity: EmbedderIdentity;
  readonly stats = { queryCacheHits: 0, queryCacheMisses: 0, failures: 0 };
  private readonly opts: TextAnalyzerOptions;
  private readonly batcher: MicroBatcher;
  private readonly queryCache: LRUCache<string, Float32Array>;

  constructor(opts: TextAnalyzerOptions) {
    this.opts = opts;
    this.identity = opts.embedder.identity;
    this.batcher = new MicroBatcher(opts.embedder);
    this.queryCache = new LRUCache({ max: opts.queryCacheSize });
  }

  get embedder(): Embedder {
    return this.opts.embedder;
  }

  get batches(): { calls: number; texts: number } {
    return this.batcher.stats;
  }

  /** Texts waiting for the model or a worker thread. */
  get queueSize(): number {
    return this.batcher.waiting + this.opts.workers.queueSize;
  }

  get threads(): number {
    return this.opts.embedder.threads + this.opts.workers.threads;
  }

  get workerStats(): { offloadedTasks: number; inlineTasks: number } {
    return this.opts.workers.stats;
  }

  async analyze(texts: readonly string[]): Promise<Analysis[]> {
    const [tokens, vectors] = await Promise.all([
      this.opts.workers.run<Int32Array>({ kind: 'tokens', texts, tokenizer: this.opts.tokenizer }),
      this.batcher.embed(texts).catch((err: unknown) => {
        throw this.unavailable(err);
      }),
    ]);
    return texts.map((_, i) => ({ vector: vectors[i]!, tokens: tokens[i]! }));
  }

  /** Vectors only (re-embedding stored texts: `ctxd reindex`); DependencyUnavailableError when the embedder cannot answer. */
  async embedTexts(texts: readonly string[]): Promise<Float32Array[]> {
    return this.batcher.embed(texts).catch((err: unknown) => {
      throw this.unavailable(err);
    });
  }

  /** The query's vector (cached), or null when the embedder cannot answer: the caller searches by words alone. */
  async embedQuery(query: string): Promise<Float32Array | null> {
    const hit = this.queryCache.get(query);
    if (hit) {
      this.stats.queryCacheHits++;
      return hit;
    }
    this.stats.queryCacheMisses++;
    try {
      const [vector] = await this.batcher.embed([query], { query: true });
      this.queryCache.set(query, vector!);
      return vector!;
    } catch (err) {
      this.unavailable(err);
      return null;
    }
  }

  private unavailable(err: unknown): DependencyUnavailableError {
    this.stats.failures++;
    this.opts.onFailure?.(err);
    const hinted = (err as { retryAfterMs?: unknown } | null)?.retryAfterMs;
    const retryAfterMs = typeof hinted === 'number' && hinted > 0 ? Math.ceil(hinted) : EMBEDDER_RETRY_MS;
    return new DependencyUnavailableError('embedder', retryAfterMs, 'the embedder cannot embed texts right now', { cause: err });
  }

  async close(): Promise<void> {
    await Promise.all([this.opts.embedder.close(), this.opts.workers.close()]);
  }
}
