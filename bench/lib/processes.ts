/**
 * Processes the benchmark runs: Redis and ctxd pinned to core 0, the load
 * generator pinned to core 1 (`taskset`), each a separate process.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { keyFromDataDir } from '../../src/client/index.ts';
import type { LoadResult, LoadSpec } from '../loadgen.ts';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const SERVER_CORE = '0';
export const LOADGEN_CORE = '1';
const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

export function pinned(core: string, cmd: string, args: string[]): [string, string[]] {
  return hasTaskset ? ['taskset', ['-c', core, cmd, ...args]] : [cmd, args];
}

export const pinning = hasTaskset ? `server on core ${SERVER_CORE}, load generator on core ${LOADGEN_CORE} (taskset)` : 'no taskset: processes not pinned';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Finds redis-server, installing Debian's package when running as root; null (with why) when it cannot. */
export function findRedis(): { path: string; version: string } | { missing: string } {
  let which = spawnSync('sh', ['-c', 'command -v redis-server']);
  if (which.status !== 0 && process.getuid?.() === 0) {
    process.stderr.write('bench: redis-server not found; installing Debian package redis-server\n');
    spawnSync('sh', ['-c', 'apt-get update -q >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null 2>&1']);
    which = spawnSync('sh', ['-c', 'command -v redis-server']);
  }
  if (which.status !== 0) return { missing: 'redis-server is not installed and could not be installed (needs root and Debian apt)' };
  const path = which.stdout.toString().trim();
  const version = /v=(\S+)/.exec(spawnSync(path, ['--version']).stdout.toString())?.[1] ?? '?';
  return { path, version };
}

export interface Running {
  readonly proc: ChildProcess;
  readonly port: number;
  stop(): Promise<void>;
}

function stopper(proc: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((res) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return res();
      proc.once('exit', () => res());
      proc.kill('SIGTERM');
      setTimeout(() => proc.kill('SIGKILL'), 20_000).unref();
    });
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = createConnection({ port, host: '127.0.0.1' }, () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}

let nextRedisPort = 16379;

export async function startRedis(path: string, durable: boolean): Promise<Running> {
  const port = nextRedisPort++;
  const dir = tempDir('ctxd-bench-redis-');
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, ...(durable ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'])];
  const [cmd, argv] = pinned(SERVER_CORE, path, args);
  const proc = spawn(cmd, argv, { stdio: 'ignore' });
  await waitForPort(port);
  return { proc, port, stop: stopper(proc) };
}

export interface RunningCtxd extends Running {
  readonly dataDir: string;
  readonly kid: string;
  readonly secretHex: string;
  readonly startMs: number;
  /** When `waitForLog` was given: ms from spawn to that log line (e.g. the ANN graphs built after the load). */
  readonly readyMs: number | null;
  /** The /metrics and probe port. */
  readonly httpPort: number;
  /** Every log line so far (JSON), the stop's included once it has resolved. */
  readonly logs: ReadonlyArray<Record<string, unknown>>;
  rssBytes(): number;
  /** VmHWM: the most RSS the process has held since it started. */
  peakRssBytes(): number;
  /** CPU time (user + system, every thread) the process has used, ms. */
  cpuMs(): number;
  /** Requests of `op` answered ok so far (`ctxd_requests_total` on /metrics). */
  answered(op: string): Promise<number>;
  /** A metric without labels from /metrics (e.g. `ctxd_store_commit_groups_total`); NaN when absent. */
  metric(name: string): Promise<number>;
}

/**
 * The load generator drives one key far past the default per-key rate limit
 * (5,000 requests/s, server.rate_limit_rps), which exists to stop one agent
 * flooding a shared daemon: benchmarks measure the server, so they turn it off,
 * and let one key hold enough replay ids for ~80k requests/s over the 60–90 s
 * window (the default 500,000 per key fits the default rate limit).
 */
export const BENCH_LIMITS = ['--set', 'server.rate_limit_rps=0', '--set', 'protocol.replay_max_ids_per_key=10000000'];

/**
 * These benchmarks measure the protocol, the store and the index, so they run
 * the hash embedder: the default sentence encoder (~150 texts/s on one core)
 * would measure the model instead. bench/embedder.ts measures the default.
 */
export const STORE_BENCH_EMBEDDER = ['--set', 'embedder.kind=hash'];

/**
 * Node flags the daemon runs with in its image (Dockerfile ENTRYPOINT, `npm start`): a small young generation, so
 * each scavenge is short (PRODUCTION.md "Memory and GC"). The benchmarks run the daemon as shipped.
 */
export const DAEMON_NODE_FLAGS = ['--max-semi-space-size=4'];

export interface StartCtxdOptions {
  /** Pin to SERVER_CORE (default true); bench/embedder.ts lets the model thread use both cores. */
  readonly pin?: boolean;
  /** Run the hash embedder (default true); false: the default embedder. */
  readonly hashEmbedder?: boolean;
  /** Resolve only once the daemon logged this `msg` (or a line it accepts) too, timing it as `readyMs`. */
  readonly waitForLog?: string | ((line: Record<string, unknown>) => boolean);
}

export async function startCtxd(dataDir: string, extra: string[] = [], opts: StartCtxdOptions = {}): Promise<RunningCtxd> {
  const t0 = performance.now();
  const args = [...DAEMON_NODE_FLAGS, join(ROOT, 'src/cli/main.ts'), 'serve', '--port', '0', '--http-port', '0', '--data-dir', dataDir, ...BENCH_LIMITS, ...(opts.hashEmbedder === false ? [] : STORE_BENCH_EMBEDDER), ...extra];
  const [cmd, argv] = opts.pin === false ? [process.execPath, args] : pinned(SERVER_CORE, process.execPath, args);
  const proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  let readyMs: number | null = null;
  let listeningMs = 0;
  let httpPort = 0;
  const logs: Array<Record<string, unknown>> = [];
  const wanted = opts.waitForLog;
  const isWanted = typeof wanted === 'string' ? (e: Record<string, unknown>) => e.msg === wanted : wanted;
  const port = await new Promise<number>((res, rej) => {
    let listening: number | null = null;
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      try {
        const e = JSON.parse(line) as { msg: string; port: number; http_port: number };
        logs.push(e);
        if (e.msg === 'listening') {
          listening = e.port;
          httpPort = e.http_port;
          listeningMs = performance.now() - t0;
        }
        if (readyMs === null && isWanted?.(e)) readyMs = performance.now() - t0;
        if (listening !== null && (!isWanted || readyMs !== null)) res(listening);
      } catch {
        // not a log line
      }
    });
    proc.once('exit', (code) => rej(new Error(`ctxd exited with ${code}`)));
  });
  const key = keyFromDataDir(dataDir)!;
  return {
    proc,
    port,
    dataDir,
    kid: key.kid,
    secretHex: key.secret.toString('hex'),
    startMs: listeningMs,
    readyMs,
    httpPort,
    logs,
    stop: stopper(proc),
    // The daemon is the node process itself (taskset execs it), so its pid is proc.pid.
    rssBytes: () => procStatusBytes(proc.pid!, 'VmRSS'),
    peakRssBytes: () => procStatusBytes(proc.pid!, 'VmHWM'),
    cpuMs: () => procCpuMs(proc.pid!),
    answered: (op) => readMetric(httpPort, `ctxd_requests_total{op="${op}",outcome="ok"}`),
    metric: (name) => readMetric(httpPort, name),
  };
}

/** One sample of the daemon's /metrics, by its name and labels as printed (`name` or `name{label="value"}`); NaN when absent. */
async function readMetric(httpPort: number, series: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? NaN : Number(line.slice(series.length + 1));
}

/** Clock ticks are 10 ms on Linux (USER_HZ 100). */
const TICK_MS = 10;

/** utime + stime of every thread of `pid`, ms (/proc/PID/stat fields 14 and 15). */
export function procCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

function procStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)![1]) * 1024;
}

export function loadgen(spec: LoadSpec, opts: { pin?: boolean } = {}): Promise<LoadResult> {
  const args = [join(ROOT, 'bench/loadgen.ts'), JSON.stringify(spec)];
  const [cmd, argv] = opts.pin === false ? [process.execPath, args] : pinned(LOADGEN_CORE, process.execPath, args);
  return new Promise((res, rej) => {
    const p = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout!.on('data', (d: Buffer) => (out += d));
    p.once('exit', (code) => (code === 0 ? res(JSON.parse(out) as LoadResult) : rej(new Error(`loadgen exited with ${code}`))));
  });
}

export function runNode(script: string, args: string[]): Promise<string> {
  const [cmd, argv] = pinned(SERVER_CORE, process.execPath, [join(ROOT, script), ...args]);
  return new Promise((res, rej) => {
    const p = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout!.on('data', (d: Buffer) => (out += d));
    p.once('exit', (code) => (code === 0 ? res(out) : rej(new Error(`${script} exited with ${code}`))));
  });
}
