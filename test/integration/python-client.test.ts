/**
 * The Python client package (clients/python) against a real daemon: installs it
 * into a fresh venv the way its README says (Debian's python3, no network), then
 * runs its unittest suite (clients/python/tests) against a daemon started here.
 * Skipped, with the reason printed, when Debian's python3 lacks msgpack, venv or
 * wheel (.ci/run installs them when it can).
 */
import { execFile, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, removeDir, startDaemon, stopAll, type RunningDaemon } from '../helpers/daemon.ts';

/** Debian's interpreter: python3-msgpack and python3-venv install into it. */
const PYTHON = '/usr/bin/python3';
const PACKAGE = join(REPO_ROOT, 'clients', 'python');
/** msgpack at run time; venv + ensurepip for the venv; wheel for setuptools' bdist_wheel without build isolation. */
const NEEDED_MODULES = ['msgpack', 'venv', 'ensurepip', 'wheel'];

function whyNoPython(): string | undefined {
  if (!existsSync(PYTHON)) return `${PYTHON} does not exist`;
  const probe = `import importlib.util as u; print(" ".join(m for m in ${JSON.stringify(NEEDED_MODULES)} if u.find_spec(m) is None))`;
  const r = spawnSync(PYTHON, ['-c', probe], { encoding: 'utf8', timeout: 30_000 });
  if (r.error || r.status !== 0) return `${PYTHON} does not run: ${r.error?.message ?? r.stderr.trim()}`;
  const missing = r.stdout.trim();
  return missing ? `${PYTHON} cannot import ${missing.split(' ').join(', ')} (apt-get install python3-msgpack python3-venv python3-wheel)` : undefined;
}

interface Run {
  code: number;
  output: string;
}

/** Runs a command to its end; never rejects. The environment is only what is given (no pip config, no user site). */
function run(cmd: string, args: string[], env: Record<string, string> = {}, timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      {
        cwd: REPO_ROOT,
        timeout: timeoutMs,
        maxBuffer: 32 * 1024 * 1024,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', PIP_CONFIG_FILE: '/dev/null', PYTHONNOUSERSITE: '1', PYTHONDONTWRITEBYTECODE: '1', ...env },
      },
      (err, stdout, stderr) => {
        // An exit code, or 1 with the reason when the command could not run or was killed by the timeout.
        const exit = (err as { code?: unknown } | null)?.code;
        const code = !err ? 0 : typeof exit === 'number' ? exit : 1;
        resolve({ code, output: `${stdout}${stderr}${err && typeof exit !== 'number' ? `\n${err.message}` : ''}` });
      },
    );
  });
}

const reason = whyNoPython();
if (reason) console.warn(`test/integration/python-client.test.ts skips: ${reason}`);

describe('Python client package (clients/python)', () => {
  if (reason) {
    it.skip(`runs its unittest suite against a real daemon (skipped: ${reason})`, () => {});
    return;
  }

  let work: string;
  let venvPython: string;
  let d: RunningDaemon;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'ctxd-py-'));
    // Built from a copy, so that setuptools' build/ and *.egg-info never land in the work tree.
    const source = join(work, 'src');
    cpSync(PACKAGE, source, { recursive: true, filter: (p) => !/(^|\/)(build|dist|__pycache__|[^/]*\.egg-info|tests)$/.test(p.slice(PACKAGE.length)) });
    const venv = join(work, 'venv');
    const steps: Array<[string, string[]]> = [
      [PYTHON, ['-m', 'venv', '--system-site-packages', venv]],
      [join(venv, 'bin', 'pip'), ['install', '--no-build-isolation', '--no-index', '--disable-pip-version-check', '--no-input', source]],
    ];
    const [, started] = await Promise.all([
      (async () => {
        for (const [cmd, args] of steps) {
          const r = await run(cmd, args);
          if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.output}`);
        }
      })(),
      startDaemon({ args: ['--set', 'debug.enable_ops=true'] }),
    ]);
    d = started;
    venvPython = join(venv, 'bin', 'python');
  }, 180_000);

  afterAll(async () => {
    await stopAll();
    if (d) removeDir(d.dataDir);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('is installed from the venv, not from the work tree', async () => {
    const r = await run(venvPython, ['-c', 'import ctxd, msgpack; print(ctxd.__version__, ctxd.__file__)']);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/^0\.1\.0 .*site-packages\/ctxd\/__init__\.py/);
  });

  it('passes its unittest suite against a real daemon', async () => {
    const started = Date.now();
    const r = await run(venvPython, ['-m', 'unittest', 'discover', '-s', join('clients', 'python', 'tests'), '-v'], {
      CTXD_TEST_HOST: '127.0.0.1',
      CTXD_TEST_PORT: String(d.port),
      CTXD_TEST_DATA_DIR: d.dataDir,
      CTXD_TEST_DAEMON_PID: String(d.proc.pid),
      CTXD_TEST_REQUIRE_DAEMON: '1',
      PYTHONUNBUFFERED: '1',
    });
    // unittest's own summary, e.g. "Ran 70 tests in 3.1s" and "OK (skipped=1)".
    const summary = r.output.trim().split('\n').slice(-3).join(' ').replace(/-{10,}/g, '').trim();
    console.log(`python unittest (${Date.now() - started} ms): ${summary}`);
    expect(r.code, `python -m unittest failed:\n${r.output}`).toBe(0);
    expect(r.output).toMatch(/\nOK\b/);
    expect(r.output).not.toMatch(/Ran 0 tests/);
  }, 120_000);
});
