/** Piscina worker entry: runs `analyze` off the main thread. */
import { analyze, type AnalyzeOutput, type AnalyzeTask } from './analyze.ts';

export default function run(task: AnalyzeTask): Promise<AnalyzeOutput> {
  return analyze(task);
}
