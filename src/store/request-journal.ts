/**
 * A durable journal of request ids (per signing key), so replay protection
 * survives a restart: the replay guard records every accepted (kid, id), and
 * at start reloads those still inside the clock-skew window.
 *
 * Ordering: a backend commits journal entries through the same FIFO write
 * path as its data writes, so an entry recorded before a write is submitted
 * commits in the same commit as that write or an earlier one; never after
 * it. Hence once a request's writes are acknowledged, its id is durable too,
 * unless its recordRequest promise rejected: on a full disk an entry may fail
 * while the request's writes (a delete freeing space) commit. The caller then
 * still acknowledges the committed write, and logs that this id is not
 * protected across a restart.
 */

export interface RequestEntry {
  readonly kid: string;
  readonly id: string;
  /** The request's timestamp (ms); pruning and reloading go by it. */
  readonly ts: number;
}

export interface RequestJournal {
  /** Records (kid, id); a duplicate is ignored. Resolves once committed. */
  recordRequest(kid: string, id: string, ts: number): Promise<void>;
  /** Every entry with ts ≥ sinceTs, oldest first (read at start). */
  recentRequests(sinceTs: number): RequestEntry[];
  /** Deletes the entries of these keys (a purged tenant's) with ts < beforeTs; resolves to how many. */
  forgetRequests(kids: readonly string[], beforeTs: number): Promise<number>;
  /** Deletes entries with ts < beforeTs; resolves to how many. */
  pruneRequests(beforeTs: number): Promise<number>;
}
