/**
 * What the composition root gets from a storage backend: the VectorStore the
 * engine uses, the request journal the replay guard persists into, and the
 * capabilities only some backends have (an online copy, encryption at rest).
 * The daemon asks for a capability by its presence, never by the backend's
 * name: `create-store.ts` is the one place that knows which backend is which.
 */
import type { RequestJournal } from './request-journal.ts';
import type { RekeyStep, VectorStore } from './vector-store.ts';
import type { DataKeys } from './encryption/data-keys.ts';

export interface QuarantineEntry {
  readonly id: string;
  readonly tenant: string;
  readonly reason: string;
}

/** Rows kept but never served because they failed today's checks. */
export interface QuarantineReport {
  readonly count: number;
  /** The first few entries, for health and logs. */
  readonly sample: readonly QuarantineEntry[];
}

export interface CommitCounters {
  readonly groups: number;
  readonly writes: number;
  readonly unavailableWrites?: number;
  readonly diskFull?: number;
}

export interface BackupResult {
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
}

export interface StoreBackend {
  readonly store: VectorStore;
  /**
   * Where accepted request ids are recorded so replay protection survives a
   * restart (PROTOCOL.md §4.3). The embedded store commits them with its data;
   * a remote backend keeps them in this process only (PRODUCTION.md "Scaling out").
   */
  readonly journal: RequestJournal;
  /** Whether the journal outlives the process. */
  readonly journalDurable: boolean;
  /**
   * Memory for the L1 turns the engine keeps so retrieves still answer while
   * the store cannot be reached (0: none; a local store is not "unreachable").
   */
  readonly recentTurnsBytes: number;
  quarantined(): QuarantineReport;
  /** Group-commit counters, for backends that group their commits. */
  commitStats(): CommitCounters | undefined;
  /** The embedded store's cache of texts (text-cache.ts): look-ups served and not, and the bytes it holds. */
  textCache(): { readonly hits: number; readonly misses: number; readonly bytes: number } | undefined;
  /** An online copy of the data into `dir` (the backup op), where the backend can make one. */
  readonly backup?: (dir: string) => Promise<BackupResult>;
  /** Encryption at rest (the rekey op), where the backend seals rows. */
  readonly sealing?: {
    state(): { readonly active_kid: string; readonly remaining: number } | null;
    rekey(keys: DataKeys | null, after: string | null, limit: number, opts: { dropUnreadable: boolean }): Promise<RekeyStep>;
  };
}
