/**
 * How a text longer than a model's input window is embedded (README "How
 * retrieval works"): split into windows of at most `windowWords` words and
 * `windowChars` characters (a longer run without spaces is cut into pieces of
 * `windowChars`), each window embedded, and the window vectors averaged,
 * weighted by their lengths, into one unit vector. A text of more than
 * `maxWindows` windows is represented by `maxWindows` windows spread evenly
 * over it (the lexical channel still indexes every word). Nothing is cut
 * silently to its start, and no model input exceeds a window.
 */

import { normalize } from './embedder.ts';

export interface ChunkRule {
  readonly windowWords: number;
  readonly windowChars: number;
  readonly maxWindows: number;
}

export interface Windows {
  readonly texts: string[];
  readonly weights: number[];
}

export function windowsOf(text: string, rule: ChunkRule): Windows {
  if (text.length <= rule.windowChars && !hasMoreWords(text, rule.windowWords)) return { texts: [text], weights: [1] };
  // Every window, as [start, end) word ranges over pieces no longer than windowChars.
  const pieces: string[] = [];
  for (const word of text.split(/\s+/)) {
    if (word.length === 0) continue;
    for (let at = 0; at < word.length; at += rule.windowChars) pieces.push(word.slice(at, at + rule.windowChars));
  }
  const bounds: Array<[number, number, number]> = [];
  let start = 0;
  let chars = 0;
  for (let i = 0; i < pieces.length; i++) {
    const add = pieces[i]!.length + (i > start ? 1 : 0);
    if (i > start && (i - start >= rule.windowWords || chars + add > rule.windowChars)) {
      bounds.push([start, i, chars]);
      start = i;
      chars = 0;
    }
    chars += pieces[i]!.length + (i > start ? 1 : 0);
  }
  if (start < pieces.length) bounds.push([start, pieces.length, chars]);
  const step = bounds.length <= rule.maxWindows ? 1 : bounds.length / rule.maxWindows;
  const texts: string[] = [];
  const weights: number[] = [];
  for (let w = 0; w < Math.min(bounds.length, rule.maxWindows); w++) {
    const [from, to, length] = bounds[Math.floor(w * step)]!;
    texts.push(pieces.slice(from, to).join(' '));
    weights.push(length);
  }
  return { texts, weights };
}

/** Whether `text` has more than `n` whitespace-separated words, without splitting all of it. */
function hasMoreWords(text: string, n: number): boolean {
  let words = 0;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const space = text.charCodeAt(i) <= 32;
    if (!space && !inWord && ++words > n) return true;
    inWord = !space;
  }
  return false;
}

/** The weighted mean of `count` row-major vectors of `dims`, starting at row `first`, normalised. */
export function pooled(rows: Float32Array, first: number, weights: readonly number[], dims: number): Float32Array {
  const out = new Float32Array(dims);
  weights.forEach((w, i) => {
    const base = (first + i) * dims;
    for (let d = 0; d < dims; d++) out[d]! += w * rows[base + d]!;
  });
  return normalize(out);
}
