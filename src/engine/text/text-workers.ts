/**
 * Where token counting and hash embedding run: inline for small inputs (a
 * worker round trip would cost more than the work), in a piscina pool for
 * large texts and batches, so one big store_batch does not stall pings and
 * retrievals on other connections.
 */
import { Piscina } from 'piscina';
import { analyze, type AnalyzeOutput, type AnalyzeTask } from './analyze.ts';

export interface TextWorkersOptions {
  /** Inputs of at least this many UTF-16 units in total go to the pool. */
  readonly offloadMinChars: number;
  readonly maxThreads: number;
}

export class TextWorkers {
  readonly stats = { offloadedTasks: 0, inlineTasks: 0 };
  private readonly opts: TextWorkersOptions;
  private readonly pool: Piscina;

  constructor(opts: TextWorkersOptions) {
    this.opts = opts;
    this.pool = new Piscina({
      filename: new URL('./analyze.worker.ts', import.meta.url).href,
      minThreads: 1,
      maxThreads: opts.maxThreads,
      idleTimeout: 60_000,
    });
  }

  get queueSize(): number {
    return this.pool.queueSize;
  }

  get threads(): number {
    return this.pool.threads.length;
  }

  async run<T extends AnalyzeOutput>(task: AnalyzeTask): Promise<T> {
    let chars = 0;
    for (const t of task.texts) chars += t.length;
    if (chars < this.opts.offloadMinChars) {
      this.stats.inlineTasks++;
      return (await analyze(task)) as T;
    }
    this.stats.offloadedTasks++;
    return (await this.pool.run(task)) as T;
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
