/**
 * Alerting and dashboards against a real Prometheus (Debian's `prometheus`
 * package, which .ci/run installs): the rules pass `promtool check rules` and
 * their unit tests, a real Prometheus scrapes a real daemon and answers
 * queries for its series with the rules loaded, and the Grafana dashboard
 * names only metrics the daemon exports. Skipped, saying why, only where the
 * package is not installed.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, startDaemon, stopAll, tempDataDir } from '../helpers/daemon.ts';

const MONITORING = join(REPO_ROOT, 'k8s', 'monitoring');
const hasPromtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
const hasPrometheus = spawnSync('prometheus', ['--version'], { stdio: 'ignore' }).status === 0;
if (!hasPromtool || !hasPrometheus) console.warn('prometheus.test.ts: Debian\'s prometheus package (promtool, prometheus) is not installed: apt-get install prometheus; the alerting tests skip');

const run = promisify(execFile);
let prometheus: ChildProcess | undefined;
afterAll(async () => {
  prometheus?.kill('SIGTERM');
  await stopAll();
});

/** A port free now (Prometheus cannot report the port it picked for :0). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.once('error', reject);
  });
}

/** The metric names a PromQL expression mentions (ctxd_* and process_*), histogram suffixes folded. */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b((?:ctxd|process)_[a-z0-9_]+)/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, ''));
}

describe.skipIf(!hasPromtool || !hasPrometheus)('alerting against real Prometheus', () => {
  it('the rules pass promtool check and their unit tests', async () => {
    const check = await run('promtool', ['check', 'rules', 'ctxd-rules.yml'], { cwd: MONITORING });
    expect(check.stdout).toContain('SUCCESS: 10 rules found');
    const test = await run('promtool', ['test', 'rules', 'ctxd-rules.test.yml'], { cwd: MONITORING });
    expect(test.stdout).toContain('SUCCESS');
  });

  it('a real Prometheus scrapes a real daemon, with the rules loaded', async () => {
    const d = await startDaemon();
    const c = await d.client();
    await c.store({ text: 'scraped by prometheus', level: 3 });
    await c.close();
    const dir = tempDataDir();
    const port = await freePort();
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global: { scrape_interval: 1s, evaluation_interval: 1s }\nrule_files: ['${join(MONITORING, 'ctxd-rules.yml')}']\n` +
        `scrape_configs:\n  - job_name: ctxd\n    static_configs: [{ targets: ['127.0.0.1:${d.httpPort}'] }]\n`,
    );
    prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
    const api = async (path: string) => (await (await fetch(`http://127.0.0.1:${port}/api/v1/${path}`)).json()) as { status: string; data: { result?: Array<{ metric: Record<string, string>; value: [number, string] }>; groups?: Array<{ rules: Array<{ name: string; health: string }> }> } };
    // Waits for the state (a scrape landed), not for a time.
    const deadline = Date.now() + 60_000;
    let result: Array<{ metric: Record<string, string>; value: [number, string] }> = [];
    while (Date.now() < deadline) {
      try {
        result = (await api(`query?query=${encodeURIComponent('ctxd_requests_total{op="store",outcome="ok"}')}`)).data.result ?? [];
        if (result.length > 0) break;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(result).toEqual([expect.objectContaining({ metric: expect.objectContaining({ job: 'ctxd', op: 'store', outcome: 'ok' }), value: [expect.any(Number), '1'] })]);
    const ready = await api(`query?query=${encodeURIComponent('ctxd_ready')}`);
    expect(ready.data.result?.[0]?.value[1]).toBe('1');
    const rules = await api('rules');
    const loaded = rules.data.groups!.flatMap((g) => g.rules);
    expect(loaded.map((r) => r.name)).toContain('CtxdNotReady');
    expect(loaded.every((r) => r.health !== 'err')).toBe(true);
  }, 90_000);
});

describe('dashboard and rules name only exported metrics', () => {
  it('every metric in the Grafana dashboard and the alert rules is one the daemon exports', async () => {
    const d = await startDaemon();
    const exported = new Set(
      (await d.http('/metrics')).text
        .split('\n')
        .filter((l) => l.startsWith('# TYPE '))
        .map((l) => l.split(' ')[2]!),
    );
    const dashboard = JSON.parse(readFileSync(join(MONITORING, 'ctxd-dashboard.json'), 'utf8')) as { panels: Array<{ targets: Array<{ expr: string }> }> };
    const fromDashboard = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => metricNames(t.expr)));
    const fromRules = metricNames(readFileSync(join(MONITORING, 'ctxd-rules.yml'), 'utf8').split('\n').filter((l) => !l.trim().startsWith('#') && !l.includes('summary:') && !l.includes('description:')).join('\n'));
    expect(fromDashboard.length).toBeGreaterThan(10);
    for (const name of new Set([...fromDashboard, ...fromRules])) expect(exported, name).toContain(name);
  });
});
