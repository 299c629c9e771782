/**
 * Encryption at rest, as an operator runs it (PRODUCTION.md "Encryption at
 * rest"): real daemons, the CLI's `data-keys` and `rekey`, and every file of
 * the data dir searched for what was stored. Markers all contain MARKER, so
 * one search covers texts, tags, metadata keys and values, sessions and agents.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import type { CtxdClient, ExportedAnswer } from '../../src/client/index.ts';
import { ctxd } from '../helpers/cli.ts';
import { CLI, REPO_ROOT, startDaemon, stopAll, tempDataDir, type RunningDaemon } from '../helpers/daemon.ts';

afterAll(stopAll);

const MARKER = 'MARKER';
const envOf = (d: RunningDaemon) => ({ CTXD_PORT: String(d.port), CTXD_DATA_DIR: d.dataDir });
const sealedWith = (keyFile: string) => ['--set', `encryption.key_file=${keyFile}`];

/** Files under `dir` that hold `needle`, as paths. */
function filesHolding(dir: string, needle: Buffer | string): string[] {
  const n = typeof needle === 'string' ? Buffer.from(needle) : needle;
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && readFileSync(join(e.parentPath, e.name)).includes(n))
    .map((e) => join(e.parentPath, e.name));
}

async function exportAll(c: CtxdClient): Promise<ExportedAnswer[]> {
  const items: ExportedAnswer[] = [];
  for await (const page of c.export({ vectors: true, all_tenants: true, limit: 1000 })) items.push(...page.items);
  return items;
}

/** 32 bytes from a vector's first non-zero component: what would betray a stored vector. */
function vectorProbe(base64: string): Buffer {
  const bytes = Buffer.from(base64, 'base64');
  const floats = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const first = floats.findIndex((x) => x !== 0);
  return bytes.subarray(first * 4, first * 4 + 32);
}

/** The rows as stored, read with node:sqlite beside the daemon. */
function rowsByKey(dataDir: string): Record<string, number> {
  const db = new DatabaseSync(join(dataDir, 'ctxd.sqlite'), { readOnly: true });
  try {
    const rows = db.prepare("SELECT coalesce(enc_kid, '(clear)') AS k, count(*) AS n FROM contexts GROUP BY k").all() as Array<{ k: string; n: number }>;
    return Object.fromEntries(rows.map((r) => [r.k, Number(r.n)]));
  } finally {
    db.close();
  }
}

async function newKeyFile(id: string, file = join(tempDataDir(), 'data-keys.json')): Promise<string> {
  const r = await ctxd(['data-keys', 'create', '--file', file, '--id', id]);
  expect(r.code, r.stderr).toBe(0);
  return file;
}

/** `ctxd serve` that must refuse: its exit code and stderr. */
async function refusedStart(dataDir: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  const proc = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--http-port', '0', '--data-dir', dataDir, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', CTXD_EMBEDDER_KIND: 'hash', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const code = await new Promise<number | null>((r) => proc.once('exit', r));
  return { code, stderr };
}

describe('encryption at rest', () => {
  it('keeps every stored text, tag, metadata entry, session, agent and vector out of every file of the data dir, and reads it all back after a restart', async () => {
    const keyFile = await newKeyFile('k1');
    const d = await startDaemon({ args: sealedWith(keyFile) });
    const c = await d.client({ timeoutMs: 60_000 });
    for (let t = 0; t < 5; t++) await c.store({ text: `turn ${t}: the user MARKERTURN${t} asked for a refund`, level: 1, session: 'sess-MARKERSESS', agent: 'agent-MARKERAGENT' });
    await c.store({ text: 'note about MARKERNOTE deployment', level: 2, session: 'sess-MARKERSESS', tags: ['tag-MARKERTAG'], metadata: { 'key-MARKERKEY': 'value-MARKERVALUE', n: 7 } });
    const long = await c.store({ text: `long MARKERLONG ${'the quick brown fox jumps over the lazy dog '.repeat(600)}`, level: 3 });
    const batch = await c.storeBatch(Array.from({ length: 500 }, (_, i) => ({ text: `batch fact ${i} MARKERBATCH${i} on host ${i * 13}`, level: 3 as const, tags: [`t${i % 3}`] })));
    const ids = batch.results.map((r) => ('id' in r ? r.id : ''));
    await c.update(ids[0]!, { text: 'rewritten MARKERUPDATED text', metadata: { 'MARKERMETA2': true } });
    await c.delete(ids[1]!);
    await c.retrieve({ query: 'batch fact host', max_tokens: 500 });
    await c.endSession('sess-MARKERSESS');
    const before = await exportAll(c);
    expect(before.length).toBe(5 + 1 + 1 + 499);
    expect(before.find((x) => x.id === long.id)!.text).toContain('MARKERLONG');

    // While it runs (WAL included) and after it stopped, no file holds a marker or a vector's bytes.
    expect(rowsByKey(d.dataDir)).toEqual({ k1: 506 });
    expect(filesHolding(d.dataDir, MARKER)).toEqual([]);
    for (const item of before.slice(0, 20)) expect(filesHolding(d.dataDir, vectorProbe(item.vector!))).toEqual([]);
    await c.close();
    expect(await d.stop()).toBe(0);
    expect(filesHolding(d.dataDir, MARKER)).toEqual([]);
    // Nor do the daemon's logs hold a stored text or the key.
    const keyHex = (JSON.parse(readFileSync(keyFile, 'utf8')) as { keys: Array<{ key: string }> }).keys[0]!.key;
    const logs = JSON.stringify(d.logs) + d.stderr.join('\n');
    expect(logs).not.toContain(MARKER);
    expect(logs).not.toContain(keyHex);

    const again = await startDaemon({ dataDir: d.dataDir, args: sealedWith(keyFile) });
    const c2 = await again.client();
    expect(await exportAll(c2)).toEqual(before);
    const hits = await c2.retrieve({ query: 'rewritten text', levels: [3], max_tokens: 200 });
    expect(hits.contexts[0]!.text).toBe('rewritten MARKERUPDATED text');
    await c2.close();
    await again.stop();
  }, 120_000);

  it('refuses to start with no key, a wrong key, keys lacking one in use, or an unset key variable: one line, exit 2, the file untouched', async () => {
    const keyFile = await newKeyFile('k1');
    const d = await startDaemon({ args: sealedWith(keyFile) });
    const c = await d.client();
    await c.store({ text: 'a sealed MARKER fact', level: 3 });
    await c.close();
    await d.stop();
    const db = readFileSync(join(d.dataDir, 'ctxd.sqlite'));

    const doc = JSON.parse(readFileSync(keyFile, 'utf8')) as { active: string; keys: Array<{ id: string; key: string }> };
    const wrongKey = join(tempDataDir(), 'wrong.json');
    writeFileSync(wrongKey, JSON.stringify({ active: 'k1', keys: [{ id: 'k1', key: 'ab'.repeat(32) }] }), { mode: 0o600 });
    const otherKey = await newKeyFile('k2');

    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [[], {}, /holds 1 contexts sealed with data key k1, and no encryption key is configured/],
      [sealedWith(wrongKey), {}, /data key k1 is not the key this data dir's contexts were sealed with/],
      [sealedWith(otherKey), {}, /sealed with data key k1, which the configured keys do not hold/],
      [['--set', 'encryption.key_env=CTXD_TEST_DATA_KEYS'], {}, /encryption.key_env names CTXD_TEST_DATA_KEYS, which is not set/],
      [[...sealedWith(keyFile), '--set', 'encryption.key_env=X'], {}, /set one of encryption.key_file and encryption.key_env/],
    ];
    for (const [args, env, message] of cases) {
      const r = await refusedStart(d.dataDir, args, env);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toContain(doc.keys[0]!.key);
    }
    expect(readFileSync(join(d.dataDir, 'ctxd.sqlite')).equals(db)).toBe(true);

    // The same keys from the environment (a Kubernetes Secret) open it.
    const fromEnv = await startDaemon({ dataDir: d.dataDir, args: ['--set', 'encryption.key_env=CTXD_TEST_DATA_KEYS'], env: { CTXD_TEST_DATA_KEYS: readFileSync(keyFile, 'utf8') } });
    const c2 = await fromEnv.client();
    expect((await c2.retrieve({ query: 'sealed fact', max_tokens: 100 })).contexts[0]!.text).toBe('a sealed MARKER fact');
    await c2.close();
    await fromEnv.stop();
  }, 60_000);

  it('seals a store written in the clear with ctxd rekey, survives kill -9 midway, then rotates to a new key and retires the old one', async () => {
    const plain = await startDaemon();
    const c = await plain.client({ timeoutMs: 60_000 });
    for (let at = 0; at < 3000; at += 1000) {
      await c.storeBatch(Array.from({ length: 1000 }, (_, j) => ({ text: `plain fact ${at + j} MARKERPLAIN${at + j} about shard ${(at + j) % 97}`, level: 3 as const, metadata: { owner: `MARKEROWNER${j % 7}` } })));
    }
    const original = await exportAll(c);
    await c.close();
    await plain.stop();
    // The search sees plaintext when it is there.
    expect(filesHolding(plain.dataDir, MARKER).length).toBeGreaterThan(0);

    const keyFile = await newKeyFile('k1');
    let d = await startDaemon({ dataDir: plain.dataDir, args: sealedWith(keyFile) });
    expect(rowsByKey(d.dataDir)).toEqual({ '(clear)': 3000 });
    // Killed while ctxd rekey is under way: held until its progress shows 1,000 rows re-sealed.
    const rekey = spawn(process.execPath, [CLI, 'rekey', '--batch', '100'], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', ...envOf(d) }, stdio: ['ignore', 'ignore', 'pipe'] });
    const rekeyExit = new Promise<number | null>((r) => rekey.once('exit', r));
    await new Promise<void>((resolve) => {
      createInterface({ input: rekey.stderr! }).on('line', (line) => {
        const done = /\] (\d+)\/3000/.exec(line);
        if (done && Number(done[1]) >= 1000) resolve();
      });
    });
    expect(await d.stop('SIGKILL')).toBe(null);
    const cliExit = await rekeyExit;
    // Usually part of the rows are still in the clear and the CLI lost its daemon; on a slow machine the CLI may have
    // finished first, which proves no less.
    const mixed = rowsByKey(d.dataDir);
    const clear = mixed['(clear)'] ?? 0;
    if (clear > 0) expect(cliExit).not.toBe(0);
    expect(mixed.k1).toBeGreaterThanOrEqual(1000);
    expect(mixed.k1! + clear).toBe(3000);

    // Run again: it goes on with what is left, and nothing of the clear text stays on disk.
    d = await startDaemon({ dataDir: d.dataDir, args: sealedWith(keyFile) });
    let r = await ctxd(['rekey', '--json'], envOf(d));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ active_kid: 'k1', resealed: clear, unreadable: 0, dropped: 0, remaining: 0, compact_pending: false, compact_error: null });
    expect(rowsByKey(d.dataDir)).toEqual({ k1: 3000 });
    expect(filesHolding(d.dataDir, MARKER)).toEqual([]);
    let c2 = await d.client();
    expect(await exportAll(c2)).toEqual(original);
    await c2.close();

    // Rotation: a new active key, re-sealed online while the daemon serves, then the old key leaves the file.
    expect((await ctxd(['data-keys', 'create', '--file', keyFile, '--id', 'k2'])).code).toBe(0);
    r = await ctxd(['rekey', '--batch', '500', '--json'], envOf(d));
    expect(JSON.parse(r.stdout)).toEqual({ active_kid: 'k2', resealed: 3000, unreadable: 0, dropped: 0, remaining: 0, compact_pending: false, compact_error: null });
    expect(rowsByKey(d.dataDir)).toEqual({ k2: 3000 });
    await d.stop();
    const doc = JSON.parse(readFileSync(keyFile, 'utf8')) as { active: string; keys: Array<{ id: string }> };
    writeFileSync(keyFile, JSON.stringify({ ...doc, keys: doc.keys.filter((k) => k.id === 'k2') }), { mode: 0o600 });
    d = await startDaemon({ dataDir: d.dataDir, args: sealedWith(keyFile) });
    c2 = await d.client();
    expect(await exportAll(c2)).toEqual(original);
    await c2.close();
  }, 180_000);

  it('rekey is refused, with its reason, on a daemon without encryption', async () => {
    const d = await startDaemon();
    const r = await ctxd(['rekey'], envOf(d));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/encryption at rest is not configured/);
  });
});
