/** Piscina worker entry: runs `analyze` off the main thread. */
import { analyze, type AnalyzeTask, type AnalyzeResult } from './analyze.ts';

export default function run(task: AnalyzeTask): Promise<AnalyzeResult> {
  return analyze(task);
}
