/** Piscina worker entry: runs `analyze` off the main thread. */
import { analyze, type AnalyzeTask } from './analyze.ts';

export default function run(task: AnalyzeTask): Promise<Int32Array | Float32Array> {
  return analyze(task);
}
