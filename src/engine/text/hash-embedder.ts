/**
 * The default embedder: signed feature hashing of word unigrams, word bigrams
 * and character trigrams, L2-normalised. Deterministic and offline. It measures
 * lexical overlap (shared words and word pieces), not meaning: "car" and
 * "automobile" are unrelated to it.
 */
const WORD = /[\p{L}\p{N}]+/gu;
const UNIGRAM_WEIGHT = 1.0;
const BIGRAM_WEIGHT = 0.7;
const TRIGRAM_WEIGHT = 0.25;

/** FNV-1a over UTF-16 code units, then a murmur3 finaliser for better low bits. */
function hash32(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function addFeature(v: Float32Array, feature: string, weight: number): void {
  const h = hash32(feature, 0);
  const index = h % v.length;
  // The sign comes from the top bit, independent of the index bits for power-of-two and other dims alike.
  v[index]! += h & 0x80000000 ? -weight : weight;
}

export function hashEmbed(text: string, dims: number): Float32Array {
  const v = new Float32Array(dims);
  const words = text.normalize('NFKC').toLowerCase().match(WORD) ?? [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    addFeature(v, 'w\u0000' + w, UNIGRAM_WEIGHT);
    if (i > 0) addFeature(v, 'b\u0000' + words[i - 1] + ' ' + w, BIGRAM_WEIGHT);
    const padded = '#' + w + '#';
    for (let j = 0; j + 3 <= padded.length; j++) addFeature(v, 'c\u0000' + padded.slice(j, j + 3), TRIGRAM_WEIGHT);
  }
  let norm = 0;
  for (let i = 0; i < dims; i++) norm += v[i]! * v[i]!;
  if (norm > 0) {
    const inv = 1 / Math.sqrt(norm);
    for (let i = 0; i < dims; i++) v[i]! *= inv;
  }
  return v;
}
