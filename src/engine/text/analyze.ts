/**
 * Per-text CPU work that may run in a worker: exact token counts and lexical
 * term hashes (what the postings index), or hash vectors. Runs on the main
 * thread for small inputs, in a worker for large ones, so a 4 MiB batch of
 * text is never tokenised or split into terms on the event loop.
 */
import { termHashes } from '../../domain/lexical.ts';
import { hashEmbed } from './hash-embedder.ts';
import { loadTokenCounter, type TokenizerName } from './tokenizer.ts';

export type AnalyzeTask =
  | { readonly kind: 'text'; readonly texts: readonly string[]; readonly tokenizer: TokenizerName }
  | { readonly kind: 'hash'; readonly texts: readonly string[]; readonly dims: number };

export interface TextFacts {
  readonly tokens: Int32Array;
  readonly terms: Uint32Array[];
}

export type AnalyzeOutput = TextFacts | Float32Array;

/** Token counts and term hashes, or vectors (texts.length × dims, row-major). */
export async function analyze(task: AnalyzeTask): Promise<AnalyzeOutput> {
  if (task.kind === 'text') {
    const count = await loadTokenCounter(task.tokenizer);
    return { tokens: Int32Array.from(task.texts, (t) => count(t)), terms: task.texts.map((t) => termHashes(t)) };
  }
  const vectors = new Float32Array(task.texts.length * task.dims);
  task.texts.forEach((text, i) => vectors.set(hashEmbed(text, task.dims), i * task.dims));
  return vectors;
}
