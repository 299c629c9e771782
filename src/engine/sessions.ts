/**
 * Session lifecycle (PROTOCOL.md §7.14): a session's working memory (L1)
 * ends when the agent says so (end_session) or when the session has been idle
 * longer than `session.idle_ttl_s` (GC). Ending moves its L1 turns to L2,
 * where they expire with the L2 TTL, or drops them.
 */
import type { ContextMeta } from '../domain/context.ts';
import { scopeKey, type EngineDeps } from './engine-deps.ts';

/** What the session lifecycle needs of the engine: the store, the clock, the scope locks and the TTLs. */
export type SessionDeps = Pick<EngineDeps, 'store' | 'now' | 'locks'> & { readonly config: Pick<EngineDeps['config'], 'engine'> };

export type EndAction = 'move' | 'drop';

export interface SessionSummary {
  readonly session: string;
  /** Live contexts of the session in L1 and L2. */
  readonly l1: number;
  readonly l2: number;
  /** The latest store, refresh or update among them (ms). */
  readonly lastTs: number;
}

export interface SessionPage {
  readonly sessions: SessionSummary[];
  readonly next: string | null;
}

export const DEFAULT_SESSIONS_LIMIT = 100;

/** Every session of the tenant holding live L1 or L2 contexts, by name. */
interface Tally {
  l1: number;
  l2: number;
  lastTs: number;
  /** The latest of its L1 turns alone: what idleness is measured by. */
  lastL1Ts: number;
}

/** `background`: for GC (VectorStore.find). */
async function summaries(deps: SessionDeps, tenant: string, background = false): Promise<Map<string, Tally>> {
  const metas = await deps.store.find(tenant, { levels: [1, 2], aliveAt: deps.now() }, Number.MAX_SAFE_INTEGER, { background });
  const bySession = new Map<string, Tally>();
  for (const m of metas) {
    let s = bySession.get(m.session);
    if (!s) bySession.set(m.session, (s = { l1: 0, l2: 0, lastTs: 0, lastL1Ts: 0 }));
    if (m.level === 1) {
      s.l1++;
      s.lastL1Ts = Math.max(s.lastL1Ts, m.ts);
    } else s.l2++;
    s.lastTs = Math.max(s.lastTs, m.ts);
  }
  return bySession;
}

/** Sessions in name order after `cursor`, at most `limit`. */
export async function listSessions(deps: SessionDeps, tenant: string, cursor: string | undefined, limit = DEFAULT_SESSIONS_LIMIT): Promise<SessionPage> {
  const all = [...(await summaries(deps, tenant))].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const after = cursor === undefined ? all : all.filter(([name]) => name > cursor);
  const page = after.slice(0, limit).map(([session, s]) => ({ session, l1: s.l1, l2: s.l2, lastTs: s.lastTs }));
  return { sessions: page, next: after.length > limit ? page.at(-1)!.session : null };
}

/** Ends one session's working memory: its L1 contexts move to L2 (with the L2 TTL) or are deleted. */
export function endSession(deps: SessionDeps, tenant: string, session: string, action: EndAction, idleBefore?: number): Promise<{ moved: number; dropped: number }> {
  // Under the session's L1 lock: a store racing with the end either lands before it (and is ended) or after.
  return deps.locks.run(scopeKey(tenant, 1, session), async () => {
    const now = deps.now();
    const l1 = await deps.store.find(tenant, { levels: [1], session, aliveAt: now }, Number.MAX_SAFE_INTEGER);
    // GC decided the session was idle before taking the lock: a turn stored since then keeps it alive.
    if (l1.length === 0 || (idleBefore !== undefined && l1.some((m) => m.ts >= idleBefore))) return { moved: 0, dropped: 0 };
    if (action === 'drop') return { moved: 0, dropped: await deps.store.delete(tenant, l1.map((m) => m.id)) };
    const expiresAt = now + deps.config.engine.l2_ttl_s * 1000;
    const moved = await Promise.all(l1.map((m: ContextMeta) => deps.store.patch(tenant, m.id, { level: 2, expiresAt })));
    return { moved: moved.filter(Boolean).length, dropped: 0 };
  });
}

/** GC's part: ends every session whose L1 has seen no store, refresh or update for `idleMs`. Resolves to how many ended. */
export async function endIdleSessions(deps: SessionDeps, tenant: string, idleMs: number, action: EndAction): Promise<number> {
  const cutoff = deps.now() - idleMs;
  let ended = 0;
  for (const [session, s] of await summaries(deps, tenant, true)) {
    // Idle by its L1 turns: a session still writing L2 notes but no turns is idle as working memory.
    if (s.l1 === 0 || s.lastL1Ts >= cutoff) continue;
    const r = await endSession(deps, tenant, session, action, cutoff);
    if (r.moved + r.dropped > 0) ended++;
  }
  return ended;
}
