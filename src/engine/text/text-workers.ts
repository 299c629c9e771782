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

/** Longest a close waits for the pool's first worker to have loaded (close()). */
const STARTUP_WAIT_MS = 10_000;

export class TextWorkers {
  readonly stats = { offloadedTasks: 0, inlineTasks: 0 };
  private readonly opts: TextWorkersOptions;
  private readonly pool: Piscina;
  private readonly started: Promise<void>;

  constructor(opts: TextWorkersOptions) {
    this.opts = opts;
    this.pool = new Piscina({
      filename: new URL('./analyze.worker.ts', import.meta.url).href,
      minThreads: 1,
      maxThreads: opts.maxThreads,
      idleTimeout: 60_000,
    });
    // The first worker loads its module as it starts; close() waits for that (see there). A no-op task tells when.
    this.started = this.pool.run({ kind: 'hash', texts: [], dims: 1 } satisfies AnalyzeTask).then(
      () => {},
      () => {},
    );
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
    // Node 24 aborts the whole process (an assertion in ModuleWrap::CreateRequiredModuleFacade) when a worker thread
    // is terminated while piscina's require() of its module is under way: seen once on CI, a SIGTERM soon after start
    // on a loaded machine ending in SIGABRT instead of exit 0. So the pool is destroyed only once its first worker has
    // loaded, or after STARTUP_WAIT_MS if it never does.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.started, new Promise<void>((r) => (timer = setTimeout(r, STARTUP_WAIT_MS)))]);
    clearTimeout(timer);
    await this.pool.destroy();
  }
}
