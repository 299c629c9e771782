/**
 * Picks and builds the embedder `embedder.kind` names, wrapped in the shared
 * text analyzer. The only place that knows every kind; resilience (the
 * breaker, retries) is attached here, where the adapter is built, so the
 * engine sees domain errors only.
 */
import { availableParallelism } from 'node:os';
import type { Config } from '../../config/schema.ts';
import { Breaker, type BreakerRegistry } from '../../resilience/breaker.ts';
import type { Embedder } from './embedder.ts';
import { HashEmbedder, hashSpace } from './hash-embedder.ts';
import type { VectorSpace } from '../../domain/vector-space.ts';
import { LocalModelEmbedder, SENTENCE_ENCODER_DIMS, SENTENCE_ENCODER_MODEL } from './local-model-embedder.ts';
import { isEmbedderFailure, OpenAiEmbedder } from './openai-embedder.ts';
import { TextAnalyzer } from './text-analyzer.ts';
import { TextWorkers } from './text-workers.ts';
import { loadTokenCounter } from './tokenizer.ts';

export interface EmbedderSecrets {
  /** The value of the environment variable `embedder.openai.api_key_env` names, read by the CLI. */
  readonly openaiApiKey: string | null;
}

export interface TextAnalyzerSetup {
  readonly config: Pick<Config, 'embedder' | 'workers'>;
  readonly secrets: EmbedderSecrets;
  readonly breakers: BreakerRegistry;
  readonly onFailure?: (err: unknown) => void;
}

/**
 * Most model threads chosen automatically: each holds its own copy of the
 * model (~180 MB), and in a container the core count is the node's, not the
 * pod's share. More must be asked for (embedder.local.threads).
 */
const AUTO_THREADS_MAX = 4;

/** Worker threads for the local model: every core but one, which stays with the event loop (at most AUTO_THREADS_MAX). */
export function localModelThreads(configured: number): number {
  return configured > 0 ? configured : Math.min(AUTO_THREADS_MAX, Math.max(1, availableParallelism() - 1));
}

/** The vector space of the configured embedder, known before it is built (the store opens first). */
export function spaceOf(config: Pick<Config, 'embedder'>): VectorSpace {
  const e = config.embedder;
  switch (e.kind) {
    case 'hash':
      return hashSpace(e.hash.dims);
    case 'local':
      return { kind: 'local', model: SENTENCE_ENCODER_MODEL, dims: SENTENCE_ENCODER_DIMS };
    case 'openai':
      return { kind: 'openai', model: e.openai.model, dims: e.openai.dims };
  }
}

/** The relevance floor of the configured embedder. */
export function minRelevanceOf(config: Pick<Config, 'embedder'>): number {
  return config.embedder[config.embedder.kind].min_relevance;
}

async function createEmbedder(setup: TextAnalyzerSetup, workers: TextWorkers): Promise<Embedder> {
  const e = setup.config.embedder;
  switch (e.kind) {
    case 'hash':
      return new HashEmbedder(e.hash.dims, workers);
    case 'local':
      return LocalModelEmbedder.create({ threads: localModelThreads(e.local.threads), batchSize: e.local.batch_size });
    case 'openai': {
      const breaker = new Breaker({
        name: 'embedder',
        timeoutMs: false,
        errorThresholdPercentage: e.openai.breaker_error_percentage,
        volumeThreshold: e.openai.breaker_volume_threshold,
        resetTimeoutMs: e.openai.breaker_reset_ms,
        rollingCountTimeoutMs: e.openai.breaker_window_ms,
        isFailure: isEmbedderFailure,
      });
      setup.breakers.add(breaker);
      return new OpenAiEmbedder({
        baseUrl: e.openai.base_url,
        model: e.openai.model,
        dims: e.openai.dims,
        apiKey: setup.secrets.openaiApiKey,
        batchSize: e.openai.batch_size,
        maxInputChars: e.openai.max_input_chars,
        timeoutMs: e.openai.timeout_ms,
        concurrency: e.openai.concurrency,
        maxRetries: e.openai.max_retries,
        retryBaseMs: e.openai.retry_base_ms,
        retryMaxDelayMs: e.openai.retry_max_delay_ms,
        breaker,
      });
    }
  }
}

export async function createTextAnalyzer(setup: TextAnalyzerSetup): Promise<TextAnalyzer> {
  const { config } = setup;
  // Load the tokenizer tables once up front, so the first store is not slow.
  await loadTokenCounter(config.embedder.tokenizer);
  const workers = new TextWorkers({ offloadMinChars: config.workers.offload_min_chars, maxThreads: config.workers.max_threads });
  let embedder: Embedder;
  try {
    embedder = await createEmbedder(setup, workers);
  } catch (e) {
    await workers.close();
    throw e;
  }
  return new TextAnalyzer({
    embedder,
    workers,
    tokenizer: config.embedder.tokenizer,
    queryCacheSize: config.embedder.query_cache_size,
    storeDeadlineMs: config.embedder.store_deadline_ms,
    ...(setup.onFailure && { onFailure: setup.onFailure }),
  });
}
