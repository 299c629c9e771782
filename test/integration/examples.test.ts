/** The examples keep working: each runs through its npm script against a real daemon. */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, startDaemon, stopAll, tempDataDir, type RunningDaemon } from '../helpers/daemon.ts';

let d: RunningDaemon;
beforeAll(async () => {
  d = await startDaemon();
});
afterAll(stopAll);

function npmRun(script: string, args: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'npm',
      ['run', '--silent', script, ...(args.length ? ['--', ...args] : [])],
      { cwd: REPO_ROOT, env: { ...process.env, CTXD_PORT: String(d.port), CTXD_DATA_DIR: d.dataDir }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('examples', () => {
  it('agent loop: turns in L1, notes in L2, facts in L3, prompts built under a budget', async () => {
    const r = await npmRun('example:agent');
    expect(r.code).toBe(0);
    const prompts = r.stdout.split('--- prompt ').slice(1);
    expect(prompts).toHaveLength(3);
    for (const p of prompts) {
      const [, used, budget] = /\((\d+)\/(\d+) context tokens/.exec(p)!;
      expect(Number(used)).toBeLessThanOrEqual(Number(budget));
    }
    expect(prompts[0]).toContain('[L3');
    expect(prompts[0]).toContain('PostgreSQL');
    expect(prompts[2]).toContain('never deploy on Fridays');
    expect(prompts[2]).toMatch(/\[L1 [\d.]+\] User: we deployed/);
    expect(prompts[2]).toMatch(/\[L2 [\d.]+\] Note from turn/);
    expect(r.stdout).toMatch(/done: session demo-\w+; tenant holds L1 3, L2 3, L3 3/);
  });

  it('folder import: every text file into L3 with a progress bar', async () => {
    const dir = join(tempDataDir(), 'docs');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    for (let i = 0; i < 250; i++) writeFileSync(join(dir, i % 2 ? 'sub' : '', `note-${i}.md`), `Note ${i}: the ${['red', 'green', 'blue'][i % 3]} service owns queue ${i}.`);
    writeFileSync(join(dir, 'image.png'), 'not text');
    const r = await npmRun('example:import', [dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('imported 250 files: 250 stored, 0 deduplicated, 0 failed');
    expect(r.stderr).toContain('[##############################] 250/250');
    const c = await d.client();
    const hit = await c.retrieve({ query: 'service owns queue 117', levels: [3], max_tokens: 30 });
    expect(hit.contexts[0]!.metadata.path).toBe('sub/note-117.md');
    await c.close();
  });
});
