/**
 * Log lines for refused requests and protocol errors, at most one per (key,
 * code) per interval, the next one saying how many were left out. A flood of
 * refused requests must not become a flood of log lines: pino buffers what
 * stdout has not taken yet, and one line per refusal of a 2M-request flood
 * held hundreds of MB. Metrics still count every refusal.
 */
import type { Logger } from 'pino';

/** Default interval between two lines of the same key and code. */
export const REJECTION_LOG_INTERVAL_MS = 1000;

interface Window {
  since: number;
  suppressed: number;
}

export class RejectionLog {
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly windows = new Map<string, Window>();

  constructor(log: Logger, intervalMs = REJECTION_LOG_INTERVAL_MS, now: () => number = Date.now) {
    this.log = log;
    this.intervalMs = intervalMs;
    this.now = now;
  }

  /** `kid` is '' for frames refused before a key was known; `fields` go into the line. */
  note(kid: string, code: string, msg: string, fields: Record<string, unknown>): void {
    const key = `${kid}\u0000${code}`;
    const t = this.now();
    const w = this.windows.get(key);
    if (w && t - w.since < this.intervalMs) {
      w.suppressed++;
      return;
    }
    this.log.info({ ...fields, kid: kid || undefined, code, ...(w && w.suppressed > 0 && { suppressed_since_last: w.suppressed }) }, msg);
    if (w) {
      w.since = t;
      w.suppressed = 0;
    } else {
      // Keys are live keys and codes a closed set; '' covers everything before authentication.
      this.windows.set(key, { since: t, suppressed: 0 });
    }
  }
}
