/**
 * The tokeniser of Universal Sentence Encoder lite: a SentencePiece unigram
 * model, encoded by Viterbi (the best-scoring segmentation into vocabulary
 * pieces). A port of the one in @tensorflow-models/universal-sentence-encoder
 * (Apache-2.0), which gives the same ids; unknown characters become id 0 and
 * runs of them one id.
 */

/** SentencePiece's word-start mark: a space and the start of the text become it. */
const SEPARATOR = '\u2581';
/** The first ids are control symbols (<pad>, <s>, …) and never match text. */
const RESERVED = 6;
const UNKNOWN = 0;

interface TrieNode {
  readonly children: Map<string, TrieNode>;
  /** Vocabulary id of the piece ending here, or -1. */
  id: number;
  score: number;
  /** Length of the piece in code points. */
  length: number;
}

const newNode = (): TrieNode => ({ children: new Map(), id: -1, score: 0, length: 0 });

export type Vocabulary = ReadonlyArray<readonly [string, number]>;

export class SentencePiece {
  private readonly root = newNode();

  constructor(vocabulary: Vocabulary) {
    for (let id = RESERVED; id < vocabulary.length; id++) {
      const [piece, score] = vocabulary[id]!;
      let node = this.root;
      let length = 0;
      for (const ch of piece) {
        let next = node.children.get(ch);
        if (!next) node.children.set(ch, (next = newNode()));
        node = next;
        length++;
      }
      node.id = id;
      node.score = score;
      node.length = length;
    }
  }

  encode(text: string): number[] {
    const normalized = text.normalize('NFKC');
    if (normalized.length === 0) return [];
    const symbols = [...(SEPARATOR + normalized.replace(/ /g, SEPARATOR))];
    const n = symbols.length;
    // best[e]: score of the best segmentation of symbols[0, e); piece[e], span[e]: its last piece.
    const best = new Float64Array(n + 1);
    const reached = new Uint8Array(n + 1);
    const piece = new Int32Array(n + 1);
    const span = new Int32Array(n + 1);
    reached[0] = 1;
    for (let start = 0; start < n; start++) {
      if (!reached[start]) continue;
      let node = this.root.children.get(symbols[start]!);
      let matched = false;
      for (let end = start + 1; node; end++) {
        if (node.id >= 0) {
          matched = true;
          this.relax(best, reached, piece, span, start, end, node.score, node.id, node.length);
        }
        node = end < n ? node.children.get(symbols[end]!) : undefined;
      }
      // A character no piece starts with: one unknown symbol of score 0.
      if (!matched) this.relax(best, reached, piece, span, start, start + 1, 0, UNKNOWN, 1);
    }
    const ids: number[] = [];
    for (let at = n; at > 0; at -= span[at]!) ids.push(piece[at]!);
    ids.reverse();
    // Runs of unknown symbols collapse into one.
    return ids.filter((id, i) => !(id === UNKNOWN && i > 0 && ids[i - 1] === UNKNOWN));
  }

  private relax(best: Float64Array, reached: Uint8Array, piece: Int32Array, span: Int32Array, start: number, end: number, score: number, id: number, length: number): void {
    const total = best[start]! + score;
    // Ties go to the later candidate, as in the reference implementation.
    if (!reached[end] || total >= best[end]!) {
      best[end] = total;
      reached[end] = 1;
      piece[end] = id;
      span[end] = length;
    }
  }
}
