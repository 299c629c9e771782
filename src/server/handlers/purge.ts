/**
 * `purge` (PROTOCOL.md §7.12): deletes everything of one tenant: its
 * contexts at every level, and the persisted request ids of its keys. Admin
 * only; the tenant is always named, even the key's own.
 */
import type { ContextEngine } from '../../engine/context-engine.ts';
import type { RequestJournal } from '../../store/request-journal.ts';
import { opHandler } from '../dispatcher.ts';

export function purgeHandler(engine: ContextEngine, journal: RequestJournal, kidsOf: (tenant: string) => string[]) {
  return opHandler('purge', {
    role: 'admin',
    mutating: true,
    async handle(_body, ctx) {
      // The dispatcher has taken the named tenant out of the body into ctx.tenant.
      const contexts = await engine.purge(ctx.tenant);
      const replayIds = await journal.forgetRequests(kidsOf(ctx.tenant));
      return { tenant: ctx.tenant, contexts, replay_ids: replayIds };
    },
  });
}
