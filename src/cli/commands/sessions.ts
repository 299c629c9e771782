/** `ctxd sessions` and `ctxd end-session`: the session lifecycle from a terminal (PROTOCOL.md §7.14). */
import { CONNECTION_HELP, confirm, EXIT, parse, print, reportError, showHelp, UsageError, withClient, type Env } from '../common.ts';
import type { OpAnswer } from '../../client/index.ts';
import { positiveInt } from './contexts.ts';

type Session = OpAnswer<'list_sessions'>['sessions'][number];

export const sessionsHelp = `Usage: ctxd sessions [flags]

Lists the sessions holding L1 or L2 contexts, by name: their counts and last activity.

  --limit N            sessions per page (default 100, at most 1000)
  --cursor NAME        start after this session
  --all                follow the cursors to the end

${CONNECTION_HELP}`;

export async function sessions(argv: string[], env: Env): Promise<number> {
  try {
    const { values } = parse(argv, { limit: { type: 'string' }, cursor: { type: 'string' }, all: { type: 'boolean' } }, false);
    if (values.help) return showHelp(sessionsHelp);
    const limit = positiveInt(values.limit, '--limit');
    return await withClient('sessions', values, env, async (c) => {
      const found: Session[] = [];
      let next: string | null = null;
      for await (const page of c.listSessions({ ...(limit && { limit }), ...(values.cursor && { cursor: values.cursor }) })) {
        found.push(...page.sessions);
        next = page.next_cursor;
        if (!values.all) break;
      }
      print(values.json, { sessions: found, next_cursor: next }, () =>
        [
          ...found.map((s) => `${s.session}  L1 ${s.l1}  L2 ${s.l2}  last ${new Date(s.last_ts).toISOString()}`),
          `${found.length} sessions${next ? `; next page: --cursor ${next}` : ''}`,
        ].join('\n'),
      );
    });
  } catch (e) {
    return reportError('sessions', e);
  }
}

export const endSessionHelp = `Usage: ctxd end-session [flags] SESSION

Ends a session's working memory: its L1 contexts move to L2, where they expire
with the L2 TTL. With --drop they are deleted instead (asks for confirmation on
a terminal unless --yes).

  --drop               delete the L1 contexts instead of moving them
  -y, --yes            do not ask

${CONNECTION_HELP}`;

export async function endSession(argv: string[], env: Env): Promise<number> {
  try {
    const { values, positionals } = parse(argv, { drop: { type: 'boolean' }, yes: { type: 'boolean', short: 'y' } });
    if (values.help) return showHelp(endSessionHelp);
    if (positionals.length !== 1) throw new UsageError('give exactly one session name');
    const session = positionals[0]!;
    if (values.drop && !(await confirm(`the L1 contexts of session ${session}`, values.yes))) return EXIT.failed;
    return await withClient('end-session', values, env, async (c) => {
      const r = await c.endSession(session, { action: values.drop ? 'drop' : 'move' });
      print(values.json, r, () => (values.drop ? `ended session ${r.session}: ${r.dropped} L1 contexts deleted` : `ended session ${r.session}: ${r.moved} L1 contexts moved to L2`));
    });
  } catch (e) {
    return reportError('end-session', e);
  }
}
