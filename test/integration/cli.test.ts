/** The `ctxd` command line against a real daemon, as a developer uses it from a terminal. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, stopAll, type RunningDaemon } from '../helpers/daemon.ts';
import { ctxd } from '../helpers/cli.ts';

let d: RunningDaemon;
let env: Record<string, string>;
beforeAll(async () => {
  d = await startDaemon();
  // The key comes from the data dir, the daemon from the environment.
  env = { CTXD_PORT: String(d.port), CTXD_DATA_DIR: d.dataDir };
});
afterAll(stopAll);

describe('ctxd CLI', () => {
  it('pings, stores, queries, gets, deletes and counts, in human form', async () => {
    expect((await ctxd(['ping'], env)).stdout).toMatch(/^pong from ctxd 0\.1\.0 in [\d.]+ ms \(key k-[0-9a-f]+, tenant default, role admin\)\n$/);
    const stored = await ctxd(['store', '--level', '3', '--tag', 'prefs', '--meta', 'team=core', '--meta', 'n=2', 'The user prefers dark mode in every editor'], env);
    expect(stored.code).toBe(0);
    const id = /^stored (c[0-9a-z]+) \(level 3, \d+ tokens\)\n$/.exec(stored.stdout)![1]!;
    const again = await ctxd(['store', 'The user prefers dark mode in every editor'], env);
    expect(again.stdout).toBe(`deduplicated into ${id} (level 3, ${/(\d+) tokens/.exec(stored.stdout)![1]} tokens)\n`);
    const q = await ctxd(['query', '--max-tokens', '100', 'dark', 'mode', 'editor'], env);
    expect(q.code).toBe(0);
    expect(q.stdout).toContain(id);
    expect(q.stdout).toContain('The user prefers dark mode in every editor');
    expect(q.stdout).toMatch(/1 contexts, \d+ tokens \(L1 0\/\d+ tok, 0 omitted; L2 .*\); set [0-9a-f]{32}; [\d.]+ ms\n$/);
    const got = await ctxd(['get', id], env);
    expect(got.stdout).toContain('tags=prefs');
    expect(got.stdout).toContain('metadata={"team":"core","n":2}');
    expect((await ctxd(['stats'], env)).stdout).toBe('tenant default: L1 0, L2 0, L3 1 (1 contexts, 42 bytes of text, 0 sessions)\n');
    expect(await ctxd(['delete', id], env)).toMatchObject({ code: 0, stdout: `deleted ${id}\n` });
  });

  it('reads text from standard input and prints JSON for scripts', async () => {
    const r = await ctxd(['store', '--json', '--level', 'L1', '--session', 'cli', '-'], env, 'piped working memory line\n');
    const body = JSON.parse(r.stdout);
    expect(body).toMatchObject({ level: 1, deduplicated: false });
    const q = JSON.parse((await ctxd(['query', '--json', '--session', 'cli', '--level', '1', 'piped memory'], env)).stdout);
    expect(q.contexts[0].id).toBe(body.id);
    expect(JSON.parse((await ctxd(['stats', '--json'], env)).stdout)).toMatchObject({ tenant: 'default', levels: { '1': 1 } });
    expect(JSON.parse((await ctxd(['ping', '--json'], env)).stdout)).toMatchObject({ ok: true, server: { server: 'ctxd' } });
  });

  it('fails with one line carrying the wire code, and exit codes scripts can rely on', async () => {
    expect(await ctxd(['get', 'c-missing'], env)).toEqual({ code: 1, stdout: '', stderr: 'ctxd get: NOT_FOUND: no context "c-missing"\n' });
    expect(await ctxd(['store', '--level', '7', 'x'], env)).toMatchObject({ code: 2, stderr: 'ctxd store: --level must be 1, 2 or 3 (or L1, L2, L3), got "7"\n' });
    expect(await ctxd(['store', '--nonsense', 'x'], env)).toMatchObject({ code: 2 });
    expect(await ctxd(['ping'], { ...env, CTXD_PORT: '1' })).toMatchObject({ code: 3, stderr: expect.stringMatching(/^ctxd ping: CONNECTION_CLOSED: cannot connect to 127\.0\.0\.1:1: .*\n$/) });
    const bad = await ctxd(['ping'], { ...env, CTXD_KEY_ID: 'nobody', CTXD_KEY_SECRET: '00'.repeat(32) });
    expect(bad).toMatchObject({ code: 1, stderr: 'ctxd ping: UNKNOWN_KEY: no live key has kid "nobody"\n' });
    expect(await ctxd(['frobnicate'], env)).toMatchObject({ code: 2 });
  });

  it('has --help on every command', async () => {
    for (const cmd of ['serve', 'ping', 'store', 'query', 'get', 'delete', 'stats', 'keys', 'config', 'list', 'update', 'delete-where', 'clear', 'store-batch', 'mcp', 'reindex']) {
      const r = await ctxd([cmd, '--help'], env);
      expect(r.code, cmd).toBe(0);
      expect(r.stdout, cmd).toMatch(/^Usage: ctxd /);
    }
    expect((await ctxd(['--help'])).stdout).toContain('Commands:');
  }, 120_000); // 17 CLI processes one after another; `serve`, `mcp` and `reindex` load the whole daemon

  it('creates, lists and revokes keys; the running daemon picks them up without a restart', async () => {
    const created = JSON.parse((await ctxd(['keys', 'create', '--json', '--tenant', 'acme', '--role', 'agent', '--data-dir', d.dataDir])).stdout);
    expect(created).toMatchObject({ kid: expect.stringMatching(/^k-/), tenant: 'acme', role: 'agent' });
    expect(created.secret).toMatch(/^[0-9a-f]{64}$/);
    const listed = (await ctxd(['keys', 'list', '--data-dir', d.dataDir])).stdout;
    expect(listed).toContain(`${created.kid}  tenant=acme  role=agent`);
    expect(listed).not.toContain(created.secret);
    const asAcme = { CTXD_PORT: String(d.port), CTXD_KEY_ID: created.kid, CTXD_KEY_SECRET: created.secret };
    let pong = await ctxd(['ping'], asAcme);
    for (let i = 0; i < 40 && pong.code !== 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      pong = await ctxd(['ping'], asAcme);
    }
    expect(pong.stdout).toContain('tenant acme, role agent');
    expect((await ctxd(['keys', 'revoke', created.kid, '--data-dir', d.dataDir])).stdout).toBe(`revoked ${created.kid}\n`);
    let refused = await ctxd(['ping'], asAcme);
    for (let i = 0; i < 40 && refused.code === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      refused = await ctxd(['ping'], asAcme);
    }
    expect(refused.stderr).toContain('UNKNOWN_KEY');
    const only = (await ctxd(['keys', 'list', '--json', '--data-dir', d.dataDir])).stdout;
    expect(await ctxd(['keys', 'revoke', JSON.parse(only)[0].kid, '--data-dir', d.dataDir])).toMatchObject({ code: 2, stderr: expect.stringContaining('last key') });
  });
});

describe('ctxd CLI: every op', () => {
  const flags = () => ['--port', String(d.port), '--data-dir', d.dataDir];

  it('takes global flags before or after the command', async () => {
    expect((await ctxd([...flags(), 'ping'])).code).toBe(0);
    expect((await ctxd(['ping', ...flags()])).code).toBe(0);
    expect((await ctxd(['--port', String(d.port), 'stats', '--json', '--data-dir', d.dataDir])).code).toBe(0);
    expect((await ctxd(['--port', String(d.port), 'frobnicate'])).code).toBe(2);
  });

  it('store-batch reads JSONL and plain lines, names refused lines, lists, updates, deletes where, clears', async () => {
    const input = ['batch plain one', '{"text":"batch json two","level":1,"session":"b1","tags":["x"]}', '', '{"text":"bad level","level":7}', 'batch plain three'].join('\n');
    const batch = await ctxd(['store-batch', ...flags()], {}, input);
    expect(batch.code).toBe(1);
    expect(batch.stdout).toBe('stored 3 of 4 (0 deduplicated)\nline 4: BAD_REQUEST: body.items.2.level must be equal to one of the allowed values\n');
    expect(batch.stderr).toContain('4/4');

    const all = JSON.parse((await ctxd(['list', '--all', '--limit', '1', '--json', ...flags()])).stdout);
    const texts = all.items.map((x: { text: string }) => x.text);
    expect(texts).toEqual(expect.arrayContaining(['batch plain one', 'batch json two', 'batch plain three']));
    expect(all.next_cursor).toBeNull();
    const page = JSON.parse((await ctxd(['list', '--limit', '1', '--json', ...flags()])).stdout);
    expect(page.items).toHaveLength(1);
    expect(page.next_cursor).toBe(page.items[0].id);

    const one = all.items.find((x: { text: string }) => x.text === 'batch plain one');
    const updated = JSON.parse((await ctxd(['update', one.id, '--text', 'batch plain one, corrected', '--meta', 'k=1', '--json', ...flags()])).stdout);
    expect(updated).toMatchObject({ id: one.id, text: 'batch plain one, corrected', metadata: { k: 1 }, version: 2 });
    expect((await ctxd(['update', one.id, ...flags()])).code).toBe(2);

    expect((await ctxd(['delete-where', '--session', 'b1', '--level', '1', ...flags()])).stdout).toBe('deleted 1 contexts\n');
    expect((await ctxd(['delete-where', ...flags()])).code).toBe(2);

    // No terminal to ask on: refused without --yes, nothing deleted.
    const refused = await ctxd(['clear', '--level', '3', ...flags()]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('pass --yes');
    const before = JSON.parse((await ctxd(['stats', '--json', ...flags()])).stdout).levels['3'];
    expect(before).toBeGreaterThan(0);
    expect((await ctxd(['clear', '--level', '3', '--yes', ...flags()])).stdout).toBe(`deleted ${before} contexts\n`);
    expect(JSON.parse((await ctxd(['stats', '--json', ...flags()])).stdout).levels['3']).toBe(0);
  });
});
