/** `end_session` and `list_sessions` (PROTOCOL.md §7.14): a session's working memory ended, and the sessions there are. */
import type { ContextEngine } from '../../engine/context-engine.ts';
import { packedSize } from '../../protocol/codec.ts';
import type { Encodable, OpAnswer } from '../../protocol/ops/index.ts';
import { ELASTIC_MIN_ANSWER_BYTES, opHandler } from '../dispatcher.ts';

/** Bound of a list_sessions answer without its entries. */
const SESSIONS_FIXED_BYTES = 256;

type SessionEntry = Encodable<OpAnswer<'list_sessions'>['sessions'][number]>;

export function endSessionHandler(engine: ContextEngine) {
  return opHandler('end_session', {
    role: 'agent',
    mutating: true,
    audited: true,
    async handle(body, ctx) {
      const r = await engine.endSession(ctx.tenant, body.session, body.action ?? 'move');
      return { session: body.session, ...r };
    },
  });
}

export function listSessionsHandler(engine: ContextEngine) {
  return opHandler('list_sessions', {
    role: 'agent',
    // Up to 1,000 names of 128 characters: the page is cut to the room the connection has (§4.4), like list.
    answerBytes: { elastic: true, min: ELASTIC_MIN_ANSWER_BYTES },
    async handle(body, ctx) {
      const page = await engine.listSessions(ctx.tenant, body.cursor, body.limit);
      const room = ctx.maxAnswerBytes - SESSIONS_FIXED_BYTES;
      const sessions: SessionEntry[] = [];
      let bytes = 0;
      for (const s of page.sessions) {
        const entry = { session: s.session, l1: s.l1, l2: s.l2, last_ts: BigInt(s.lastTs) };
        bytes += packedSize(entry);
        if (bytes > room && sessions.length > 0) return { sessions, next_cursor: sessions.at(-1)!.session };
        sessions.push(entry);
      }
      return { sessions, next_cursor: page.next };
    },
  });
}
