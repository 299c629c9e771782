/**
 * `npm run bench:syscalls`: how many socket-write syscalls the daemon makes per
 * answered request under bench section 1's ping load (50 connections × 16 in
 * flight by default), counted with `strace -f -c` attached to the daemon for a
 * window of the run, against the ping count its /metrics reports over the same
 * window. strace slows every syscall, so the req/s under it is lower than
 * section 1's; the ratio is what this measures. Needs strace (apt-get install strace).
 *
 *   npm run bench:syscalls                              3 runs, printed
 *   npm run bench:syscalls -- --conns=100 --inflight=1 --runs=5
 *   npm run bench:syscalls -- --root=/tmp/ctxd-old      another checkout's daemon too, alternating
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { keyFromDataDir } from '../src/client/index.ts';
import { BENCH_LIMITS, ROOT, STORE_BENCH_EMBEDDER, SERVER_CORE, loadgen, pinned, pinning, procCpuMs, tempDir } from './lib/processes.ts';
import { fmt, median, table } from './lib/report.ts';

const args = process.argv.slice(2);
const opt = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const RUNS = Number(opt('runs') ?? 3);
const CONNS = Number(opt('conns') ?? 50);
const INFLIGHT = Number(opt('inflight') ?? 16);
const WINDOW_MS = Number(opt('window') ?? 4000);
const ROOTS = [ROOT, ...args.filter((a) => a.startsWith('--root=')).map((a) => resolve(a.slice(7)))];
const WRITES = ['write', 'writev', 'sendmsg'];
/** Also measure without strace (it slows every syscall): write/read syscalls from /proc/PID/io, CPU from /proc/PID/stat. */
const log = (s: string) => process.stderr.write(`syscalls: ${s}\n`);

if (spawnSync('strace', ['-V']).status !== 0) throw new Error('strace is not installed (apt-get install -y strace)');

async function startDaemon(root: string) {
  const dir = tempDir('ctxd-syscalls-');
  const argv = [join(root, 'src/cli/main.ts'), 'serve', '--port', '0', '--http-port', '0', '--data-dir', dir, ...BENCH_LIMITS, ...STORE_BENCH_EMBEDDER];
  const [cmd, cargs] = pinned(SERVER_CORE, process.execPath, argv);
  const proc = spawn(cmd, cargs, { stdio: ['ignore', 'pipe', 'inherit'], cwd: root });
  const { port, http } = await new Promise<{ port: number; http: number }>((res, rej) => {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      try {
        const e = JSON.parse(line) as { msg: string; port: number; http_port: number };
        if (e.msg === 'listening') res({ port: e.port, http: e.http_port });
      } catch {
        // not a log line
      }
    });
    proc.once('exit', (code) => rej(new Error(`ctxd exited with ${code}`)));
  });
  const key = keyFromDataDir(dir)!;
  const pings = async (): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${http}/metrics`)).text();
    return Number(/ctxd_requests_total\{op="ping",outcome="ok"\} (\d+)/.exec(text)?.[1] ?? NaN);
  };
  const stop = () =>
    new Promise<void>((res) => {
      if (proc.exitCode !== null) return res();
      proc.once('exit', () => res());
      proc.kill('SIGTERM');
    });
  return { pid: proc.pid!, port, kid: key.kid, secretHex: key.secret.toString('hex'), pings, stop };
}

/** strace -c's summary: calls per syscall. */
function traceCounts(pid: number, ms: number): Promise<Map<string, number>> {
  return new Promise((res, rej) => {
    const st = spawn('strace', ['-f', '-c', '-e', 'trace=write,writev,sendmsg,epoll_wait,epoll_pwait,read', '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    st.stderr!.on('data', (d: Buffer) => (err += d));
    setTimeout(() => st.kill('SIGINT'), ms);
    st.once('exit', () => {
      const calls = new Map<string, number>();
      for (const line of err.split('\n')) {
        const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$/.exec(line);
        if (m) calls.set(m[2]!, Number(m[1]));
      }
      if (calls.size === 0) rej(new Error(`no strace summary:\n${err}`));
      else res(calls);
    });
  });
}

interface Run {
  requests: number;
  writes: number;
  reads: number;
  epoll: number;
  rps: number;
  /** The same window without strace: /proc counters. */
  plain: { requests: number; syscw: number; syscr: number; cpuMs: number; ms: number; rps: number; genCpu: number };
}

/** syscr/syscw of the whole process (every thread), and its CPU time in ms. */
function procCounters(pid: number): { syscr: number; syscw: number; cpuMs: number } {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  return { syscr: Number(/syscr: (\d+)/.exec(io)![1]), syscw: Number(/syscw: (\d+)/.exec(io)![1]), cpuMs: procCpuMs(pid) };
}

async function once(root: string): Promise<Run> {
  const d = await startDaemon(root);
  // First without strace: the daemon's own counters over a window of the load.
  const plainLoad = loadgen({ target: 'ctxd', op: 'ping', port: d.port, kid: d.kid, secretHex: d.secretHex, connections: CONNS, inflight: INFLIGHT, durationMs: WINDOW_MS + 3000, warmupMs: 500 });
  await new Promise((r) => setTimeout(r, 1500));
  const p0 = { ...procCounters(d.pid), pings: await d.pings(), t: performance.now() };
  await new Promise((r) => setTimeout(r, WINDOW_MS));
  const p1 = { ...procCounters(d.pid), pings: await d.pings(), t: performance.now() };
  const plainResult = await plainLoad;
  const plain = { requests: p1.pings - p0.pings, syscw: p1.syscw - p0.syscw, syscr: p1.syscr - p0.syscr, cpuMs: p1.cpuMs - p0.cpuMs, ms: p1.t - p0.t, rps: plainResult.rps, genCpu: plainResult.cpu_pct };
  const load = loadgen({ target: 'ctxd', op: 'ping', port: d.port, kid: d.kid, secretHex: d.secretHex, connections: CONNS, inflight: INFLIGHT, durationMs: WINDOW_MS + 3000, warmupMs: 500 });
  await new Promise((r) => setTimeout(r, 1500));
  const before = await d.pings();
  const calls = await traceCounts(d.pid, WINDOW_MS);
  const after = await d.pings();
  const result = await load;
  await d.stop();
  const n = (name: string) => calls.get(name) ?? 0;
  // The two /metrics scrapes are outside the window's writes but inside its count: two answers, no matter.
  return { requests: after - before, writes: WRITES.reduce((s, w) => s + n(w), 0), reads: n('read'), epoll: n('epoll_wait') + n('epoll_pwait'), rps: result.rps, plain };
}

const results = new Map<string, Run[]>(ROOTS.map((r) => [r, []]));
for (let i = 0; i < RUNS; i++) {
  for (const root of ROOTS) {
    const r = await once(root);
    results.get(root)!.push(r);
    log(`${root} run ${i + 1}: strace: ${r.requests} pings, ${r.writes} writes (${fmt(r.writes / r.requests, 3)}/request), ${r.reads} reads, ${r.epoll} epoll waits, ${fmt(r.rps)} req/s; ` +
      `without: ${fmt(r.plain.rps)} req/s, ${fmt(r.plain.syscw / r.plain.requests, 3)} write syscalls/request, daemon CPU ${fmt((100 * r.plain.cpuMs) / r.plain.ms, 0)} % = ${fmt((1000 * r.plain.cpuMs) / r.plain.requests, 1)} µs/request, generator CPU ${fmt(r.plain.genCpu, 0)} %`);
  }
}
const rows = [...results].map(([root, runs]) => {
  const m = (f: (r: Run) => number, d = 3) => fmt(median(runs.map(f)), d);
  return [
    root === ROOT ? 'this checkout' : root,
    m((r) => r.writes / r.requests),
    runs.map((r) => fmt(r.writes / r.requests, 3)).join(', '),
    m((r) => r.reads / r.requests),
    m((r) => r.epoll / r.requests),
    m((r) => r.requests / r.writes, 1),
    m((r) => r.rps, 0),
    m((r) => r.plain.syscw / r.plain.requests),
    m((r) => r.plain.rps, 0),
    m((r) => (100 * r.plain.cpuMs) / r.plain.ms, 0),
    m((r) => (1000 * r.plain.cpuMs) / r.plain.requests, 1),
    m((r) => r.plain.genCpu, 0),
  ];
});
process.stdout.write(`# Syscalls per answered ping, ${CONNS} connections × ${INFLIGHT} in flight

${new Date().toISOString()}; ${pinning}; strace -f -c on the daemon for ${WINDOW_MS / 1000} s of each run; medians of ${RUNS} runs.

Under strace (write, writev, sendmsg, read, epoll_wait/epoll_pwait of every thread):

${table(['daemon', 'writes per request', 'per run', 'reads per request', 'epoll waits per request', 'answers per write', 'req/s (under strace)', 'write syscalls per request, no strace (/proc/PID/io syscw)', 'req/s, no strace', 'daemon CPU %', 'daemon CPU µs per request', 'generator CPU %'], rows)}

The columns after "req/s (under strace)" are from the same run's first window, without strace: syscw counts every
write-type syscall of the process (the writer thread's and the logger's too), daemon CPU is utime+stime from /proc/PID/stat.

`);
