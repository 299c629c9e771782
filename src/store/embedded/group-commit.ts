/**
 * Group commit: writes submitted in the same turn of the event loop run in one
 * SQLite transaction, so N concurrent writes cost one fsync, not N. Each write
 * runs in its own savepoint, so one failing write fails alone. A write's
 * promise resolves only after COMMIT returned, and its in-memory effect is
 * applied only then: nothing uncommitted is ever visible or acknowledged.
 */
import type { DatabaseSync } from 'node:sqlite';

interface Pending {
  readonly run: () => void;
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
  private readonly db: DatabaseSync;
  private queue: Pending[] = [];
  private scheduled = false;
  readonly stats: GroupCommitStats = { groups: 0, writes: 0, failedGroups: 0 };

  constructor(db: DatabaseSync) {
    this.db = db;
  }

  /** `run` writes to SQLite inside the group's transaction; `apply` updates memory after the commit. */
  submit(run: () => void, apply: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ run, apply, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits whatever is queued now (used before close). */
  flush(): void {
    this.scheduled = false;
    const group = this.queue;
    this.queue = [];
    if (group.length === 0) return;
    const done: Pending[] = [];
    try {
      this.db.exec('BEGIN IMMEDIATE');
      for (const w of group) {
        this.db.exec('SAVEPOINT w');
        try {
          w.run();
          this.db.exec('RELEASE w');
          done.push(w);
        } catch (e) {
          this.db.exec('ROLLBACK TO w');
          this.db.exec('RELEASE w');
          w.reject(e);
        }
      }
      this.db.exec('COMMIT');
    } catch (e) {
      this.stats.failedGroups++;
      try {
        if (this.db.isTransaction) this.db.exec('ROLLBACK');
      } catch {
        // The connection is unusable; every write of the group is refused below.
      }
      // Rejecting a write that already failed on its own is a no-op.
      for (const w of group) w.reject(e);
      return;
    }
    this.stats.groups++;
    this.stats.writes += done.length;
    for (const w of done) {
      try {
        w.apply();
        w.resolve();
      } catch (e) {
        w.reject(e);
      }
    }
  }
}
