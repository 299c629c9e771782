/** Per-text CPU work that may run in a worker: exact token counts, and hash vectors. Runs on the main thread or in a worker. */
import { hashEmbed } from './hash-embedder.ts';
import { loadTokenCounter, type TokenizerName } from './tokenizer.ts';

export type AnalyzeTask =
  | { readonly kind: 'tokens'; readonly texts: readonly string[]; readonly tokenizer: TokenizerName }
  | { readonly kind: 'hash'; readonly texts: readonly string[]; readonly dims: number };

/** Token counts (Int32Array) or vectors (texts.length × dims, row-major). */
export async function analyze(task: AnalyzeTask): Promise<Int32Array | Float32Array> {
  if (task.kind === 'tokens') {
    const count = await loadTokenCounter(task.tokenizer);
    return Int32Array.from(task.texts, (t) => count(t));
  }
  const vectors = new Float32Array(task.texts.length * task.dims);
  task.texts.forEach((text, i) => vectors.set(hashEmbed(text, task.dims), i * task.dims));
  return vectors;
}
