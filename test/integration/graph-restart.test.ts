/**
 * Saved ANN graphs and the index snapshot across restarts of the real daemon:
 * a graceful stop saves them and the next start reads its rows from the
 * snapshot and serves through the graphs at once; a kill -9 (during the saves,
 * or after writes they never saw) loses no acknowledged write, and the index
 * the restart builds finds every row and none that was deleted.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CtxdClient } from '../../src/client/client.ts';
import { startDaemon, stopAll, tempDataDir, type RunningDaemon } from '../helpers/daemon.ts';
import { syntheticText } from '../helpers/records.ts';

afterAll(stopAll);

const ARGS = ['--set', 'store.ann_threshold=2000'];
const start = (dataDir: string) => startDaemon({ dataDir, args: ARGS });
const textOf = (i: number) => `${syntheticText(i, 14)} #${i}`;

/** Stores texts `from`..`to` (exclusive) as L3 in batches; returns their ids by index. */
async function fill(c: CtxdClient, from: number, to: number): Promise<Map<number, string>> {
  const ids = new Map<number, string>();
  for (let at = from; at < to; at += 500) {
    const n = Math.min(500, to - at);
    const r = await c.storeBatch(Array.from({ length: n }, (_, j) => ({ text: textOf(at + j), level: 3 })));
    r.results.forEach((item, j) => {
      if ('id' in item) ids.set(at + j, item.id);
    });
  }
  return ids;
}

/** Each sampled text's own context is the first answer to it; deleted ones never come back. */
async function expectFindable(c: CtxdClient, ids: Map<number, string>, deleted: ReadonlySet<string> = new Set()): Promise<void> {
  const sample = [...ids].filter(([i]) => i % 37 === 0);
  for (const [i, id] of sample) {
    const r = await c.retrieve({ query: textOf(i), levels: [3], max_tokens: 200 });
    if (deleted.has(id)) expect(r.contexts.map((x) => x.id)).not.toContain(id);
    else expect(r.contexts[0]?.id).toBe(id);
  }
}

async function contexts(c: CtxdClient): Promise<number> {
  return (await c.stats()).total;
}

/** A graceful stop (SIGTERM) cut by SIGKILL as soon as the daemon logs `msg`. */
async function killOnceLogged(d: RunningDaemon, msg: string): Promise<void> {
  const logged = d.waitForLog(msg, 60_000);
  d.proc.kill('SIGTERM');
  await logged;
  d.proc.kill('SIGKILL');
  await d.exited;
}

async function storeDetail(d: RunningDaemon): Promise<string> {
  return String((await d.http('/health')).body.components?.store.detail ?? '');
}

describe('saved ANN graphs, real daemon', () => {
  it('a graceful stop saves the graphs; the next start searches through them at once, and says so', async () => {
    const dataDir = tempDataDir();
    const first = await start(dataDir);
    const c = await first.client({ timeoutMs: 60_000 });
    const ids = await fill(c, 0, 6_000);
    expect(ids.size).toBe(6_000);
    await first.waitForLog('ann graphs built', 120_000);
    await c.close();
    expect(await first.stop('SIGTERM')).toBe(0);
    expect(first.logs.find((l) => l.msg === 'ann graphs saved')).toMatchObject({ graphs: 1, rows: 6_000 });
    expect(readdirSync(join(dataDir, 'ann')).sort().map((f) => f.slice(33))).toEqual(['keys', 'usearch']);
    expect(first.logs.find((l) => l.msg === 'index snapshot saved')).toMatchObject({ rows: 6_000 });

    const second = await start(dataDir);
    // Logged during the open, before 'listening': nothing was left to build.
    expect(second.logs.find((l) => l.msg === 'ann graphs loaded')).toMatchObject({ graphs: 1, rowsReused: 6_000, rowsToAdd: 0, refused: [] });
    // The rows too were read from the snapshot the stop wrote, not from SQLite row by row.
    expect(second.logs.find((l) => l.msg === 'index snapshot loaded')).toMatchObject({ rows: 6_000 });
    expect(await storeDetail(second)).toBe('6000 records; read from the index snapshot; 1 ANN graphs loaded from disk');
    const c2 = await second.client({ timeoutMs: 60_000 });
    expect(await contexts(c2)).toBe(6_000);
    await expectFindable(c2, ids);
    await c2.close();
    await second.stop();
  }, 240_000);

  it('kill -9 after writes the save never saw, then kill -9 during a save: nothing acknowledged is lost, and the index finds every row', async () => {
    const dataDir = tempDataDir();
    const first = await start(dataDir);
    const c = await first.client({ timeoutMs: 60_000 });
    const ids = await fill(c, 0, 6_000);
    await first.waitForLog('ann graphs built', 120_000);
    await c.close();
    expect(await first.stop('SIGTERM')).toBe(0);

    // Writes after the load, then SIGKILL: the saved graph is older than the table.
    const second = await start(dataDir);
    const c2 = await second.client({ timeoutMs: 60_000 });
    for (const [i, id] of await fill(c2, 6_000, 7_000)) ids.set(i, id);
    const doomed = [...ids].filter(([i]) => i % 37 === 0 && i % 2 === 0);
    const deleted = new Set(doomed.map(([, id]) => id));
    const deletedSaved = doomed.filter(([i]) => i < 6_000).length;
    for (const id of deleted) await c2.delete(id);
    await c2.close();
    second.proc.kill('SIGKILL');
    await second.exited;

    const third = await start(dataDir);
    // The second start read the snapshot and took its token: after the kill, every row is read from SQLite.
    expect(third.logs.some((l) => l.msg === 'index snapshot loaded')).toBe(false);
    expect(third.logs.find((l) => l.msg === 'ann graphs loaded')).toMatchObject({ graphs: 1, rowsReused: 6_000 - deletedSaved, rowsToAdd: 1_000 - (deleted.size - deletedSaved), refused: [] });
    const c3 = await third.client({ timeoutMs: 60_000 });
    expect(await contexts(c3)).toBe(7_000 - deleted.size);
    await expectFindable(c3, ids, deleted);
    await third.waitForLog('ann graphs built', 120_000);
    await expectFindable(c3, ids, deleted);
    await c3.close();
    // SIGTERM, then SIGKILL as soon as the save begins: the daemon dies inside it or just after.
    await killOnceLogged(third, 'ann graphs saving');

    const fourth = await start(dataDir);
    const loaded = fourth.logs.find((l) => l.msg === 'ann graphs loaded' || l.msg === 'ann graphs loaded from disk; refused ones are rebuilt');
    // Whichever pair of files the kill left (the old save or the new one), each is checked, then reconciled.
    expect(loaded).toBeDefined();
    const c4 = await fourth.client({ timeoutMs: 60_000 });
    expect(await contexts(c4)).toBe(7_000 - deleted.size);
    await expectFindable(c4, ids, deleted);
    await c4.close();
    // SIGKILL once the graphs are saved: the daemon dies writing the index snapshot, or just after it.
    await killOnceLogged(fourth, 'ann graphs saved');

    // A snapshot is read only if the kill came after its token was committed, when it holds every row.
    const fifth = await start(dataDir);
    const c5 = await fifth.client({ timeoutMs: 60_000 });
    expect(await contexts(c5)).toBe(7_000 - deleted.size);
    await expectFindable(c5, ids, deleted);
    await c5.close();
    await fifth.stop();
  }, 300_000);
});
