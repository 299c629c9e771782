/**
 * Terms of the lexical channel, shared by the stores' postings (which index
 * them) and the engine (which queries them and compares key tokens for
 * dedup): words without English stop words, plus each identifier whole
 * (`ABC-1234`, `v2.3.1`, `10.0.0.7`), so an exact look-up stays exact.
 * BM25's term weight lives here too, so every backend scores alike
 * (PROTOCOL.md §7.5 "relevance").
 */
import { hash32, words } from './words.ts';

/** Function words that say nothing about what a text is about. */
const STOP_WORDS = new Set(
  `a about above after again against all am an and any are as at be because been before being below between both but by can
  could did do does doing down during each few for from further had has have having he her here hers herself him himself his
  how i if in into is it its itself just me more most my myself of off on once only or other our ours ourselves out over own
  same she should so some such than that the their theirs them themselves then there these they this those through to too
  under until up very was we were what when where which while who whom why will with would you your yours yourself yourselves
  s t d ll m re ve y let lets`.split(/\s+/),
);

/**
 * Runs of letters and digits joined by - _ . : / # with at least one digit:
 * ticket ids, versions, hosts, addresses. Matched per whitespace-separated
 * token, anchored, and only on tokens up to MAX_IDENTIFIER chars: an
 * unanchored search would backtrack quadratically over a long run of letters
 * (a hostile 200,000-letter "word").
 */
const IDENTIFIER = /^[\p{L}\p{N}]+(?:[-_.:/#][\p{L}\p{N}]+)+$/u;
const EDGE_PUNCTUATION = /^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu;
const MAX_IDENTIFIER = 128;
const DIGIT = /\p{N}/u;

export function identifiers(text: string): string[] {
  const found: string[] = [];
  for (const raw of text.normalize('NFKC').toLowerCase().split(/\s+/)) {
    if (raw.length === 0 || raw.length > MAX_IDENTIFIER + 8) continue;
    const token = raw.replace(EDGE_PUNCTUATION, '');
    if (token.length <= MAX_IDENTIFIER && DIGIT.test(token) && IDENTIFIER.test(token)) found.push(token);
  }
  return found;
}

/** The distinct terms a text is indexed (and a query searched) by. */
export function lexicalTerms(text: string): string[] {
  const terms = new Set<string>();
  for (const w of words(text)) if (!STOP_WORDS.has(w)) terms.add(w);
  for (const id of identifiers(text)) terms.add(id);
  return [...terms];
}

/**
 * Version of what `termHashes` returns for a text (words, stop words, identifiers, hash32). Stores keep these hashes
 * beside each text (the embedded store's `terms` column): bump it whenever any text's hashes change, and stored ones of
 * another version are dropped and computed again. test/unit/lexical.test.ts pins the output of this version.
 */
export const LEXICAL_TERMS_VERSION = 1;

/** The hashed lexical terms of a text: what the stores' postings index. Computed off the event loop for large texts. */
export function termHashes(text: string): Uint32Array {
  return Uint32Array.from(lexicalTerms(text), (t) => hash32(t));
}

/** BM25's usual constants: term-frequency saturation and length normalisation. */
export const BM25_K1 = 1.2;
export const BM25_B = 0.75;

/** Inverse document frequency of a term in `docs` documents of which `df` contain it (BM25's, never negative). */
export function idf(docs: number, df: number): number {
  return Math.log(1 + (docs - df + 0.5) / (df + 0.5));
}

/**
 * A matched term's BM25 factor for a document of `length` terms (binary term
 * frequency: short memories rarely repeat a word): 1 at the average length,
 * less for longer texts, capped at 1 for shorter ones, so a score divided by
 * the query's total IDF lies in [0, 1].
 */
export function termFactor(length: number, averageLength: number): number {
  const norm = 1 - BM25_B + BM25_B * (averageLength > 0 ? length / averageLength : 1);
  return Math.min(1, (BM25_K1 + 1) / (1 + BM25_K1 * norm));
}

const NEGATIONS = new Set(['not', 'no', 'never', 'none', 'nothing', 'nobody', 'neither', 'nor', 'cannot', 'without', 'isn', 'aren', 'wasn', 'weren', 'don', 'doesn', 'didn', 'won', 'wouldn', 'shouldn', 'couldn', 't']);
const CALENDAR = new Set(
  `monday tuesday wednesday thursday friday saturday sunday january february march april may june july august september october
  november december jan feb mar apr jun jul aug sep sept oct nov dec today tomorrow yesterday`.split(/\s+/),
);
const CAPITALISED = /(?<![\p{L}\p{N}])\p{Lu}[\p{L}\p{N}]*/gu;

/**
 * The tokens two near-duplicate texts must share to be merged (README "Dedup"):
 * numbers and words with digits, identifiers, names (capitalised words that
 * are not stop words, wherever they stand), weekdays, months and relative days,
 * and negations. "Ticket ABC-1234" and "Ticket ABC-1235", "on Tuesday" and
 * "on Thursday", "Alice" and "Alicia", "is" and "is not" never merge.
 */
export function keyTokens(text: string): Set<string> {
  const keys = new Set<string>(identifiers(text));
  const normalized = text.normalize('NFKC');
  for (const w of words(normalized)) if (DIGIT.test(w) || CALENDAR.has(w) || NEGATIONS.has(w)) keys.add(w);
  for (const m of normalized.match(CAPITALISED) ?? []) {
    const w = m.toLowerCase();
    if (!STOP_WORDS.has(w)) keys.add(w);
  }
  return keys;
}

export function sameKeyTokens(a: string, b: string): boolean {
  const ka = keyTokens(a);
  const kb = keyTokens(b);
  const wordsA = new Set(words(a));
  const wordsB = new Set(words(b));
  // A name capitalised in one text only ("Ticket …" / "ticket …") is still the same word.
  for (const k of ka) if (!kb.has(k) && !wordsB.has(k)) return false;
  for (const k of kb) if (!ka.has(k) && !wordsA.has(k)) return false;
  return true;
}
