/**
 * Plain counters the connection layer bumps on its hot path; the metrics
 * module reads them at scrape time, so a request costs an increment, not a
 * label lookup.
 */
import type { ErrorCode } from '../protocol/errors.ts';

export class ServerStats {
  connectionsOpen = 0;
  connectionsTotal = 0;
  connectionsRefused = 0;
  /** Unauthenticated connections closed to make room for new ones. */
  connectionsEvicted = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** Frames rejected before dispatch, by error code. */
  readonly framesRejected = new Map<ErrorCode, number>();
  /** Requests answered, by op and outcome ("ok" or an error code). */
  readonly requests = new Map<string, Map<string, number>>();
  /** Set by the metrics module to time requests; absent, nothing is timed. */
  onRequestTimed: ((op: string, seconds: number) => void) | null = null;

  rejectFrame(code: ErrorCode): void {
    this.framesRejected.set(code, (this.framesRejected.get(code) ?? 0) + 1);
  }

  countRequest(op: string, outcome: string): void {
    let byOutcome = this.requests.get(op);
    if (!byOutcome) this.requests.set(op, (byOutcome = new Map()));
    byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + 1);
  }
}
