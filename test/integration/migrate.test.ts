/**
 * `ctxd migrate` as a user runs it, between embedded data dirs filled and read
 * by real daemons: every context arrives whole (ids, versions, levels,
 * expiry, access counts, tags, metadata), a rerun changes nothing, a run
 * killed with SIGKILL mid-way resumes, the copy goes back as well, and wrong
 * invocations are refused. The Qdrant half runs in the QDRANT_URL suite.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { ctxd } from '../helpers/cli.ts';
import { CLI, REPO_ROOT, removeDir, startDaemon, stopAll, tempDataDir } from '../helpers/daemon.ts';

const QDRANT_URL = process.env.QDRANT_URL;
const key = { CTXD_KEY_ID: 'migrate-admin', CTXD_KEY_SECRET: randomBytes(32).toString('hex') };
const dirs: string[] = [];

function dir(): string {
  const d = tempDataDir();
  dirs.push(d);
  return d;
}

/** A configuration file for a data dir (hash embedder, as the daemons here run). */
function configFor(dataDir: string, extra: Record<string, unknown> = {}): string {
  const file = join(dataDir, 'migrate-config.json');
  writeFileSync(file, JSON.stringify({ data_dir: dataDir, embedder: { kind: 'hash' }, ...extra }));
  return file;
}

type Doc = Record<string, unknown> & { id: string };

/** Every context of the tenants, as a daemon on `dataDir` answers `list`. */
async function contextsOf(dataDir: string, tenants: string[]): Promise<Map<string, Doc>> {
  const d = await startDaemon({ dataDir, env: key });
  const c = await d.client();
  const out = new Map<string, Doc>();
  for (const tenant of tenants) {
    let cursor: string | null = null;
    do {
      const page = (await c.call('list', { tenant, limit: 500, ...(cursor && { cursor }) })) as { items: Doc[]; next_cursor: string | null };
      for (const item of page.items) out.set(item.id, item);
      cursor = page.next_cursor;
    } while (cursor);
  }
  c.close();
  await d.stop();
  return out;
}

afterAll(async () => {
  await stopAll();
  for (const d of dirs) removeDir(d);
});

describe('ctxd migrate between data dirs', () => {
  it('copies every context whole, changes nothing when run again, and copies back', async () => {
    const src = dir();
    const d = await startDaemon({ dataDir: src, env: key });
    const c = await d.client();
    for (const tenant of ['acme', 'globex']) {
      await c.call('store', { tenant, text: `${tenant} turn about the release`, level: 1, session: 's1', tags: ['chat'] });
      await c.call('store', { tenant, text: `${tenant} short-term note on the build queue`, level: 2, session: 's1', ttl_s: 3600, metadata: { ticket: 'OPS-12', n: 3 } });
      const l3 = (await c.call('store', { tenant, text: `${tenant} long-term fact: deploys need two approvals`, level: 3, agent: 'planner' })) as { id: string };
      await c.call('update', { tenant, id: l3.id, metadata: { reviewed: true } });
      await c.call('retrieve', { tenant, query: 'deploys approvals', levels: [3] });
    }
    c.close();
    await d.stop();
    const before = await contextsOf(src, ['acme', 'globex']);
    expect(before.size).toBe(6);
    expect([...before.values()].some((x) => (x.version as number) > 1 && (x.access_count as number) > 0)).toBe(true);

    const dst = dir();
    const first = await ctxd(['migrate', '--config', configFor(src), '--to-config', configFor(dst), '--json']);
    expect(first.stderr).not.toMatch(/Error/);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ inserted: 6, kept: 0, taken: 0, contexts: 6, missing: 0, differing: 0, verified: true });
    expect(await contextsOf(dst, ['acme', 'globex'])).toEqual(before);

    const again = await ctxd(['migrate', '--config', configFor(src), '--to-config', configFor(dst), '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ contexts: 6, missing: 0, verified: true });

    const back = dir();
    const returned = await ctxd(['migrate', '--config', configFor(dst), '--to-config', configFor(back), '--json']);
    expect(returned.code).toBe(0);
    expect(await contextsOf(back, ['acme', 'globex'])).toEqual(before);
  });

  it('resumes after being killed mid-way, and verifies the whole copy', async () => {
    const src = dir();
    const d = await startDaemon({ dataDir: src, env: key, args: ['--set', 'store.durability=relaxed'] });
    const c = await d.client();
    for (let i = 0; i < 3; i++) {
      await c.storeBatch(Array.from({ length: 100 }, (_, j) => ({ text: `fact ${i * 100 + j}: the value of gauge ${i}-${j} is ${(i * 100 + j) * 37}`, level: 3 as const })));
    }
    c.close();
    await d.stop();
    const dst = dir();
    const state = join(dst, 'migrate-state.json');
    const args = ['migrate', '--config', configFor(src), '--to-config', configFor(dst), '--batch', '10', '--state', state];

    // Held still after 7 batches (a gate, not a race), then killed.
    const child = spawn(process.execPath, [CLI, ...args, '--hold-after', '7'], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stderr! }).on('line', (l) => l.startsWith('holding after') && resolve());
      child.once('exit', (code) => reject(new Error(`migrate exited (${code}) before holding`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(existsSync(state)).toBe(true);
    const held = JSON.parse(readFileSync(state, 'utf8')) as { done: boolean; counts: { inserted: number } };
    expect(held).toMatchObject({ done: false, counts: { inserted: 70 } });

    const resumed = await ctxd([...args, '--json']);
    expect(resumed.code).toBe(0);
    const result = JSON.parse(resumed.stdout) as Record<string, number | boolean>;
    expect(result).toMatchObject({ contexts: 300, missing: 0, differing: 0, taken: 0, verified: true });
    expect((result.inserted as number) + (result.kept as number)).toBe(300);
    expect((await contextsOf(dst, ['default'])).size).toBe(300);
  });

  it('refuses the same store on both sides, different embedders, and a data dir a daemon holds', async () => {
    const src = dir();
    const same = await ctxd(['migrate', '--config', configFor(src), '--to-config', configFor(src)]);
    expect(same.code).toBe(2);
    expect(same.stderr).toContain('source and destination are the same store');

    const other = dir();
    const spaces = await ctxd(['migrate', '--config', configFor(src), '--to-config', configFor(other, { embedder: { kind: 'local' } })]);
    expect(spaces.code).toBe(2);
    expect(spaces.stderr).toContain('different embedders');

    const d = await startDaemon({ dataDir: src, env: key });
    const locked = await ctxd(['migrate', '--config', configFor(src), '--to-config', configFor(dir())]);
    expect(locked.code).not.toBe(0);
    expect(locked.stderr).toMatch(/in use|lock|another/i);
    await d.stop();
  });
});

describe.skipIf(!QDRANT_URL)('ctxd migrate into Qdrant and back (QDRANT_URL)', () => {
  it('round-trips a data dir through a Qdrant collection', async () => {
    const src = dir();
    const d = await startDaemon({ dataDir: src, env: key });
    const c = await d.client();
    await c.storeBatch(Array.from({ length: 50 }, (_, j) => ({ text: `qdrant migration fact ${j}: port ${8000 + j}`, level: 3 as const })));
    c.close();
    await d.stop();
    const before = await contextsOf(src, ['default']);
    const qdrant = configFor(dir(), { store: { backend: 'qdrant', qdrant: { url: QDRANT_URL, collection: `ctxd_migrate_${process.pid}_${Date.now()}` } } });
    expect((await ctxd(['migrate', '--config', configFor(src), '--to-config', qdrant])).code).toBe(0);
    const back = dir();
    expect((await ctxd(['migrate', '--config', qdrant, '--to-config', configFor(back), '--state', join(back, 'state.json')])).code).toBe(0);
    expect(await contextsOf(back, ['default'])).toEqual(before);
  });
});
