/**
 * What the engine asks of text: a vector and an exact token count per stored
 * text, a vector per query. Wraps the configured embedder with what every
 * kind shares: micro-batching of concurrent stores, token counting (inline or
 * in the worker pool), the windowing of long texts (chunking.ts), the
 * query-embedding cache (lru-cache), deadlines counted from arrival, and the
 * failure rule of PROTOCOL.md §7.5 "degraded": a store whose text cannot be
 * embedded fails with DependencyUnavailableError (UNAVAILABLE on the wire,
 * nothing written), a query that cannot be embedded is searched by its words
 * alone.
 */
import { LRUCache } from 'lru-cache';
import { DependencyUnavailableError } from '../../domain/errors.ts';
import type { TextFacts } from './analyze.ts';
import { pooled, windowsOf, type Windows } from './chunking.ts';
import type { Embedder, EmbedderIdentity } from './embedder.ts';
import { MicroBatcher } from './micro-batcher.ts';
import type { TextWorkers } from './text-workers.ts';
import type { TokenizerName } from './tokenizer.ts';

export interface Analysis {
  readonly vector: Float32Array;
  readonly tokens: number;
  /** Lexical term hashes, computed beside the token count (off the event loop for large texts). */
  readonly terms: Uint32Array;
}

/** When a client should retry a store the embedder could not serve, unless the breaker knows better. */
const EMBEDDER_RETRY_MS = 1000;
/** A query waits at most this long for its vector; then the retrieve answers from words (degraded). */
const QUERY_DEADLINE_MS = 5_000;

export interface TextAnalyzerOptions {
  readonly embedder: Embedder;
  readonly workers: TextWorkers;
  readonly tokenizer: TokenizerName;
  readonly queryCacheSize: number;
  /**
   * How long a stored text may take to embed, from its arrival, queueing included (`embedder.store_deadline_ms`):
   * below the client's timeout, so a client never re-sends while the daemon still works on it.
   */
  readonly storeDeadlineMs: number;
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
    const [facts, vectors] = await Promise.all([this.facts(texts), this.embedTexts(texts)]);
    return texts.map((_, i) => ({ vector: vectors[i]!, tokens: facts.tokens[i]!, terms: facts.terms[i]! }));
  }

  /** Token counts and term hashes without vectors (an import that brings its own vectors). */
  facts(texts: readonly string[]): Promise<TextFacts> {
    return this.opts.workers.run<TextFacts>({ kind: 'text', texts, tokenizer: this.opts.tokenizer });
  }

  /** Vectors only (also for re-embedding stored texts: `ctxd reindex`); DependencyUnavailableError when the embedder cannot answer. */
  async embedTexts(texts: readonly string[]): Promise<Float32Array[]> {
    try {
      return await this.embedWindowed(texts, { deadline: Date.now() + this.opts.storeDeadlineMs });
    } catch (err) {
      throw this.unavailable(err);
    }
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
      const [vector] = await this.embedWindowed([query], { query: true, deadline: Date.now() + QUERY_DEADLINE_MS });
      this.queryCache.set(query, vector!);
      return vector!;
    } catch (err) {
      this.unavailable(err);
      return null;
    }
  }

  /** Texts longer than the embedder's input are embedded as windows, pooled back into one vector each (chunking.ts). */
  private async embedWindowed(texts: readonly string[], opts: { query?: boolean; deadline: number }): Promise<Float32Array[]> {
    const rule = this.opts.embedder.chunkRule;
    const windows: Windows[] | null = rule ? texts.map((t) => windowsOf(t, rule)) : null;
    if (!windows || windows.every((w, i) => w.texts.length === 1 && w.texts[0] === texts[i])) {
      return this.batcher.embed(texts, opts);
    }
    const flat = windows.flatMap((w) => w.texts);
    const vectors = await this.batcher.embed(flat, opts);
    const dims = this.identity.dims;
    let at = 0;
    return windows.map((w) => {
      const first = at;
      at += w.texts.length;
      if (w.texts.length === 1) return vectors[first]!;
      const rows = new Float32Array(w.texts.length * dims);
      for (let i = 0; i < w.texts.length; i++) rows.set(vectors[first + i]!, i * dims);
      return pooled(rows, 0, w.weights, dims);
    });
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
