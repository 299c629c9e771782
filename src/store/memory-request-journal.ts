/**
 * A request journal held in memory: for backends whose store cannot commit
 * request ids with the data (a remote store). Replay protection then lasts as
 * long as the process, bounded as the replay guard bounds it (PRODUCTION.md
 * "Scaling out" says what that means across replicas and restarts).
 */
import type { RequestEntry, RequestJournal } from './request-journal.ts';

export class MemoryRequestJournal implements RequestJournal {
  async recordRequest(): Promise<void> {
    // The replay guard already holds the id in memory; nothing outlives the process.
  }

  recentRequests(): RequestEntry[] {
    return [];
  }

  async forgetRequests(): Promise<number> {
    return 0;
  }

  async pruneRequests(): Promise<number> {
    return 0;
  }
}
