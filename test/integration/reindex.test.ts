/**
 * Switching embedders on an existing data dir (PROTOCOL.md §5.1): the daemon
 * refuses to mix vector spaces with a one-line message naming both, and
 * `ctxd reindex` re-embeds with a progress bar, survives kill -9 mid-run and
 * resumes, losing nothing.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { ctxd } from '../helpers/cli.ts';
import { CLI, REPO_ROOT, startDaemon, stopAll, tempDataDir } from '../helpers/daemon.ts';
import { UNRELATED_CONTEXTS } from '../fixtures/unrelated-contexts.ts';

afterAll(stopAll);

const COUNT = 480;
const AUTOMOBILE = 'My automobile needs new tires before the winter trip.';

describe('switching embedders', () => {
  it('refuses vectors of another embedder, then reindex (killed mid-run, run again) moves every context over', async () => {
    const dataDir = tempDataDir();
    // 1. A data dir made with the hash embedder.
    const hashed = await startDaemon({ dataDir });
    const c = await hashed.client();
    const texts = [AUTOMOBILE, ...Array.from({ length: COUNT - 1 }, (_, i) => `${UNRELATED_CONTEXTS[i % UNRELATED_CONTEXTS.length]} (note ${i})`)];
    for (let at = 0; at < texts.length; at += 100) await c.storeBatch(texts.slice(at, at + 100).map((text) => ({ text, level: 3 })));
    expect((await c.stats()).total).toBe(COUNT);
    expect(await hashed.stop()).toBe(0);

    // 2. The default embedder on it: refused, one line, both embedders and the fix named, exit 2.
    const refused = await ctxd(['serve', '--port', '0', '--http-port', '0', '--data-dir', dataDir]);
    expect(refused.code).toBe(2);
    const line = refused.stderr.trim();
    expect(line.split('\n')).toHaveLength(1);
    expect(line).toContain(`${COUNT} contexts embedded by hash:feature-hash-v1:384`);
    expect(line).toContain('local:universal-sentence-encoder-lite:512');
    expect(line).toContain('ctxd reindex');

    // 3. reindex, killed with SIGKILL once a few batches are committed.
    const child = spawn(process.execPath, [CLI, 'reindex', '--data-dir', dataDir, '--batch', '16'], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<NodeJS.Signals | null>((res) => child.once('exit', (_code, signal) => res(signal)));
    await new Promise<void>((res) => {
      createInterface({ input: child.stderr! }).on('line', (l) => {
        const m = /\] (\d+)\/(\d+)$/.exec(l);
        if (m && Number(m[1]) >= 48) res();
      });
    });
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    // Still refused: some vectors are still hash ones.
    const stillRefused = await ctxd(['serve', '--port', '0', '--http-port', '0', '--data-dir', dataDir]);
    expect(stillRefused.code).toBe(2);
    const left = Number(/holds (\d+) contexts/.exec(stillRefused.stderr)![1]);
    expect(left).toBeLessThan(COUNT);
    expect(left).toBeGreaterThan(0);

    // 4. Run again: it resumes with what is left, and finishes.
    const resumed = await ctxd(['reindex', '--data-dir', dataDir, '--json']);
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ reindexed: left, embedder: 'local:universal-sentence-encoder-lite:512' });
    expect(resumed.stderr).toContain(`${left}/${left}`);

    // 5. The daemon starts on it with the default embedder; nothing was lost, and meaning works.
    const local = await startDaemon({ dataDir, env: { CTXD_EMBEDDER_KIND: 'local' } });
    const lc = await local.client();
    expect((await lc.stats()).total).toBe(COUNT);
    const r = await lc.retrieve({ query: 'car maintenance' });
    expect(r.contexts[0]!.text).toBe(AUTOMOBILE);
  }, 180_000);
});
