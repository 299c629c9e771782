/**
 * Encryption at rest, row by row, on the store's SQLite connection: what the
 * sealable columns of a row hold (sealed-row.ts), reading them in the clear,
 * writing them sealed with the active key, and rekey's steps (re-seal, drop
 * what does not open, end a pass). File-wide state (key ids in use, check
 * values, rebuilds) is in sealing.ts. With no sealer, rows are written and
 * read in the clear and every method here is a pass-through.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { RecordPatch } from '../../domain/context.ts';
import { DataKeyError } from '../encryption/data-keys.ts';
import { UnsealError, type Sealer } from '../encryption/sealer.ts';
import { BLANK_CONTENT, openContent, sealContent, type RowContent } from './sealed-row.ts';
import { checkKeys, compact, compactState, markAllSealed, markCompactPending, type CompactState } from './sealing.ts';

/** A row's sealable columns and how they are sealed (enc_kid null: in the clear). */
export interface ContentColumns extends RowContent {
  readonly enc_kid: string | null;
  readonly sealed: Uint8Array | null;
}

export const CONTENT_COLUMNS = 'session, agent, text, tags, metadata, vector, enc_kid, sealed';

/** Sealed rows sampled per key id without a check value: a wrong key opens none of them, one damaged row does not refuse the file. */
const KEY_CHECK_SAMPLE = 3;

/** Refuses keys that cannot read the file at `db` (sealing.ts checkKeys), deciding keys without a check value by a sample of their rows. */
export function checkFileKeys(db: DatabaseSync, sealer: Sealer | null): void {
  checkKeys(db, sealer, (kid) => {
    const sample = db.prepare('SELECT id, tenant, sealed FROM contexts WHERE enc_kid = ? LIMIT ?').all(kid, KEY_CHECK_SAMPLE) as Array<{ id: string; tenant: string; sealed: Uint8Array }>;
    return sample.some((r) => {
      try {
        openContent(sealer!, r.tenant, r.id, kid, r.sealed);
        return true;
      } catch (e) {
        if (e instanceof UnsealError) return false;
        throw e;
      }
    });
  });
}

export class RowSealing {
  private readonly db: DatabaseSync;
  private readonly spaceId: number;
  private readonly deleteRow: (tenant: string, id: string) => void;
  private readonly contentStmt: StatementSync;
  private readonly updateSealedStmt: StatementSync;
  private resealRowStmt: StatementSync | null = null;
  sealer: Sealer | null;

  /** After the schema is current (the statements name its columns); `deleteRow` deletes a row with its side tables. */
  constructor(db: DatabaseSync, sealer: Sealer | null, spaceId: number, deleteRow: (tenant: string, id: string) => void) {
    this.db = db;
    this.sealer = sealer;
    this.spaceId = spaceId;
    this.deleteRow = deleteRow;
    this.contentStmt = db.prepare(`SELECT ${CONTENT_COLUMNS} FROM contexts WHERE id = ? AND tenant = ?`);
    // A sealed row's rewrite: its sealable columns merged and sealed again (rewriteSealed), the rest of a patch applied.
    // Term hashes are never kept beside sealed content: hashes of words can be matched against a dictionary.
    this.updateSealedStmt = db.prepare(`UPDATE contexts SET level = coalesce(?, level), tokens = coalesce(?, tokens), ts = coalesce(?, ts),
      expires_at = CASE WHEN ? THEN ? ELSE expires_at END, version = version + ?, space = CASE WHEN ? THEN ? ELSE space END,
      session = ?, agent = ?, text = ?, tags = ?, metadata = ?, vector = ?, enc_kid = ?, sealed = ?, terms = NULL WHERE id = ? AND tenant = ?`);
  }

  /** Refuses keys that cannot read this file (DataKeyError); reads only. */
  checkKeys(sealer: Sealer | null): void {
    checkFileKeys(this.db, sealer);
  }

  /** New keys (a `rekey` reload), already checked with `checkKeys`. */
  setSealer(sealer: Sealer): void {
    this.sealer = sealer;
  }

  /** The sealable columns of a row as stored (sealed or not). */
  columnsOf(tenant: string, id: string): ContentColumns | undefined {
    return this.contentStmt.get(id, tenant) as unknown as ContentColumns | undefined;
  }

  /** The row's sealable content in the clear; throws when its sealed value does not open. */
  contentOf(tenant: string, id: string, c: ContentColumns): RowContent {
    if (c.enc_kid === null) return c;
    if (!this.sealer) throw new DataKeyError(`context ${id} is sealed and no data key is configured`);
    return openContent(this.sealer, tenant, id, c.enc_kid, c.sealed ?? new Uint8Array(0));
  }

  /** Column values to write for `c`: sealed with the active key when encrypting. */
  stored(tenant: string, id: string, c: RowContent): [string, string | null, string, string, string, Uint8Array, string | null, Uint8Array | null] {
    if (!this.sealer) return [c.session, c.agent, c.text, c.tags, c.metadata, c.vector, null, null];
    const { kid, sealed } = sealContent(this.sealer, tenant, id, c);
    const b = BLANK_CONTENT;
    return [b.session, b.agent, b.text, b.tags, b.metadata, b.vector, kid, sealed];
  }

  /**
   * Rewrites a row's sealable content with the active key, merged with
   * `change`, and applies the rest of `p` (a patch, a new vector, a re-seal).
   * Returns false when the row does not exist.
   */
  rewriteSealed(tenant: string, id: string, change: Partial<RowContent>, p: RecordPatch = {}, bumpVersion = true, newSpace = false): boolean {
    const current = this.columnsOf(tenant, id);
    if (!current) return false;
    const merged = { ...this.contentOf(tenant, id, current), ...change };
    const [session, agent, text, tags, metadata, vector, kid, sealed] = this.stored(tenant, id, merged);
    this.updateSealedStmt.run(p.level ?? null, p.tokens ?? null, p.ts ?? null, p.expiresAt !== undefined ? 1 : 0, p.expiresAt ?? null, bumpVersion ? 1 : 0,
      newSpace ? 1 : 0, this.spaceId, session, agent, text, tags, metadata, vector, kid, sealed, id, tenant);
    return true;
  }

  /** Up to `limit` ids after `after` (id order) whose rows are not sealed with the active key. */
  unsealedIdsAfter(after: string, limit: number): string[] {
    const kid = this.sealer?.activeKid ?? null;
    return (this.db.prepare('SELECT id FROM contexts WHERE enc_kid IS NOT ? AND id > ? ORDER BY id LIMIT ?').all(kid, after, limit) as Array<{ id: string }>).map((r) => r.id);
  }

  /** How many of `ids` are still not sealed with the active key. */
  unsealedAmong(ids: readonly string[]): number {
    const kid = this.sealer?.activeKid ?? null;
    return Number((this.db.prepare('SELECT count(*) AS n FROM contexts WHERE id IN (SELECT value FROM json_each(?)) AND enc_kid IS NOT ?').get(JSON.stringify(ids), kid) as { n: number }).n);
  }

  /** Rows not sealed with the active key (in the clear, or under an older key). */
  unsealedCount(): number {
    const kid = this.sealer?.activeKid ?? '';
    // Three index ranges instead of a scan.
    return Number((this.db.prepare('SELECT count(*) AS n FROM contexts WHERE enc_kid IS NULL OR enc_kid < ? OR enc_kid > ?').get(kid, kid) as { n: number }).n);
  }

  /** Seals `ids` with the active key where they are not yet (the writer's `reseal`); returns how many it re-sealed. A row that does not open is left as it is. */
  reseal(ids: readonly string[]): number {
    if (!this.sealer) return 0;
    const active = this.sealer.activeKid;
    const stmt = (this.resealRowStmt ??= this.db.prepare('SELECT tenant, enc_kid FROM contexts WHERE id = ?'));
    let n = 0;
    for (const id of ids) {
      const row = stmt.get(id) as { tenant: string; enc_kid: string | null } | undefined;
      if (!row || row.enc_kid === active) continue;
      this.db.exec('SAVEPOINT reseal');
      try {
        this.rewriteSealed(row.tenant, id, {}, {}, false);
        this.db.exec('RELEASE reseal');
        n++;
      } catch (e) {
        // A row that does not open (quarantined at load) stays for the operator (rekey's drop_unreadable); anything else
        // (a full disk) fails the write, and SQLite may have rolled the whole transaction back already.
        if (this.db.isTransaction) {
          this.db.exec('ROLLBACK TO reseal');
          this.db.exec('RELEASE reseal');
        }
        if (!(e instanceof UnsealError)) throw e;
      }
    }
    // In the same commit: the pass's end rebuilds the file (compact), even after a crash in between.
    if (n > 0) markCompactPending(this.db);
    return n;
  }

  /** Deletes those of `ids` that are not under the active key and do not open (rekey's drop_unreadable); returns how many. */
  dropUnreadable(ids: readonly string[]): number {
    if (!this.sealer) return 0;
    const stmt = this.db.prepare(`SELECT tenant, ${CONTENT_COLUMNS} FROM contexts WHERE id = ?`);
    let n = 0;
    for (const id of ids) {
      const row = stmt.get(id) as unknown as (ContentColumns & { tenant: string }) | undefined;
      if (!row || row.enc_kid === this.sealer.activeKid) continue;
      try {
        this.contentOf(row.tenant, id, row);
        continue; // it opens: not for dropping
      } catch (e) {
        if (!(e instanceof UnsealError)) throw e;
      }
      this.deleteRow(row.tenant, id);
      n++;
    }
    if (n > 0) markCompactPending(this.db);
    return n;
  }

  /** The end of a rekey pass, outside any transaction: notes a store all under the active key, then rebuilds the file if pending (sealing.ts). */
  finishPass(): void {
    if (this.sealer && this.unsealedCount() === 0) markAllSealed(this.db);
    compact(this.db);
  }

  compactState(): CompactState {
    return compactState(this.db);
  }

  /** A sealed row's text is opened here (a value that does not open throws UnsealError: it was altered after load). */
  textOf(tenant: string, id: string, r: { text: string; enc_kid: string | null; sealed: Uint8Array | null }): string {
    if (r.enc_kid === null) return r.text;
    if (!this.sealer) throw new DataKeyError(`context ${id} is sealed and no data key is configured`);
    return openContent(this.sealer, tenant, id, r.enc_kid, r.sealed ?? new Uint8Array(0)).text;
  }
}
