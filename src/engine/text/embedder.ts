/**
 * What the engine needs to turn text into something searchable: a vector per
 * text and its exact token count. The default implementation is the local
 * `hash` embedder (local-embedder.ts); a remote one (an OpenAI-compatible HTTP
 * API) implements the same interface.
 */
export interface Analysis {
  readonly vector: Float32Array;
  readonly tokens: number;
}

export interface EmbedderStats {
  queryCacheHits: number;
  queryCacheMisses: number;
  offloadedTasks: number;
  inlineTasks: number;
}

export interface Embedder {
  readonly name: string;
  readonly dims: number;
  readonly stats: EmbedderStats;
  /** Work waiting for a worker thread (for metrics). */
  readonly queueSize: number;
  /** Worker threads running (0 for a remote embedder). */
  readonly threads: number;
  /** Vectors (L2-normalised) and token counts of stored texts. */
  analyze(texts: readonly string[]): Promise<Analysis[]>;
  /** The (L2-normalised) vector of a query. */
  embedQuery(query: string): Float32Array | Promise<Float32Array>;
  close(): Promise<void>;
}
