/**
 * Exact token counts for the configured BPE encoding (gpt-tokenizer, pure JS).
 * Only the configured encoding's tables are loaded.
 */
export type TokenizerName = 'o200k_base' | 'cl100k_base';
export const TOKENIZERS: readonly TokenizerName[] = ['o200k_base', 'cl100k_base'];

export type CountTokens = (text: string) => number;

export async function loadTokenCounter(name: TokenizerName): Promise<CountTokens> {
  const mod = (name === 'o200k_base'
    ? await import('gpt-tokenizer/encoding/o200k_base')
    : await import('gpt-tokenizer/encoding/cl100k_base')) as { countTokens: CountTokens };
  return (text) => mod.countTokens(text);
}
