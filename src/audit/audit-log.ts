/**
 * The audit trail: one JSON line per audited action, in its own file, rotated
 * by size. A line names who (kid, tenant), what (op, request id, outcome,
 * counts) and when; never a context's text, metadata or a secret.
 *
 * Audited: destructive ops (delete, delete_where, clear, end_session, purge),
 * data that leaves or enters (export, import, backup), key changes, and
 * authentication failures, counted per remote address and minute so that a
 * peer without a key cannot fill the disk one line per attempt.
 */
import { appendFileSync, existsSync, renameSync, rmSync, statSync } from 'node:fs';

export interface AuditOptions {
  readonly file: string;
  /** Rotate once the file reaches this many bytes. */
  readonly maxBytes: number;
  /** Rotated files kept: file.1 (newest) … file.N. */
  readonly keep: number;
  readonly now?: () => number;
}

export interface OpRecord {
  readonly kid: string;
  readonly tenant: string;
  readonly op: string;
  readonly id: string;
  /** 'ok' or the wire error code. */
  readonly outcome: string;
  /** What the op reports having done: deleted, moved, imported… (numbers only). */
  readonly counts?: Readonly<Record<string, number>>;
}

/** Remote addresses counted per window; past it, the rest are counted under one key. */
const MAX_REMOTES_PER_WINDOW = 10_000;
/** Lines written per window: the addresses with the most failures, then one line for all the others. */
const MAX_FAILURE_LINES = 100;
const OTHERS = '(other addresses)';
export const AUTH_WINDOW_MS = 60_000;

export class AuditLog {
  private readonly opts: AuditOptions;
  private readonly now: () => number;
  private bytes: number;
  private failures = new Map<string, Record<string, number>>();
  private windowStart: number;
  private readonly timer: NodeJS.Timeout;
  /** Why the last write failed, for /health (an audit line that cannot be written is not a reason to stop serving). */
  lastError: string | null = null;

  constructor(opts: AuditOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.bytes = existsSync(opts.file) ? statSync(opts.file).size : 0;
    this.windowStart = this.now();
    this.timer = setInterval(() => this.flushFailures(), AUTH_WINDOW_MS);
    this.timer.unref();
  }

  op(record: OpRecord): void {
    this.write({ event: 'op', ...record });
  }

  keysChanged(added: readonly string[], removed: readonly string[]): void {
    if (added.length === 0 && removed.length === 0) return;
    this.write({ event: 'keys_changed', added, removed });
  }

  /** A frame refused for its key or signature; written as one line per remote address per minute. */
  authFailure(remote: string, code: string): void {
    // The address without the port: one scanner reconnecting is one source.
    const address = remote.replace(/:\d+$/, '');
    let counts = this.failures.get(address);
    if (!counts) {
      const key = this.failures.size < MAX_REMOTES_PER_WINDOW ? address : OTHERS;
      counts = this.failures.get(key) ?? {};
      this.failures.set(key, counts);
    }
    counts[code] = (counts[code] ?? 0) + 1;
  }

  flushFailures(): void {
    const since = this.windowStart;
    this.windowStart = this.now();
    if (this.failures.size === 0) return;
    const total = (codes: Record<string, number>) => Object.values(codes).reduce((a, b) => a + b, 0);
    // Many addresses (trivial over IPv6) must not mean many lines: the worst ones by name, the rest summed.
    const ranked = [...this.failures].sort((a, b) => total(b[1]) - total(a[1]));
    this.failures = new Map();
    const named = ranked.filter(([remote]) => remote !== OTHERS).slice(0, MAX_FAILURE_LINES);
    const rest: Record<string, number> = {};
    let restAddresses = 0;
    for (const [remote, codes] of ranked) {
      if (named.some(([r]) => r === remote)) continue;
      restAddresses++;
      for (const [code, n] of Object.entries(codes)) rest[code] = (rest[code] ?? 0) + n;
    }
    const sinceIso = new Date(since).toISOString();
    for (const [remote, codes] of named) this.write({ event: 'auth_failures', remote, since: sinceIso, count: total(codes), codes });
    if (restAddresses > 0) this.write({ event: 'auth_failures', remote: OTHERS, addresses: restAddresses, since: sinceIso, count: total(rest), codes: rest });
  }

  close(): void {
    clearInterval(this.timer);
    this.flushFailures();
  }

  private write(entry: Record<string, unknown>): void {
    const line = `${JSON.stringify({ ts: new Date(this.now()).toISOString(), ...entry })}\n`;
    try {
      if (this.bytes > 0 && this.bytes + line.length > this.opts.maxBytes) this.rotate();
      appendFileSync(this.opts.file, line, { mode: 0o600 });
      this.bytes += Buffer.byteLength(line);
      this.lastError = null;
    } catch (e) {
      this.lastError = (e as Error).message;
    }
  }

  private rotate(): void {
    const { file, keep } = this.opts;
    // Counted as rotated whatever happens below: a file removed by hand must not make every write retry (and shift history).
    this.bytes = 0;
    if (!existsSync(file)) return;
    rmSync(`${file}.${keep}`, { force: true });
    for (let i = keep - 1; i >= 1; i--) if (existsSync(`${file}.${i}`)) renameSync(`${file}.${i}`, `${file}.${i + 1}`);
    if (keep > 0) renameSync(file, `${file}.1`);
    else rmSync(file, { force: true });
  }
}
