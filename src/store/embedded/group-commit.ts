/**
 * Group commit through the writer thread. Writes submitted while no group is
 * committing leave together at the next turn of the event loop; writes
 * submitted while one is committing (its fsync) wait and form the next group.
 * So N concurrent writes cost about one fsync, and no fsync blocks the event
 * loop. A write's promise resolves only after its group's COMMIT returned, and
 * its in-memory effect is applied only then, in commit order: nothing
 * uncommitted is ever visible or acknowledged. A failing write fails alone.
 *
 * FIFO: groups leave in submission order and a group commits a prefix of its
 * writes (commit-group.ts), so a write commits in the same group as, or a
 * later group than, every write submitted before it. The request journal
 * relies on this.
 *
 * Availability: a write failing for the storage's sake (disk full, I/O) is
 * rejected with StoreUnavailableError and marks the committer unavailable
 * until a later group proves the database can grow again. While unavailable
 * and idle it probes by itself every `probeIntervalMs`, because an unhealthy
 * store gets no traffic (readiness is 503) that could show it recovered.
 */
import { Worker } from 'node:worker_threads';
import { StoreUnavailableError } from '../../domain/errors.ts';
import type { Durability } from './sqlite-file.ts';
import { toWriteError } from './write-errors.ts';
import { onlyFrees, type FromWriter, type ToWriter, type WriteOp } from './write-ops.ts';
import type { VectorSpace } from '../../domain/vector-space.ts';
import type { DataKeys } from '../encryption/data-keys.ts';

function isSteps(x: unknown): x is ApplySteps {
  return typeof x === 'object' && x !== null && typeof (x as { next?: unknown }).next === 'function';
}

/**
 * What `apply` may return for a big write: steps to run, a turn of the event
 * loop apart (each `next()` applies one slice), so applying 1,000 rows to the
 * index never holds the loop in one go. Later writes apply only after the last step.
 */
export type ApplySteps = Iterator<unknown, unknown, undefined>;

interface Pending {
  readonly ops: readonly WriteOp[];
  /** Updates memory after the commit; gets the rows the write changed where that is counted (prunes). */
  readonly apply: (changes: number) => unknown;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
  /** A health probe, not a caller's write: not counted in stats. */
  readonly probe?: boolean;
}

export interface GroupCommitStats {
  groups: number;
  writes: number;
  failedGroups: number;
  /** Writes rejected, for any reason (their own fault included: a constraint, data that cannot be sent). */
  failedWrites: number;
  /** Writes rejected with StoreUnavailableError (answered UNAVAILABLE). */
  unavailableWrites: number;
  /** Writes rejected because the database (or `maxDbBytes`) was full. */
  diskFull: number;
  /** Probes sent while writes were failing. */
  probes: number;
}

export interface GroupCommitOptions {
  readonly path: string;
  readonly durability: Durability;
  readonly space: VectorSpace;
  readonly maxDbBytes?: number;
  readonly probeIntervalMs?: number;
  /** Data keys the writer seals with (encryption at rest); null writes rows in the clear. */
  readonly keys?: DataKeys | null;
}

export const DEFAULT_PROBE_INTERVAL_MS = 5_000;
/** Room a probe must find: recovering on a few free bytes would turn readiness back on only to fail the next write. */
export const PROBE_BYTES = 64 * 1024;

const noop = () => {};

export class GroupCommitter {
  private readonly worker: Worker;
  private readonly probeIntervalMs: number;
  private queue: Pending[] = [];
  private inFlight: { seq: number; group: Pending[] } | null = null;
  /** A committed group's writes are being applied in steps: the next group waits, so memory follows commit order. */
  private settling = false;
  private scheduled = false;
  private seq = 0;
  /** The writer thread is gone: nothing can commit any more. */
  private broken: StoreUnavailableError | null = null;
  /** A committed write's apply threw (GroupCommitter.diverged). */
  private applyFailed = false;
  /** The last failure for the storage's sake, until a commit proves it over. */
  private unavailable: StoreUnavailableError | null = null;
  private probeTimer: NodeJS.Timeout | null = null;
  private readonly ready: Promise<void>;
  private closed: Promise<void> | null = null;
  /** The close message went out: new writes are refused. */
  private stopped = false;
  readonly stats: GroupCommitStats = { groups: 0, writes: 0, failedGroups: 0, failedWrites: 0, unavailableWrites: 0, diskFull: 0, probes: 0 };

  constructor(opts: GroupCommitOptions) {
    const { path, durability, space, maxDbBytes = 0, keys = null } = opts;
    this.probeIntervalMs = opts.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
    this.worker = new Worker(new URL('./writer.worker.ts', import.meta.url), { workerData: { path, durability, space, maxDbBytes, keys } });
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
    return this.failure === null;
  }

  /** Why writes fail now (the writer thread is gone, or the last commit failed for the storage's sake); null while they succeed. */
  get failure(): StoreUnavailableError | null {
    return this.broken ?? this.unavailable;
  }

  /**
   * Whether the memory index may differ from the table: the writer thread died (a group it was committing may have
   * committed), or a committed write's apply threw. The index snapshot is not written then (index-snapshot.ts).
   */
  get diverged(): boolean {
    return this.broken !== null || this.applyFailed;
  }

  /** Groups posted from now on seal with these keys' active key (messages reach the writer in order). */
  setKeys(keys: DataKeys): void {
    this.worker.postMessage({ type: 'keys', keys } satisfies ToWriter);
  }

  /** `ops` are committed by the writer; `apply` updates memory after the commit, at once or in steps (ApplySteps). */
  submit(ops: readonly WriteOp[], apply: (changes: number) => unknown): Promise<void> {
    if (this.broken) return Promise.reject(this.broken);
    if (this.stopped) return Promise.reject(new StoreUnavailableError('closed', 'the store is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ ops, apply, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight || this.settling) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.send();
    });
  }

  private send(): void {
    if (this.inFlight || this.settling || this.queue.length === 0 || this.broken) return;
    const queued = this.queue;
    this.queue = [];
    const seq = ++this.seq;
    const group = this.post(seq, queued);
    if (group.length > 0) this.inFlight = { seq, group };
  }

  /**
   * Posts a group; returns the writes that went. Posting clones the data and
   * throws on what cannot be cloned (nesting thousands deep overflows the
   * stack): such a throw must not escape (it would end the process from a
   * setImmediate), nor fail the other writes, so on failure each write is
   * cloned alone and only the culprits are rejected.
   */
  private post(seq: number, group: Pending[]): Pending[] {
    const message = (writes: Pending[]): ToWriter => ({ type: 'commit', seq, writes: writes.map((p) => p.ops) });
    try {
      this.worker.postMessage(message(group));
      return group;
    } catch {
      // Found below, write by write.
    }
    const sendable = group.filter((p) => {
      try {
        structuredClone(p.ops);
        return true;
      } catch (e) {
        this.rejectWrite(p, new Error(`the write cannot be passed to the writer thread: ${(e as Error).message}`, { cause: e }));
        return false;
      }
    });
    if (sendable.length === 0) return sendable;
    try {
      this.worker.postMessage(message(sendable));
      return sendable;
    } catch (e) {
      const err = new StoreUnavailableError('write_failed', `a commit group could not be passed to the writer thread: ${(e as Error).message}`, { cause: e });
      for (const p of sendable) this.rejectWrite(p, err);
      return [];
    }
  }

  private rejectWrite(p: Pending, e: Error): void {
    if (!p.probe) {
      this.stats.failedWrites++;
      if (e instanceof StoreUnavailableError) this.stats.unavailableWrites++;
      if (e instanceof StoreUnavailableError && e.reason === 'disk_full') this.stats.diskFull++;
    }
    p.reject(e);
  }

  private onMessage(m: FromWriter): void {
    if (m.type === 'closed' || m.type === 'ready') return;
    const flight = this.inFlight;
    if (!flight || (m.type !== 'unreadable' && flight.seq !== m.seq)) return;
    this.inFlight = null;
    if (m.type === 'unreadable') {
      // Only the in-flight group can be the unreadable message; the data is at fault, not the storage.
      this.stats.failedGroups++;
      for (const p of flight.group) this.rejectWrite(p, new Error(`the writer thread could not read the commit group: ${m.error}`));
    } else if (m.type === 'aborted') {
      // BEGIN or COMMIT failed: never one write's fault.
      this.stats.failedGroups++;
      const e = toWriteError(m.error);
      const err = e instanceof StoreUnavailableError ? e : new StoreUnavailableError('write_failed', `commit failed: ${m.error.message}`, { cause: e });
      for (const p of flight.group) this.rejectWrite(p, err);
      this.noteOutcome(err, false);
    } else {
      this.stats.groups++;
      let unavailable: StoreUnavailableError | null = null;
      let grew = false;
      let stepped: Promise<void> | null = null;
      flight.group.forEach((p, i) => {
        const failure = m.failed[i];
        if (failure) {
          const e = toWriteError(failure);
          if (e instanceof StoreUnavailableError) unavailable ??= e;
          return this.rejectWrite(p, e);
        }
        if (!onlyFrees(p.ops)) grew = true;
        if (!p.probe) this.stats.writes++;
        const changes = m.changes[i] ?? 0;
        // Once a write applies in steps, the writes after it wait for its last step (commit order).
        if (stepped) stepped = stepped.then(() => this.applyWrite(p, changes));
        else {
          const steps = this.applyNow(p, changes);
          if (steps) stepped = this.finishSteps(p, steps);
        }
      });
      this.noteOutcome(unavailable, grew);
      if (stepped) {
        this.settling = true;
        void (stepped as Promise<void>).then(() => {
          this.settling = false;
          this.send();
        });
        return;
      }
    }
    // Writes that queued during this commit leave now, as the next group.
    this.send();
  }

  /** Applies and settles a committed write; returns the steps still to run when its apply gave some. */
  private applyNow(p: Pending, changes: number): ApplySteps | null {
    try {
      // The first step runs now, as a write without steps applies at once.
      const out = p.apply(changes);
      const steps = isSteps(out) ? out : null;
      if (steps && !steps.next().done) return steps;
      p.resolve();
    } catch (e) {
      this.applyFailed = true;
      p.reject(e);
    }
    return null;
  }

  private async applyWrite(p: Pending, changes: number): Promise<void> {
    const steps = this.applyNow(p, changes);
    if (steps) await this.finishSteps(p, steps);
  }

  /** Runs the remaining steps a turn apart, then settles the write. Never rejects. */
  private async finishSteps(p: Pending, steps: ApplySteps): Promise<void> {
    try {
      for (;;) {
        await new Promise((r) => setImmediate(r));
        if (steps.next().done) break;
      }
      p.resolve();
    } catch (e) {
      this.applyFailed = true;
      p.reject(e);
    }
  }

  /**
   * Health follows the last group: unavailable after a storage failure; ok
   * again after a group committed a write that may need room. A group of
   * deletes only proves nothing (SQLite frees pages even on a full disk), so
   * it leaves the state as it was.
   */
  private noteOutcome(failure: StoreUnavailableError | null, grew: boolean): void {
    if (failure) {
      this.unavailable = failure;
      if (!this.closed) this.probeTimer ??= setInterval(() => this.probe(), this.probeIntervalMs).unref();
    } else if (grew && this.unavailable) {
      this.unavailable = null;
      this.stopProbing();
    }
  }

  /** While unavailable and idle, a write that needs PROBE_BYTES of room and leaves nothing behind. */
  private probe(): void {
    if (!this.unavailable || this.broken || this.closed || this.inFlight || this.queue.length > 0) return;
    this.stats.probes++;
    this.queue.push({ ops: [{ kind: 'probe', bytes: PROBE_BYTES }], apply: noop, resolve: noop, reject: noop, probe: true });
    this.schedule();
  }

  private stopProbing(): void {
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = null;
  }

  private fail(e: Error): void {
    if (this.broken || this.stopped) return;
    this.broken = new StoreUnavailableError('write_failed', `the writer thread failed: ${e.message}`, { cause: e });
    this.stopProbing();
    for (const p of [...(this.inFlight?.group ?? []), ...this.queue]) this.rejectWrite(p, this.broken);
    this.inFlight = null;
    this.queue = [];
  }

  /** Commits what is queued, then stops the writer thread. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.stopProbing();
      while ((this.inFlight || this.settling || this.queue.length > 0) && !this.broken) {
        this.send();
        await new Promise((r) => setTimeout(r, 5));
      }
      this.stopped = true;
      if (this.broken) return void (await this.worker.terminate());
      const done = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
      this.worker.postMessage({ type: 'close' } satisfies ToWriter);
      await done;
    })();
    return this.closed;
  }
}
