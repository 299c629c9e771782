/** Piscina worker entry: one sentence encoder per thread, loaded on the first task. */
import { SentenceEncoder } from './sentence-encoder.ts';

let encoder: Promise<SentenceEncoder> | null = null;

export interface EncodeTask {
  readonly texts: readonly string[];
}

export default async function run(task: EncodeTask): Promise<Float32Array> {
  encoder ??= SentenceEncoder.load();
  return (await encoder).embed(task.texts);
}
