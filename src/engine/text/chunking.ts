/**
 * How a text longer than a model's input window is embedded (README "How
 * retrieval works"): split into windows of at most `windowWords` words, each
 * window embedded, and the window vectors averaged, weighted by their word
 * counts, into one unit vector. A text of more than `maxWindows` windows is
 * represented by `maxWindows` windows spread evenly over it (the lexical
 * channel still indexes every word). Nothing is cut silently to its start.
 */

export interface ChunkRule {
  readonly windowWords: number;
  readonly maxWindows: number;
}

export interface Windows {
  readonly texts: string[];
  readonly weights: number[];
}

export function windowsOf(text: string, rule: ChunkRule): Windows {
  const words = text.split(/\s+/).filter((w) => w.length > 0);
  if (words.length <= rule.windowWords) return { texts: [text], weights: [1] };
  const total = Math.ceil(words.length / rule.windowWords);
  const texts: string[] = [];
  const weights: number[] = [];
  const step = total <= rule.maxWindows ? 1 : total / rule.maxWindows;
  for (let i = 0; i < Math.min(total, rule.maxWindows); i++) {
    const start = Math.floor(i * step) * rule.windowWords;
    const slice = words.slice(start, start + rule.windowWords);
    texts.push(slice.join(' '));
    weights.push(slice.length);
  }
  return { texts, weights };
}

/** The weighted mean of `count` row-major vectors of `dims`, starting at row `first`, normalised. */
export function pooled(rows: Float32Array, first: number, weights: readonly number[], dims: number): Float32Array {
  const out = new Float32Array(dims);
  weights.forEach((w, i) => {
    const base = (first + i) * dims;
    for (let d = 0; d < dims; d++) out[d]! += w * rows[base + d]!;
  });
  let norm = 0;
  for (let d = 0; d < dims; d++) norm += out[d]! * out[d]!;
  if (norm > 0) {
    const inv = 1 / Math.sqrt(norm);
    for (let d = 0; d < dims; d++) out[d]! *= inv;
  }
  return out;
}
