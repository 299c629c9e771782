/**
 * Token counts for the configured BPE encoding (gpt-tokenizer, pure JS), in time linear in the text
 * and never lower than the exact count. Only the configured encoding's tables are loaded.
 *
 * Why not `countTokens` as it is: gpt-tokenizer splits a text into pieces with the encoding's
 * regular expression, then runs byte-pair merging on each piece, and that merge is quadratic (or
 * worse) in the length of the piece. A run without spaces (emoji, one letter repeated, a long
 * symbol line) is one piece: 256 KiB of emoji took 17–20 s in one call.
 *
 * What this does instead, piece by piece with the encoder's own split:
 *  - a piece of at most MAX_EXACT_PIECE UTF-16 units is counted exactly, by the same two steps as
 *    gpt-tokenizer's `countNative` (one token when the piece is itself a token, else the length of
 *    its byte-pair encoding, through the encoder's merge cache);
 *  - a longer piece counts as its UTF-8 byte length. Byte-level BPE starts from one token per byte
 *    (every byte value is a token) and every merge removes one, so the bytes bound the piece's exact
 *    count from above.
 * The exact count of a text is the sum over these same pieces (that is how `countNative` computes
 * it), so the result equals the exact count when no piece is longer than MAX_EXACT_PIECE and exceeds
 * it otherwise. It is never computed by cutting a text (or a piece) into chunks and summing their
 * counts: cutting can unblock better merges, so such a sum can be lower than the exact count.
 *
 * Special-token text ("<|endoftext|>" and the like) counts as ordinary text, as the encoder counts it
 * with its special-token check off (`countTokens(text, { disallowedSpecial: new Set() })`). That is
 * how such text is tokenised when it is sent as message content, and it is never fewer tokens than
 * the one special token would be. (gpt-tokenizer's `countTokens(text)` without options throws
 * "Disallowed special token found" on such text instead, which failed the whole analysis.)
 */
import type { EncodeOptions, GptEncoding } from 'gpt-tokenizer/GptEncoding';
// The split expressions the encodings are built with (gpt-tokenizer src/encodingParams/constants.ts,
// used by src/encodingParams/o200k_base.ts and cl100k_base.ts as `tokenSplitRegex`), reached
// through the package's `./*` export.
import { CL100K_TOKEN_SPLIT_REGEX, O200K_TOKEN_SPLIT_REGEX } from 'gpt-tokenizer/encodingParams/constants';

export type TokenizerName = 'o200k_base' | 'cl100k_base';

export type CountTokens = (text: string) => number;

/**
 * Longest pre-tokenisation piece (UTF-16 units) that is byte-pair encoded exactly; longer ones count
 * as their UTF-8 bytes. Words, identifiers, URLs, hex hashes and base64 split into pieces far
 * shorter than this. At this length the worst case (a text made only of pieces of exactly this
 * length, of 3-byte characters) costs about 1–1.7 ms per KiB, 0.26–0.44 s for a 256 KiB text, the
 * same as gpt-tokenizer's own count of it; see bench/tokenize.ts and bench/tokenize.md.
 */
export const MAX_EXACT_PIECE = 256;

/** Pieces up to this long have their counts kept (PIECE_CACHE_ENTRIES of them at most, ~0.5 MB). */
const PIECE_CACHE_MAX_CHARS = 24;
const PIECE_CACHE_ENTRIES = 8192;

/** The merge steps of gpt-tokenizer's BytePairEncodingCore that `countNative` uses (private there). */
interface BpeCore {
  getBpeRankFromString(piece: string): number | undefined;
  bytePairEncode(piece: string): number[];
}

interface EncodingModule {
  readonly default: GptEncoding;
  countTokens(text: string, options?: EncodeOptions): number;
}

/** Special-token text counts as ordinary text (no throw, no special token). */
const ORDINARY: EncodeOptions = { disallowedSpecial: new Set<string>() };

/** Exercises every alternative of both split expressions, special-token text and a long piece. */
const CALIBRATION =
  "Hello, World! It's the USER'S test: naïve café déjà-vu Ünïcödé; x=1234567 y=0x1F3a 3.14159e-10\n" +
  '  indented\tline\r\n\n\n    trailing   \n' +
  'https://example.com/a/b?c=d&e=f#g /usr/local/bin // comment */ {"json": [1, 2, 3], "ok": true}\n' +
  'CamelCaseIdentifier snake_case_name SCREAMING_CASE kebab-case 中文测试，日本語のテキスト。한국어 텍스트 Привет мир\n' +
  'emoji 😀🎉 in prose 👍🏽 and ZWJ 👩‍👩‍👧 ‼️ <|endoftext|> <|fim_prefix|> \u0301\u0308 e\u0301 \ud800 \udc00x ' +
  '😀'.repeat(MAX_EXACT_PIECE) + ' ' + 'y'.repeat(MAX_EXACT_PIECE) + '\n \n ';

const counters = new Map<TokenizerName, Promise<CountTokens>>();

/** The counter for `name`; built (and checked against the encoder) once per thread. */
export function loadTokenCounter(name: TokenizerName): Promise<CountTokens> {
  let counter = counters.get(name);
  if (!counter) {
    counter = build(name);
    counters.set(name, counter);
    counter.catch(() => counters.delete(name));
  }
  return counter;
}

async function build(name: TokenizerName): Promise<CountTokens> {
  const mod = (name === 'o200k_base'
    ? await import('gpt-tokenizer/encoding/o200k_base')
    : await import('gpt-tokenizer/encoding/cl100k_base')) as unknown as EncodingModule;
  const split = name === 'o200k_base' ? O200K_TOKEN_SPLIT_REGEX : CL100K_TOKEN_SPLIT_REGEX;

  // Fast path: the encoder's own per-piece steps. Fallback (should a release rename them): the
  // public count of the piece alone, which is the same number: matched on its own, a piece splits
  // into itself (the expressions have no look-behind; the only look-ahead and `$` can newly match
  // only where a run of whitespace reaches the piece's end, and then the match is the whole piece).
  const core = (mod.default as unknown as { bytePairEncodingCoreProcessor?: Partial<BpeCore> }).bytePairEncodingCoreProcessor;
  const viaCore =
    typeof core?.getBpeRankFromString === 'function' && typeof core.bytePairEncode === 'function'
      ? pieceCounter(split, (piece) => (core.getBpeRankFromString!(piece) !== undefined ? 1 : core.bytePairEncode!(piece).length))
      : null;
  const viaPublic = pieceCounter(split, (piece) => mod.countTokens(piece, ORDINARY));

  // Both must reproduce the encoder's exact count where every piece is short, and bound it above
  // where one is long; a release that changed the split or the steps is caught here, at load.
  const short = CALIBRATION.slice(0, CALIBRATION.indexOf('😀'.repeat(2)));
  const exactShort = mod.countTokens(short, ORDINARY);
  const exactAll = mod.countTokens(CALIBRATION, ORDINARY);
  for (const count of [viaCore, viaPublic]) {
    if (count && count(short) === exactShort && count(CALIBRATION) >= exactAll) return count;
  }
  throw new Error(`token counter for ${name} does not reproduce gpt-tokenizer's counts (has its split or BPE changed?)`);
}

function pieceCounter(split: RegExp, exactPiece: (piece: string) => number): CountTokens {
  const re = new RegExp(split.source, split.flags.includes('g') ? split.flags : split.flags + 'g');
  // Counts of recent short pieces (words with their leading space, mostly): text repeats its words, and a small map
  // stays in cache where the encoder's 200,000-entry rank map does not. Emptied when full, so it stays bounded.
  const recent = new Map<string, number>();
  const cached = (piece: string): number => {
    let n = recent.get(piece);
    if (n === undefined) {
      n = exactPiece(piece);
      if (recent.size >= PIECE_CACHE_ENTRIES) recent.clear();
      recent.set(piece, n);
    }
    return n;
  };
  return (text) => {
    let tokens = 0;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const piece = m[0];
      if (piece.length === 0) {
        re.lastIndex++; // no alternative matches empty; a guard against looping should one ever do so
        continue;
      }
      tokens += piece.length <= PIECE_CACHE_MAX_CHARS ? cached(piece) : piece.length <= MAX_EXACT_PIECE ? exactPiece(piece) : Buffer.byteLength(piece, 'utf8');
    }
    return tokens;
  };
}
