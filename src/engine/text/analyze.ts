/** Per-text CPU work: the embedding vector and the exact token count. Runs on the main thread or in a worker. */
import { hashEmbed } from './hash-embedder.ts';
import { loadTokenCounter, type TokenizerName } from './tokenizer.ts';

export interface AnalyzeTask {
  readonly texts: readonly string[];
  readonly dims: number;
  readonly tokenizer: TokenizerName;
}

export interface AnalyzeResult {
  /** texts.length × dims, row-major. */
  readonly vectors: Float32Array;
  readonly tokens: Int32Array;
}

export async function analyze(task: AnalyzeTask): Promise<AnalyzeResult> {
  const count = await loadTokenCounter(task.tokenizer);
  const vectors = new Float32Array(task.texts.length * task.dims);
  const tokens = new Int32Array(task.texts.length);
  task.texts.forEach((text, i) => {
    vectors.set(hashEmbed(text, task.dims), i * task.dims);
    tokens[i] = count(text);
  });
  return { vectors, tokens };
}
