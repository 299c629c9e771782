/**
 * Group commit through the writer thread. Writes submitted while no group is
 * committing leave together at the next turn of the event loop; writes
 * submitted while one is committing (its fsync) wait and form the next group.
 * So N concurrent writes cost about one fsync, and no fsync blocks the event
 * loop. A write's promise resolves only after its group's COMMIT returned, and
 * its in-memory effect is applied only then, in commit order: nothing
 * uncommitted is ever visible or acknowledged. A failing write fails alone.
 */
import { Worker } from 'node:worker_threads';
import type { Durability } from './sqlite-file.ts';
import type { FromWriter, ToWriter, WriteOp } from './write-ops.ts';

interface Pending {
  readonly ops: readonly WriteOp[];
  readonly apply: () => void;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

export interface GroupCommitStats {
  groups: number;
  writes: number;
  failedGroups: number;
}

export class GroupCommitter {
  private readonly worker: Worker;
  private queue: Pending[] = [];
  private inFlight: { seq: number; group: Pending[] } | null = null;
  private scheduled = false;
  private seq = 0;
  private broken: Error | null = null;
  private readonly ready: Promise<void>;
  private closed: Promise<void> | null = null;
  readonly stats: GroupCommitStats = { groups: 0, writes: 0, failedGroups: 0 };

  constructor(path: string, durability: Durability, dims: number) {
    this.worker = new Worker(new URL('./writer.worker.ts', import.meta.url), { workerData: { path, durability, dims } });
    this.ready = new Promise((resolve, reject) => {
      this.worker.once('message', (m: FromWriter) => (m.type === 'ready' ? resolve() : reject(new Error('writer did not start'))));
      this.worker.once('error', reject);
    });
    this.worker.on('message', (m: FromWriter) => this.onMessage(m));
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', () => this.fail(new Error('the writer thread exited')));
  }

  /** Resolves once the writer thread has opened the database. */
  started(): Promise<void> {
    return this.ready;
  }

  get healthy(): boolean {
    return this.broken === null;
  }

  /** `ops` are committed by the writer; `apply` updates memory after the commit. */
  submit(ops: readonly WriteOp[], apply: () => void): Promise<void> {
    if (this.broken) return Promise.reject(this.broken);
    return new Promise((resolve, reject) => {
      this.queue.push({ ops, apply, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.send();
    });
  }

  private send(): void {
    if (this.inFlight || this.queue.length === 0 || this.broken) return;
    const group = this.queue;
    this.queue = [];
    const seq = ++this.seq;
    this.inFlight = { seq, group };
    const message: ToWriter = { type: 'commit', seq, writes: group.map((p) => p.ops) };
    this.worker.postMessage(message);
  }

  private onMessage(m: FromWriter): void {
    if (m.type === 'closed' || m.type === 'ready') return;
    const flight = this.inFlight;
    if (!flight || flight.seq !== m.seq) return;
    this.inFlight = null;
    if (m.type === 'aborted') {
      this.stats.failedGroups++;
      for (const p of flight.group) p.reject(new Error(`commit failed: ${m.error}`));
    } else {
      this.stats.groups++;
      flight.group.forEach((p, i) => {
        const failure = m.failed[i];
        if (failure) return p.reject(new Error(failure));
        this.stats.writes++;
        try {
          p.apply();
          p.resolve();
        } catch (e) {
          p.reject(e);
        }
      });
    }
    // Writes that queued during this commit leave now, as the next group.
    this.send();
  }

  private fail(e: Error): void {
    if (this.broken || this.closed) return;
    this.broken = e;
    for (const p of [...(this.inFlight?.group ?? []), ...this.queue]) p.reject(e);
    this.inFlight = null;
    this.queue = [];
  }

  /** Commits what is queued, then stops the writer thread. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      while ((this.inFlight || this.queue.length > 0) && !this.broken) {
        this.send();
        await new Promise((r) => setTimeout(r, 5));
      }
      const done = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
      this.worker.postMessage({ type: 'close' } satisfies ToWriter);
      await done;
    })();
    return this.closed;
  }
}
