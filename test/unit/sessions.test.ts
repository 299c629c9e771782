/**
 * Session lifecycle rules (src/engine/sessions.ts) on a real embedded store
 * with an injected clock: idleness is measured by a session's L1 turns only,
 * ending moves L1 to L2 with the L2 TTL or drops it, and listing pages by name.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { endIdleSessions, endSession, listSessions, type SessionDeps } from '../../src/engine/sessions.ts';
import { KeyedLock } from '../../src/engine/keyed-lock.ts';
import { hashSpace } from '../../src/engine/text/hash-embedder.ts';
import { EmbeddedStore } from '../../src/store/embedded/embedded-store.ts';
import { defaultConfig } from '../../src/config/load.ts';
import { removeDir, tempDataDir } from '../helpers/daemon.ts';
import { makeRecord } from '../helpers/records.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

const MIN = 60_000;

async function setUp(): Promise<{ deps: SessionDeps; clock: { now: number }; store: EmbeddedStore }> {
  const dir = tempDataDir();
  dirs.push(dir);
  const store = new EmbeddedStore({ dataDir: dir, space: hashSpace(384), durability: 'relaxed', ann: { threshold: 20_000, connectivity: 16, expansionAdd: 128, expansionSearch: 128 } });
  await store.open();
  const clock = { now: 1_000 * MIN };
  return { deps: { store, now: () => clock.now, locks: new KeyedLock(), config: defaultConfig() }, clock, store };
}

describe('session lifecycle', () => {
  it('ends sessions whose L1 turns are all older than the idle TTL, and no other', async () => {
    const { deps, clock, store } = await setUp();
    const t0 = clock.now;
    await store.upsert([
      makeRecord({ tenant: 't', text: 'old turn one', level: 1, session: 'quiet', ts: t0 - 30 * MIN }),
      makeRecord({ tenant: 't', text: 'old turn two', level: 1, session: 'quiet', ts: t0 - 20 * MIN }),
      makeRecord({ tenant: 't', text: 'an old turn', level: 1, session: 'busy', ts: t0 - 30 * MIN }),
      makeRecord({ tenant: 't', text: 'a fresh turn', level: 1, session: 'busy', ts: t0 - 1 * MIN }),
      // A recent L2 note does not keep working memory alive.
      makeRecord({ tenant: 't', text: 'old turn three', level: 1, session: 'notes', ts: t0 - 30 * MIN }),
      makeRecord({ tenant: 't', text: 'a fresh note', level: 2, session: 'notes', ts: t0 - 1 * MIN, expiresAt: t0 + 60 * MIN }),
      makeRecord({ tenant: 'other', text: 'another tenant turn', level: 1, session: 'quiet', ts: t0 - 30 * MIN }),
    ]);
    expect(await endIdleSessions(deps, 't', 10 * MIN, 'move')).toBe(2);
    const page = await listSessions(deps, 't', undefined);
    expect(page.sessions.map((s) => [s.session, s.l1, s.l2])).toEqual([
      ['busy', 2, 0],
      ['notes', 0, 2],
      ['quiet', 0, 2],
    ]);
    // Moved turns take the L2 TTL from now.
    const moved = await store.find('t', { levels: [2], session: 'quiet' }, 10);
    expect(moved.map((m) => m.expiresAt)).toEqual([t0 + deps.config.engine.l2_ttl_s * 1000, t0 + deps.config.engine.l2_ttl_s * 1000]);
    // The other tenant's session of the same name is untouched.
    expect((await listSessions(deps, 'other', undefined)).sessions).toEqual([{ session: 'quiet', l1: 1, l2: 0, lastTs: t0 - 30 * MIN }]);
    clock.now += 10 * MIN;
    expect(await endIdleSessions(deps, 't', 10 * MIN, 'drop')).toBe(1);
    expect((await listSessions(deps, 't', undefined)).sessions.find((s) => s.session === 'busy')).toBeUndefined();
    await store.close();
  });

  it('a session GC judged idle is kept when a turn landed before GC took its lock', async () => {
    const { deps, clock, store } = await setUp();
    await store.upsert([makeRecord({ tenant: 't', text: 'an old turn', level: 1, session: 'resumed', ts: clock.now - 30 * MIN })]);
    const cutoff = clock.now - 10 * MIN;
    // The agent comes back between GC's look and GC's end of the session.
    await store.upsert([makeRecord({ tenant: 't', text: 'a fresh turn', level: 1, session: 'resumed', ts: clock.now })]);
    expect(await endSession(deps, 't', 'resumed', 'drop', cutoff)).toEqual({ moved: 0, dropped: 0 });
    expect((await listSessions(deps, 't', undefined)).sessions).toEqual([expect.objectContaining({ session: 'resumed', l1: 2 })]);
    await store.close();
  });

  it('end_session drops or moves at once, and listing pages by name', async () => {
    const { deps, clock, store } = await setUp();
    await store.upsert(Array.from({ length: 5 }, (_, i) => makeRecord({ tenant: 't', text: `turn ${i}`, level: 1, session: `s${i}`, ts: clock.now })));
    expect(await endSession(deps, 't', 's1', 'drop')).toEqual({ moved: 0, dropped: 1 });
    expect(await endSession(deps, 't', 's2', 'move')).toEqual({ moved: 1, dropped: 0 });
    expect(await endSession(deps, 't', 'nobody', 'move')).toEqual({ moved: 0, dropped: 0 });
    const first = await listSessions(deps, 't', undefined, 2);
    expect(first).toEqual({ sessions: [expect.objectContaining({ session: 's0' }), expect.objectContaining({ session: 's2', l1: 0, l2: 1 })], next: 's2' });
    const second = await listSessions(deps, 't', first.next!, 2);
    expect(second.sessions.map((s) => s.session)).toEqual(['s3', 's4']);
    expect(second.next).toBeNull();
    await store.close();
  });
});
