/** `end_session` and `list_sessions` (PROTOCOL.md §7.14): a session's working memory ended, and the sessions there are. */
import type { ContextEngine } from '../../engine/context-engine.ts';
import { opHandler } from '../dispatcher.ts';

export function endSessionHandler(engine: ContextEngine) {
  return opHandler('end_session', {
    audited: true,
    role: 'agent',
    mutating: true,
    async handle(body, ctx) {
      const r = await engine.endSession(ctx.tenant, body.session, body.action ?? 'move');
      return { session: body.session, ...r };
    },
  });
}

export function listSessionsHandler(engine: ContextEngine) {
  return opHandler('list_sessions', {
    role: 'agent',
    async handle(body, ctx) {
      const page = await engine.listSessions(ctx.tenant, body.cursor, body.limit);
      return {
        sessions: page.sessions.map((s) => ({ session: s.session, l1: s.l1, l2: s.l2, last_ts: BigInt(s.lastTs) })),
        next_cursor: page.next,
      };
    },
  });
}
