/**
 * The Python client package (clients/python) against a real daemon: installs it
 * into a fresh venv the way its README says (Debian's python3, no network), then
 * runs its unittest suite (clients/python/tests) against a daemon started here,
 * and its TLS tests (tests/test_tls.py) against two more: one with mTLS mapping
 * client certificates to tenants, one whose certificate has expired, with
 * certificates made here by test/helpers/certs.ts.
 * Skipped, with the reason printed, when Debian's python3 lacks msgpack, venv or
 * wheel (.ci/run installs them when it can); the TLS tests alone are skipped
 * when there is no openssl command to make certificates with.
 */
import { execFile, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePki } from '../helpers/certs.ts';
import { REPO_ROOT, removeDir, startDaemon, stopAll, tempDataDir, type RunningDaemon } from '../helpers/daemon.ts';
import { makeKey, writeKeys } from '../helpers/tenants.ts';

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

/** test/helpers/certs.ts makes certificates with the openssl command. */
function whyNoOpenssl(): string | undefined {
  const r = spawnSync('openssl', ['version'], { encoding: 'utf8', timeout: 30_000 });
  return r.error || r.status !== 0 ? `no openssl command to make test certificates with: ${r.error?.message ?? r.stderr.trim()}` : undefined;
}

const tlsFlags = (settings: Record<string, string>) => Object.entries(settings).flatMap(([k, v]) => ['--set', `tls.${k}=${v}`]);

interface TlsDaemons {
  /** CTXD_TEST_TLS_* for clients/python/tests/test_tls.py. */
  readonly env: Record<string, string>;
  /** Certificates and data dirs to remove afterwards. */
  readonly dirs: string[];
}

/**
 * A daemon with mTLS (client_auth tenant; its keyring: the admin key of tenant
 * "default", an agent key of tenant "other") and one serving an expired
 * certificate (client_auth none), both with certificates of one test CA.
 */
async function startTlsDaemons(): Promise<TlsDaemons> {
  const pki = makePki();
  const mine = pki.client('default');
  const other = pki.client('other');
  const stranger = pki.strangerClient();
  const dataDir = tempDataDir();
  writeKeys(dataDir, [makeKey('default', 'admin', 'admin-key'), makeKey('other', 'agent', 'agent-other')]);
  const [mtls, expired] = await Promise.all([
    startDaemon({ dataDir, args: tlsFlags({ cert_file: pki.serverCert, key_file: pki.serverKey, ca_file: pki.caCert, client_auth: 'tenant' }) }),
    // certs.ts writes the expired certificate's key next to it.
    startDaemon({ args: tlsFlags({ cert_file: pki.expiredCert, key_file: join(pki.dir, 'expired.key'), client_auth: 'none' }) }),
  ]);
  return {
    dirs: [pki.dir, dataDir, expired.dataDir],
    env: {
      CTXD_TEST_TLS_PORT: String(mtls.port),
      CTXD_TEST_TLS_DATA_DIR: dataDir,
      CTXD_TEST_TLS_CA: pki.caCert,
      CTXD_TEST_TLS_SERVER_CERT: pki.serverCert,
      CTXD_TEST_TLS_SERVER_KEY: pki.serverKey,
      CTXD_TEST_TLS_CLIENT_CERT: mine.cert,
      CTXD_TEST_TLS_CLIENT_KEY: mine.key,
      CTXD_TEST_TLS_OTHER_CERT: other.cert,
      CTXD_TEST_TLS_OTHER_KEY: other.key,
      CTXD_TEST_TLS_STRANGER_CERT: stranger.cert,
      CTXD_TEST_TLS_STRANGER_KEY: stranger.key,
      CTXD_TEST_TLS_OTHER_CA: pki.otherCaCert,
      CTXD_TEST_TLS_EXPIRED_PORT: String(expired.port),
      CTXD_TEST_REQUIRE_TLS: '1',
    },
  };
}

describe('Python client package (clients/python)', () => {
  if (reason) {
    it.skip(`runs its unittest suite against a real daemon (skipped: ${reason})`, () => {});
    return;
  }

  let work: string;
  let venvPython: string;
  let d: RunningDaemon;
  let tls: TlsDaemons | undefined;

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
    const noOpenssl = whyNoOpenssl();
    if (noOpenssl) console.warn(`test/integration/python-client.test.ts skips the TLS tests: ${noOpenssl}`);
    const [, started, tlsStarted] = await Promise.all([
      (async () => {
        for (const [cmd, args] of steps) {
          const r = await run(cmd, args);
          if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.output}`);
        }
      })(),
      startDaemon({ args: ['--set', 'debug.enable_ops=true'] }),
      noOpenssl ? undefined : startTlsDaemons(),
    ]);
    d = started;
    tls = tlsStarted;
    venvPython = join(venv, 'bin', 'python');
  }, 180_000);

  afterAll(async () => {
    await stopAll();
    if (d) removeDir(d.dataDir);
    for (const dir of tls?.dirs ?? []) removeDir(dir);
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
      ...tls?.env,
      PYTHONUNBUFFERED: '1',
    });
    // unittest's own summary, e.g. "Ran 70 tests in 3.1s" and "OK (skipped=1)".
    const summary = r.output.trim().split('\n').slice(-3).join(' ').replace(/-{10,}/g, '').trim();
    console.log(`python unittest (${Date.now() - started} ms): ${summary}`);
    expect(r.code, `python -m unittest failed:\n${r.output}`).toBe(0);
    expect(r.output).toMatch(/\nOK\b/);
    expect(r.output).not.toMatch(/Ran 0 tests/);
    // With certificates made, the TLS tests ran rather than skipped.
    if (tls) expect(r.output).toMatch(/test_an_expired_server_certificate_is_refused \(test_tls\.RefusalTest[^)]*\) \.\.\. ok/);
  }, 120_000);
});
