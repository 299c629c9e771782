/**
 * `purge` (PROTOCOL.md §7.12): deletes everything of one tenant: its
 * contexts at every level, and the persisted request ids of its keys that
 * can no longer guard against a replay. Admin
 * only; the tenant is always named, even the key's own.
 */
import type { ContextEngine } from '../../engine/context-engine.ts';
import type { RequestJournal } from '../../store/request-journal.ts';
import { opHandler } from '../dispatcher.ts';

/**
 * Request ids younger than this many skew windows are kept: they still refuse
 * replays across a restart (PROTOCOL.md §4.3), and the journal prunes them soon.
 */
const KEEP_SKEW_WINDOWS = 2;

export function purgeHandler(engine: ContextEngine, journal: RequestJournal, kidsOf: (tenant: string) => string[], maxSkewMs: number) {
  return opHandler('purge', {
    audited: true,
    role: 'admin',
    mutating: true,
    async handle(_body, ctx) {
      // The dispatcher has taken the named tenant out of the body into ctx.tenant.
      const contexts = await engine.purge(ctx.tenant);
      const replayIds = await journal.forgetRequests(kidsOf(ctx.tenant), Date.now() - KEEP_SKEW_WINDOWS * maxSkewMs);
      return { tenant: ctx.tenant, contexts, replay_ids: replayIds };
    },
  });
}
