/**
 * `rekey` (PROTOCOL.md §7.15): reads the data keys again, makes their active
 * key the one new writes are sealed with, and re-seals one step of rows that
 * are not under it yet. `ctxd rekey` calls it until `next_cursor` is null.
 * Admin only; spans every tenant.
 */
import type { RekeyStep } from '../../store/vector-store.ts';
import { opHandler } from '../dispatcher.ts';

/** Most rows a step re-seals when the request names no limit. */
export const DEFAULT_REKEY_ROWS = 1000;

export interface RekeyTarget {
  rekey(after: string | null, limit: number, dropUnreadable: boolean): Promise<RekeyStep>;
}

export function rekeyHandler(target: RekeyTarget) {
  return opHandler('rekey', {
    audited: true,
    role: 'admin',
    mutating: true,
    async handle(body) {
      const step = await target.rekey(body.cursor ?? null, body.limit ?? DEFAULT_REKEY_ROWS, body.drop_unreadable === true);
      return {
        active_kid: step.active_kid,
        resealed: step.resealed,
        unreadable: step.unreadable,
        dropped: step.dropped,
        remaining: step.remaining,
        next_cursor: step.next,
        compact_pending: step.compact.pending,
        compact_error: step.compact.error,
      };
    },
  });
}
