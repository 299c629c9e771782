/**
 * Session lifecycle through the protocol and the CLI (PROTOCOL.md §7.14):
 * list_sessions, end_session (move and drop), and GC ending an idle session
 * in a real daemon whose idle TTL is one second.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ctxd } from '../helpers/cli.ts';
import { startDaemon, stopAll } from '../helpers/daemon.ts';

afterAll(stopAll);

describe('sessions', () => {
  it('lists sessions and ends one by moving or dropping its L1, through the client and the CLI', async () => {
    const d = await startDaemon();
    const c = await d.client();
    await c.storeBatch([
      { text: 'turn one of chat-a', level: 1, session: 'chat-a' },
      { text: 'turn two of chat-a', level: 1, session: 'chat-a' },
      { text: 'a note of chat-a', level: 2, session: 'chat-a' },
      { text: 'turn one of chat-b', level: 1, session: 'chat-b' },
    ]);
    const pages = [];
    for await (const page of c.listSessions({ limit: 1 })) pages.push(page);
    expect(pages.map((p) => p.sessions.map((s) => [s.session, s.l1, s.l2]))).toEqual([[['chat-a', 2, 1]], [['chat-b', 1, 0]]]);
    expect(await c.endSession('chat-a')).toEqual({ session: 'chat-a', moved: 2, dropped: 0 });
    const env = { CTXD_PORT: String(d.port), CTXD_DATA_DIR: d.dataDir };
    const refused = await ctxd(['end-session', '--drop', 'chat-b'], env);
    expect(refused.code).toBe(2);
    const dropped = await ctxd(['end-session', '--drop', '--yes', 'chat-b'], env);
    expect(dropped.stdout).toBe('ended session chat-b: 1 L1 contexts deleted\n');
    const listed = await ctxd(['sessions', '--json', '--all'], env);
    expect(JSON.parse(listed.stdout)).toMatchObject({ sessions: [{ session: 'chat-a', l1: 0, l2: 3 }], next_cursor: null });
    await c.close();
  });

  it('GC ends a session idle past session.idle_ttl_s and counts it', async () => {
    const d = await startDaemon({ args: ['--set', 'session.idle_ttl_s=1', '--set', 'engine.gc_interval_s=0.1'] });
    const c = await d.client();
    await c.store({ text: 'a turn that will go idle', level: 1, session: 'idle-one' });
    // Waits for the state, not for a time: the session becomes idle a second after its turn, GC then moves it.
    const deadline = Date.now() + 30_000;
    let counted = 0;
    while (counted < 1 && Date.now() < deadline) {
      const metrics = (await d.http('/metrics')).text;
      counted = Number(/^ctxd_gc_sessions_ended_total (\d+)/m.exec(metrics)?.[1] ?? 0);
      if (counted < 1) await new Promise((r) => setTimeout(r, 100));
    }
    expect(counted).toBeGreaterThanOrEqual(1);
    expect((await c.listSessionsPage()).sessions).toEqual([expect.objectContaining({ session: 'idle-one', l1: 0, l2: 1 })]);
    await c.close();
  });
});
