/**
 * `ctxd migrate` as an operator runs it, between data dirs filled and read by
 * real daemons: every context arrives whole (get, list and export with
 * vectors answer the same on both sides), a run after completion only
 * verifies, a run killed with SIGKILL once a batch is acknowledged resumes
 * and verifies, the copy goes back as well, and wrong invocations are refused
 * with one line. The round trip through Qdrant runs when QDRANT_URL is set.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import type { CtxdClient } from '../../src/client/index.ts';
import { ctxd } from '../helpers/cli.ts';
import { CLI, REPO_ROOT, removeDir, startDaemon, stopAll, tempDataDir } from '../helpers/daemon.ts';

const QDRANT_URL = process.env.QDRANT_URL;
if (!QDRANT_URL) console.log('QDRANT_URL not set: the migrate round trip through Qdrant is skipped (docker run -p 6333:6333 qdrant/qdrant; QDRANT_URL=http://localhost:6333 npm test)');

const key = { CTXD_KEY_ID: 'migrate-admin', CTXD_KEY_SECRET: randomBytes(32).toString('hex') };
const dirs: string[] = [];

function dir(): string {
  const d = tempDataDir();
  dirs.push(d);
  return d;
}

afterAll(async () => {
  await stopAll();
  for (const d of dirs) removeDir(d);
});

/** A configuration file for a data dir, with the hash embedder the daemons here run; kept outside the data dir. */
function configFor(dataDir: string, extra: Record<string, unknown> = {}): string {
  const file = join(dir(), 'config.json');
  writeFileSync(file, JSON.stringify({ data_dir: dataDir, embedder: { kind: 'hash' }, ...extra }));
  return file;
}

type Item = Record<string, unknown> & { id: string };
interface Snapshot {
  /** Every context of every tenant as export answers it, vectors included, in id order. */
  exported: Item[];
  /** Per tenant, every page of list followed. */
  listed: Record<string, Item[]>;
  /** Per id, what get answers (only when asked: one request per context). */
  got: Record<string, Item>;
}

async function snapshotOf(c: CtxdClient, tenants: string[], withGet: boolean): Promise<Snapshot> {
  const exported: Item[] = [];
  for await (const page of c.export({ vectors: true, all_tenants: true, limit: 1000 })) exported.push(...(page.items as Item[]));
  exported.sort((a, b) => (a.id < b.id ? -1 : 1));
  const listed: Record<string, Item[]> = {};
  for (const tenant of tenants) {
    listed[tenant] = [];
    for await (const page of c.list({ tenant, limit: 1000 })) listed[tenant].push(...(page.items as Item[]));
  }
  const got: Record<string, Item> = {};
  if (withGet) for (const x of exported) got[x.id] = (await c.get(x.id, { tenant: x.tenant as string })) as Item;
  return { exported, listed, got };
}

/** Starts a daemon on a stopped data dir, reads everything, stops it. */
async function contextsOf(dataDir: string, tenants: string[], withGet = true): Promise<Snapshot> {
  const d = await startDaemon({ dataDir, env: key });
  const c = await d.client({ timeoutMs: 60_000 });
  try {
    return await snapshotOf(c, tenants, withGet);
  } finally {
    c.close();
    expect(await d.stop()).toBe(0);
  }
}

async function migrateJson(args: string[]): Promise<Record<string, unknown>> {
  const r = await ctxd(['migrate', ...args, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('ctxd migrate between data dirs', () => {
  it('copies every context whole, only verifies when run again, and copies back', async () => {
    const src = dir();
    const d = await startDaemon({ dataDir: src, env: key });
    const c = await d.client();
    for (const tenant of ['acme', 'globex']) {
      await c.call('store', { tenant, text: `${tenant} user: which editor theme do you suggest?`, level: 1, session: 'chat-1', agent: 'assistant', tags: ['chat'] });
      await c.call('store', { tenant, text: `${tenant} short-term note: the build queue is slow today`, level: 2, session: 'chat-1', ttl_s: 3600, tags: ['ops', 'ci'], metadata: { ticket: 'OPS-12', n: 3, nested: { ok: true } } });
      const l3 = await c.call('store', { tenant, text: `${tenant} long-term fact: deploys need two approvals`, level: 3, agent: 'planner', metadata: { source: 'handbook' } });
      await c.call('update', { tenant, id: l3.id, metadata: { reviewed: true }, tags: ['policy'] });
      await c.call('retrieve', { tenant, query: 'deploys approvals', session: 'chat-1' });
      await c.call('retrieve', { tenant, query: 'two approvals for deploys' });
    }
    c.close();
    expect(await d.stop()).toBe(0);
    const before = await contextsOf(src, ['acme', 'globex']);
    expect(before.exported).toHaveLength(6);
    expect(new Set(before.exported.map((x) => x.level))).toEqual(new Set([1, 2, 3]));
    expect(before.exported.some((x) => x.level === 2 && x.expires_at !== null)).toBe(true);
    expect(before.exported.some((x) => (x.version as number) > 1)).toBe(true);
    expect(before.exported.some((x) => (x.access_count as number) > 0)).toBe(true);

    const dst = dir();
    const args = ['--config', configFor(src), '--to-config', configFor(dst)];
    const first = await migrateJson(args);
    expect(first).toMatchObject({
      tenants: 2, contexts: 6, inserted: 6, replaced: 0, kept: 0, taken: 0, copied: 6, resumed: false, already_done: false,
      missing: 0, sampled: 6, differing: 0, verified: true,
      per_tenant: [{ tenant: 'acme', source: 3, present: 3 }, { tenant: 'globex', source: 3, present: 3 }],
    });
    // The state file is in the source data dir, private, named for this destination.
    const state = first.state as string;
    expect(state.startsWith(src)).toBe(true);
    expect(readdirSync(src).filter((f) => f.startsWith('migrate-'))).toEqual([state.slice(src.length + 1)]);
    expect(statSync(state).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(state, 'utf8'))).toMatchObject({ done: true, cursor: null, counts: { inserted: 6 } });
    expect(await contextsOf(dst, ['acme', 'globex'])).toEqual(before);

    // Run again: nothing copied, nothing written, verified again.
    const stateBefore = readFileSync(state, 'utf8');
    const mtime = statSync(state).mtimeMs;
    const again = await ctxd(['migrate', ...args, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ contexts: 6, copied: 0, already_done: true, missing: 0, differing: 0, verified: true });
    expect(again.stderr).toContain('already copied; verifying');
    expect(again.stderr).not.toMatch(/\] \d+\/\d+/);
    expect(readFileSync(state, 'utf8')).toBe(stateBefore);
    expect(statSync(state).mtimeMs).toBe(mtime);
    expect(await contextsOf(dst, ['acme', 'globex'])).toEqual(before);

    // Back into a third data dir: the same contexts. Human output this time.
    const back = dir();
    const returned = await ctxd(['migrate', '--config', configFor(dst), '--to-config', configFor(back)]);
    expect(returned.code, returned.stderr).toBe(0);
    expect(returned.stdout).toContain('6 contexts of 2 tenants: inserted 6, replaced 0, kept 0, taken 0');
    expect(returned.stdout).toContain('6 of 6 present, 6 sampled, 0 differ');
    expect(returned.stdout).toMatch(/^verified/m);
    expect(returned.stderr).toContain('6/6');
    expect(await contextsOf(back, ['acme', 'globex'])).toEqual(before);
  }, 120_000);

  it('resumes after a SIGKILL once a batch is acknowledged, and verifies the whole copy', async () => {
    const src = dir();
    const d = await startDaemon({ dataDir: src, env: key, args: ['--set', 'store.durability=relaxed'] });
    const c = await d.client({ timeoutMs: 60_000 });
    for (const tenant of ['acme', 'globex']) {
      for (let i = 0; i < 2; i++) {
        const items = Array.from({ length: 1000 }, (_, j) => ({ text: `${tenant} fact ${i * 1000 + j}: gauge ${i}-${j} reads ${(i * 1000 + j) * 37} units`, level: 3 as const, tags: [`g${j % 7}`] }));
        await c.storeBatch(items, { tenant });
      }
    }
    c.close();
    expect(await d.stop()).toBe(0);
    const before = await contextsOf(src, ['acme', 'globex'], false);
    expect(before.exported).toHaveLength(4000);

    const dst = dir();
    const state = join(dir(), 'migrate-state.json');
    const args = ['migrate', '--config', configFor(src), '--to-config', configFor(dst), '--batch', '10', '--state', state];
    const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('exit', (code, signal) => res({ code, signal })));
    // The gate: a progress line saying at least one batch is acknowledged (its state is saved before the line is written).
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stderr! }).on('line', (l) => {
        const m = /\] (\d+)\/4000$/.exec(l);
        if (m && Number(m[1]) >= 10) resolve();
      });
      void exited.then(({ code }) => reject(new Error(`migrate exited (${code}) before a batch`)));
    });
    child.kill('SIGKILL');
    const { signal } = await exited;
    // Killed mid-way, as expected with 400 batches to go; should a very slow runner let the copy finish first, what follows holds all the same.
    const killedMidWay = signal === 'SIGKILL' && !(JSON.parse(readFileSync(state, 'utf8')) as { done: boolean }).done;
    if (killedMidWay) {
      const held = JSON.parse(readFileSync(state, 'utf8')) as { done: boolean; cursor: { tenant: string; after: string }; counts: { inserted: number } };
      expect(held.cursor.tenant).toMatch(/^(acme|globex)$/);
      expect(held.counts.inserted).toBeGreaterThanOrEqual(10);
      expect(held.counts.inserted % 10).toBe(0);
    }

    const resumed = await migrateJson(args.slice(1));
    expect(resumed).toMatchObject({ tenants: 2, contexts: 4000, resumed: killedMidWay, missing: 0, differing: 0, sampled: 200, taken: 0, replaced: 0, verified: true });
    // Every context inserted once; the batch in flight at the kill (if any) is sent again and kept.
    expect((resumed.inserted as number) + (resumed.kept as number)).toBe(4000);
    expect(resumed.kept as number).toBeLessThanOrEqual(10);
    if ((resumed.copied as number) > 0) expect(resumed.rate as number).toBeGreaterThan(0);

    const done = await migrateJson(args.slice(1));
    expect(done).toMatchObject({ copied: 0, already_done: true, verified: true, inserted: resumed.inserted, kept: resumed.kept });
    expect(await contextsOf(dst, ['acme', 'globex'], false)).toEqual(before);
  }, 180_000);

  it('refuses, in one line and with exit 2, what cannot work', async () => {
    const src = dir();
    const filled = await startDaemon({ dataDir: src, env: key });
    const c = await filled.client();
    await c.store({ text: 'one context to copy', level: 3 });
    c.close();
    expect(await filled.stop()).toBe(0);
    const refused = async (args: string[], says: string | RegExp) => {
      const r = await ctxd(['migrate', ...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(says);
      expect(r.stdout).toBe('');
    };

    await refused(['--config', configFor(src), '--to-config', configFor(src)], `ctxd migrate: source and destination are the same store (data dir `);
    await refused(['--config', configFor(src), '--to-config', configFor(join(src, '.'))], 'the same store');
    await refused(['--config', configFor(src), '--to-config', configFor(dir(), { embedder: { kind: 'local' } })], /embed differently \(source hash:.*, destination local:.*\).*run ctxd reindex/);
    await refused(['--config', configFor(dir()), '--to-config', configFor(dir())], 'holds no ctxd data');
    await refused(['--config', configFor(src), '--to-config', configFor(dir()), '--tenant', 'nobody'], 'the source holds no contexts of tenant nobody');
    await refused(['--config', configFor(src), '--to-config', configFor(dir()), '--batch', '0'], '--batch');
    await refused(['--config', configFor(src)], '--to-config');
    const qdrant = configFor(dir(), { store: { backend: 'qdrant', qdrant: { url: 'http://127.0.0.1:9', collection: 'never_opened' } } });
    await refused(['--config', qdrant, '--to-config', configFor(dir())], '--state FILE is required when the source is not a data dir');
    // A state file of another copy.
    const foreign = join(dir(), 'state.json');
    writeFileSync(foreign, JSON.stringify({ scope: 'data dir /elsewhere -> data dir /other', cursor: null, counts: { inserted: 1, replaced: 0, kept: 0, taken: 0 }, done: true }));
    await refused(['--config', configFor(src), '--to-config', configFor(dir()), '--state', foreign], 'the state is of another copy');

    // A daemon still running on either side: its pid named, nothing done.
    const copy = dir();
    expect((await ctxd(['migrate', '--config', configFor(src), '--to-config', configFor(copy)])).code).toBe(0);
    const running = await startDaemon({ dataDir: src, env: key });
    await refused(['--config', configFor(src), '--to-config', configFor(dir())], `the source data dir ${src} is in use by a running ctxd (pid ${running.proc.pid}): stop it first`);
    await refused(['--config', configFor(copy), '--to-config', configFor(src)], `the destination data dir ${src} is in use by a running ctxd (pid ${running.proc.pid})`);
    expect(readdirSync(copy).filter((f) => f.startsWith('migrate-'))).toEqual([]);
    expect(await running.stop()).toBe(0);
  }, 120_000);
});

describe.skipIf(!QDRANT_URL)('ctxd migrate into Qdrant and back (QDRANT_URL)', () => {
  it('round-trips two tenants through a Qdrant collection and back into a data dir', async () => {
    const src = dir();
    const d = await startDaemon({ dataDir: src, env: key });
    const c = await d.client();
    for (const tenant of ['acme', 'globex']) {
      await c.storeBatch(Array.from({ length: 120 }, (_, j) => ({ text: `${tenant} qdrant migration fact ${j}: port ${8000 + j}`, level: 3 as const, tags: [`t${j % 3}`], metadata: { j } })), { tenant });
      await c.call('store', { tenant, text: `${tenant} a short-term note`, level: 2, session: 's', ttl_s: 600 });
      await c.call('retrieve', { tenant, query: 'migration fact port' });
    }
    c.close();
    expect(await d.stop()).toBe(0);
    const before = await contextsOf(src, ['acme', 'globex']);
    const n = before.exported.length;
    expect(n).toBeGreaterThan(200);

    const collection = `ctxd_migrate_${process.pid}_${Date.now()}`;
    const qdrant = configFor(dir(), { store: { backend: 'qdrant', qdrant: { url: QDRANT_URL, collection } } });
    try {
      expect(await migrateJson(['--config', configFor(src), '--to-config', qdrant, '--batch', '50'])).toMatchObject({ contexts: n, inserted: n, missing: 0, differing: 0, verified: true });
      const back = dir();
      const state = join(dir(), 'state.json');
      expect(await migrateJson(['--config', qdrant, '--to-config', configFor(back), '--batch', '50', '--state', state])).toMatchObject({ contexts: n, inserted: n, missing: 0, differing: 0, verified: true });
      expect(await migrateJson(['--config', qdrant, '--to-config', configFor(back), '--state', state])).toMatchObject({ already_done: true, verified: true });
      expect(await contextsOf(back, ['acme', 'globex'])).toEqual(before);
    } finally {
      await fetch(`${QDRANT_URL}/collections/${collection}`, { method: 'DELETE' }).catch(() => undefined);
    }
  }, 180_000);
});
