/**
 * Data that moves (PROTOCOL.md §7.11–7.13), as an operator does it with the
 * CLI against real daemons: export, purge and import round-trip 10,000
 * contexts of every level; an import cut by kill -9 completes when re-run;
 * a backup taken during a store stream restores every acknowledged store.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CtxdClient, ExportedAnswer, OpAnswer, StoreRequest } from '../../src/client/index.ts';
import { ctxd } from '../helpers/cli.ts';
import { CLI, REPO_ROOT, startDaemon, stopAll, tempDataDir, type RunningDaemon } from '../helpers/daemon.ts';

const N = 10_000;
let d: RunningDaemon;
let env: Record<string, string>;
let snapshot: ExportedAnswer[];
let exportFile: string;

const envOf = (x: RunningDaemon) => ({ CTXD_PORT: String(x.port), CTXD_DATA_DIR: x.dataDir });

/** Every context of the tenant as export shows it, vectors included, in id order. */
async function exportAll(c: CtxdClient, tenant?: string): Promise<ExportedAnswer[]> {
  const items: ExportedAnswer[] = [];
  for await (const page of c.export({ vectors: true, limit: 1000, ...(tenant && { tenant }) })) items.push(...page.items);
  return items;
}

/** 10,000 distinct contexts: L1 in 100 sessions (20 each, under l1_max_items), L2 with TTLs, L3 with tags and metadata. */
function corpus(): StoreRequest[] {
  return Array.from({ length: N }, (_, i): StoreRequest => {
    if (i < 2000) return { text: `turn ${i} of session ${i % 100}: the user asked about order ${i * 7}`, level: 1, session: `s${i % 100}`, agent: 'chat' };
    if (i < 5000) return { text: `note ${i}: build ${i * 3} failed on runner ${i % 17}`, level: 2, session: `s${i % 50}`, ttl_s: 3600 + i, tags: ['ci'] };
    return { text: `fact ${i}: service-${i % 97} listens on port ${10_000 + i}`, level: 3, tags: ['infra', `t${i % 5}`], metadata: { n: i, owner: `team-${i % 7}`, nested: { ok: i % 2 === 0 } } };
  });
}

beforeAll(async () => {
  // Access counts stay pending (not yet written) through the export, purge and import below: an import must not
  // add a count its export already carried. (A GC pass flushes them too: none runs within this file.)
  d = await startDaemon({ args: ['--set', 'engine.access_flush_ms=60000', '--set', 'engine.gc_interval_s=86400'] });
  env = envOf(d);
  const c = await d.client({ timeoutMs: 120_000 });
  const items = corpus();
  for (let at = 0; at < N; at += 1000) {
    const r = await c.storeBatch(items.slice(at, at + 1000));
    expect(r.results.filter((x) => !('id' in x) || x.deduplicated)).toEqual([]);
  }
  // Versions above 1 and access counts above 0, so the round trip has something to keep.
  const first = (await c.listPage({ level: 3, limit: 50 })).items;
  for (const x of first) await c.update(x.id, { metadata: { reviewed: true } });
  await c.retrieve({ query: 'service listens on port', levels: [3], max_tokens: 500 });
  snapshot = await exportAll(c);
  await c.close();
  exportFile = join(tempDataDir(), 'export.jsonl.gz');
}, 180_000);
afterAll(stopAll);

describe('export, purge, import', () => {
  it('round-trips 10,000 contexts of every level with identical ids, texts, tags, metadata, versions and vectors', async () => {
    expect(snapshot).toHaveLength(N);
    expect(snapshot.filter((x) => x.version > 1)).toHaveLength(50);
    expect(snapshot.some((x) => x.access_count > 0)).toBe(true);
    expect(new Set(snapshot.map((x) => x.level))).toEqual(new Set([1, 2, 3]));

    const exported = await ctxd(['export', '--vectors', '--out', exportFile], env);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout).toBe(`exported ${N} contexts to ${exportFile}\n`);
    expect(exported.stderr).toContain(`] ${N}/${N}`);

    const refused = await ctxd(['purge', '--tenant', 'default'], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('pass --yes');
    const purged = await ctxd(['purge', '--tenant', 'default', '--yes', '--json'], env);
    expect(purged.code, purged.stderr).toBe(0);
    expect(JSON.parse(purged.stdout)).toMatchObject({ tenant: 'default', contexts: N });
    const c = await d.client();
    expect((await c.stats()).total).toBe(0);

    const dry = await ctxd(['import', '--dry-run', '--json', exportFile], env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ items: N, refused: [], tenants: { default: N } });
    expect((await c.stats()).total).toBe(0);

    const imported = await ctxd(['import', '--json', exportFile], env);
    expect(imported.code, imported.stderr).toBe(0);
    // The export carried vectors of the daemon's own embedder: none is made again.
    expect(JSON.parse(imported.stdout)).toMatchObject({ inserted: N, replaced: 0, kept: 0, reembedded: 0, refused: [] });
    expect(await exportAll(c)).toEqual(snapshot);

    // Found by meaning and by words after the round trip, as before it.
    const r = await c.retrieve({ query: 'which port does service-42 listen on', levels: [3], max_tokens: 300 });
    expect(r.contexts[0]!.text).toMatch(/^fact \d+: service-42 listens on port/);
    await c.close();
  }, 180_000);

  it('an import cut by kill -9 completes when run again, each context once', async () => {
    const dir = tempDataDir();
    const target = await startDaemon({ dataDir: dir });
    // The plain JSONL, so that half of it can be fed through standard input.
    const plain = join(tempDataDir(), 'export.jsonl');
    const all = await ctxd(['export', '--vectors', '--out', plain], env);
    expect(all.code, all.stderr).toBe(0);
    const text = readFileSync(plain, 'utf8').split('\n').filter(Boolean);
    expect(text).toHaveLength(N + 1);

    // Import the header and 2,000 items through stdin, and kill the daemon once they are acknowledged.
    const importer = spawn(process.execPath, [CLI, 'import', '-'], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', ...envOf(target) }, stdio: ['pipe', 'pipe', 'pipe'] });
    const acknowledged = new Promise<void>((resolve) =>
      createInterface({ input: importer.stderr! }).on('line', (l) => {
        if (l.startsWith('imported 2000 of 2000')) resolve();
      }),
    );
    const importerExit = new Promise<number | null>((resolve) => importer.once('exit', resolve));
    importer.stdin!.write(`${text.slice(0, 2001).join('\n')}\n`);
    // The importer must not have stopped first (it would never say so).
    await Promise.race([acknowledged, importerExit.then((code) => Promise.reject(new Error(`import exited early with ${code}`)))]);
    expect(await target.stop('SIGKILL')).toBe(null);
    // The rest of the file meets a dead daemon: the import fails half done, as a killed one would leave it.
    importer.stdin!.end(`${text.slice(2001).join('\n')}\n`);
    expect(await importerExit).toBe(3);

    const again = await startDaemon({ dataDir: dir });
    const c = await again.client();
    expect((await c.stats()).total).toBe(2000);
    const rerun = await ctxd(['import', '--json', plain], envOf(again));
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ inserted: N - 2000, kept: 2000, replaced: 0, refused: [] });
    // Exactly the file's contexts (the source's access counts have moved on since the snapshot).
    expect(await exportAll(c)).toEqual(text.slice(1).map((l) => JSON.parse(l) as ExportedAnswer));
    await c.close();
  }, 180_000);

  it('exports gzipped to standard output and exits', async () => {
    // Bytes, not text: the CLI helper decodes standard output as UTF-8.
    const cli = spawn(process.execPath, [CLI, 'export', '--gzip', '--level', '1', '--session', 's7'], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', ...env } });
    const chunks: Buffer[] = [];
    cli.stdout.on('data', (b: Buffer) => chunks.push(b));
    // 'close' comes after standard output has ended, so every chunk is in.
    expect(await new Promise((resolve) => cli.once('close', resolve))).toBe(0);
    const lines = gunzipSync(Buffer.concat(chunks)).toString('utf8').trim().split('\n');
    expect(JSON.parse(lines[0]!)).toMatchObject({ format: 'ctxd-export', version: 1 });
    expect(lines.slice(1).map((l) => (JSON.parse(l) as ExportedAnswer).session)).toEqual(Array(20).fill('s7'));
  });

  it('refuses imported times, versions and counts no reader could show', async () => {
    const c = await d.client();
    const [first] = snapshot;
    const r = await c.request<OpAnswer<'import'>>('import', {
      items: [
        { ...first!, id: 'far-future', ts: 1e20 },
        { ...first!, id: 'huge-version', version: 1e300 },
        { ...first!, id: 'huge-count', access_count: 2 ** 60 },
        // Within ±(2^53−1), but an update would take it past: the store could then not load it again.
        { ...first!, id: 'max-version', version: Number.MAX_SAFE_INTEGER },
        { ...first!, id: 'max-count', access_count: Number.MAX_SAFE_INTEGER },
        { ...first!, id: 'top-version', version: 2 ** 48, access_count: 2 ** 48 },
      ],
    });
    expect(r.results.map((x) => ('error' in x ? x.error.details : x.id))).toEqual([
      { field: 'body.items.0.ts' },
      { field: 'body.items.1.version' },
      { field: 'body.items.2.access_count' },
      { field: 'body.items.3.version' },
      { field: 'body.items.4.access_count' },
      'top-version',
    ]);
    // The highest an import may set still counts up.
    expect((await c.update('top-version', { tags: ['bumped'] })).version).toBe(2 ** 48 + 1);
    await c.close();
  });

  it('refuses ids another tenant holds, item by item, and never writes into it', async () => {
    const c = await d.client();
    const [first] = snapshot;
    const r = await c.import([{ ...first!, text: 'taken over?' }], { tenant: 'intruder' });
    expect(r.results[0]).toMatchObject({ error: { code: 'BAD_REQUEST', details: { field: 'body.items.0.id' } } });
    expect((await c.get(first!.id)).text).toBe(first!.text);
    expect((await c.stats({ tenant: 'intruder' })).total).toBe(0);
    await c.close();
  });
});

describe('backup and restore', () => {
  it('a backup taken during a store stream restores every store acknowledged before it began', async () => {
    const source = await startDaemon();
    const c = await source.client();
    const acked: Array<{ id: string; at: number }> = [];
    let stop = false;
    let n = 0;
    const writers = Array.from({ length: 8 }, async () => {
      while (!stop) {
        const i = n++;
        const r = await c.store({ text: `streamed fact ${i} about host-${i}`, level: 3 });
        acked.push({ id: r.id, at: performance.now() });
      }
    });
    while (acked.length < 300) await new Promise((r) => setImmediate(r));
    const began = performance.now();
    const backup = await ctxd(['backup', '--json'], envOf(source));
    expect(backup.code, backup.stderr).toBe(0);
    const { path, sha256, bytes } = JSON.parse(backup.stdout) as { path: string; sha256: string; bytes: number };
    // The stream went on while the copy was written.
    const during = acked.length;
    while (acked.length < during + 100) await new Promise((r) => setImmediate(r));
    stop = true;
    await Promise.all(writers);
    const before = acked.filter((a) => a.at < began).map((a) => a.id);
    expect(before.length).toBeGreaterThanOrEqual(300);
    expect(createHash('sha256').update(readFileSync(path)).digest('hex')).toBe(sha256);
    expect(readFileSync(path).length).toBe(bytes);
    // Owner-only from its first byte, like the database it copies.
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(`${path}.sha256`, 'utf8')).toMatch(new RegExp(`^${sha256}  ctxd-.*\\.sqlite\\n$`));

    const dir = tempDataDir();
    const restored = await ctxd(['restore', '--from', path, '--data-dir', dir]);
    expect(restored.code, restored.stderr).toBe(0);
    const twice = await ctxd(['restore', '--from', path, '--data-dir', dir]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain('pass --force');
    writeFileSync(`${path}.bad`, Buffer.concat([readFileSync(path), Buffer.from('x')]));
    writeFileSync(`${path}.bad.sha256`, `${sha256}  x\n`);
    const corrupt = await ctxd(['restore', '--from', `${path}.bad`, '--data-dir', dir, '--force']);
    expect(corrupt.code).toBe(1);
    expect(corrupt.stderr).toContain('does not match its checksum');

    const back = await startDaemon({ dataDir: dir });
    const rc = await back.client();
    const got = await Promise.all(before.map((id) => rc.get(id)));
    expect(got.map((x) => x.id)).toEqual(before);
    // A restore into a running daemon's dir is refused: the daemon holds its lock.
    const busy = await ctxd(['restore', '--from', path, '--data-dir', dir, '--force']);
    expect(busy.code).not.toBe(0);
    expect(busy.stderr).toContain('in use by another ctxd');
    await rc.store({ text: 'written after the restore', level: 3 });
    await Promise.all([c.close(), rc.close()]);
    // The stop wrote an index snapshot of the restored rows; a restore over them removes it with the old database.
    expect(await back.stop('SIGTERM')).toBe(0);
    expect(existsSync(join(dir, 'index.snapshot'))).toBe(true);
    expect((await ctxd(['restore', '--from', path, '--data-dir', dir, '--force'])).code).toBe(0);
    expect(existsSync(join(dir, 'index.snapshot'))).toBe(false);
  }, 120_000);
});
