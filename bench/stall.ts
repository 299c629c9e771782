/**
 * `npm run bench:stall`: how long the daemon's event loop stops during a big
 * `store_batch`, and what a concurrent ping sees (bench section 5's load, with
 * the daemon's own event-loop delay measured inside it).
 *
 * Each run starts a fresh daemon (pinned to core 0) with bench/lib/loop-probe.ts
 * preloaded, measures ping on the idle daemon (1 connection, 1 in flight), stores
 * one batch of 1,000 × 2 KB texts to warm it up (the first loads the tokenizer), then
 * ping again while another connection sends `store_batch` of 1,000 × 2 KB texts
 * back to back (both generators on core 1), and reads the daemon's
 * monitorEventLoopDelay max over the whole busy phase. Medians of the runs.
 *
 *   npm run bench:stall                          3 runs, writes bench/stall.md
 *   npm run bench:stall -- --runs=5 --duration=5000
 *   npm run bench:stall -- --root=/tmp/ctxd-old  another checkout's daemon too (e.g. `git archive` of an
 *                                                 older commit with node_modules linked), alternating run
 *                                                 by run (A/B on the same machine)
 *   npm run bench:stall -- --cpu-prof=/tmp/prof    V8 CPU profiles of the daemons, printed only
 *   npm run bench:stall -- --node-args=--single-threaded-gc   flags for the daemons' node, printed only
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { CtxdClient, keyFromDataDir } from '../src/client/index.ts';
import type { LoadResult } from './loadgen.ts';
import { BENCH_LIMITS, DAEMON_NODE_FLAGS, ROOT, STORE_BENCH_EMBEDDER, SERVER_CORE, loadgen, pinned, pinning, tempDir } from './lib/processes.ts';
import { fmt, median, table } from './lib/report.ts';
import { englishLike } from './lib/texts.ts';

const args = process.argv.slice(2);
const opt = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const RUNS = Number(opt('runs') ?? 3);
const DURATION = Number(opt('duration') ?? 5000);
const ROOTS = [ROOT, ...args.filter((a) => a.startsWith('--root=')).map((a) => resolve(a.slice(7)))];
const PROBE = join(ROOT, 'bench/lib/loop-probe.ts');
/** `--cpu-prof=DIR`: each daemon writes a V8 CPU profile there when it stops. */
const PROF = opt('cpu-prof');
/** `--node-args=--a,--b`: V8/Node flags for the daemons (e.g. --single-threaded-gc); printed only. */
const NODE_ARGS = opt('node-args')?.split(',') ?? [];
const log = (s: string) => process.stderr.write(`stall: ${s}\n`);

interface Loop {
  /** The longest main-thread garbage collection, its kind, and how many took over 20 ms. */
  gc: { max_ms: number; kind: string; over_20ms: number };
  max_ms: number;
  p99_ms: number;
  p999_ms: number;
  mean_ms: number;
  count: number;
}

interface Daemon {
  port: number;
  /** Durations (ms) of the store_batch requests answered so far, from the daemon's log. */
  batches: number[];
  kid: string;
  secretHex: string;
  loop(): Promise<Loop>;
  stop(): Promise<void>;
}

async function startDaemon(root: string): Promise<Daemon> {
  const dir = tempDir('ctxd-stall-');
  const batches: number[] = [];
  const argv = [...DAEMON_NODE_FLAGS, ...NODE_ARGS, ...(PROF ? ['--cpu-prof', '--cpu-prof-interval=100', `--cpu-prof-dir=${resolve(PROF)}`] : []), '--import', PROBE, join(root, 'src/cli/main.ts'), 'serve', '--port', '0', '--http-port', '0', '--data-dir', dir, ...BENCH_LIMITS, ...STORE_BENCH_EMBEDDER, '--set', 'log.slow_request_ms=100'];
  const [cmd, cargs] = pinned(SERVER_CORE, process.execPath, argv);
  const proc = spawn(cmd, cargs, { stdio: ['ignore', 'pipe', 'inherit', 'ipc'], cwd: root });
  const port = await new Promise<number>((res, rej) => {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      try {
        const e = JSON.parse(line) as { msg: string; port: number; op?: string; ms?: number };
        if (e.msg === 'listening') res(e.port);
        // Every store_batch takes over log.slow_request_ms (set to 100 below): its duration, as the daemon saw it.
        if (e.msg === 'slow request' && e.op === 'store_batch') batches.push(e.ms!);
      } catch {
        // not a log line
      }
    });
    proc.once('exit', (code) => rej(new Error(`ctxd exited with ${code}`)));
  });
  const key = keyFromDataDir(dir)!;
  return {
    port,
    batches,
    kid: key.kid,
    secretHex: key.secret.toString('hex'),
    loop: () =>
      new Promise((res) => {
        proc.once('message', (m: { loop: Loop }) => res(m.loop));
        proc.send('loop?');
      }),
    stop: () =>
      new Promise((res) => {
        if (proc.exitCode !== null) return res();
        proc.once('exit', () => res());
        proc.kill('SIGTERM');
      }),
  };
}

interface Run {
  idle: LoadResult;
  busy: LoadResult;
  batch: LoadResult;
  loop: Loop;
  batchMs: number[];
}

async function once(root: string): Promise<Run> {
  const d = await startDaemon(root);
  const key = { port: d.port, kid: d.kid, secretHex: d.secretHex, target: 'ctxd' as const };
  const idle = await loadgen({ ...key, op: 'ping', connections: 1, inflight: 1, durationMs: DURATION });
  // One batch first, as in bench section 5 where the daemon has served batches before: the first one also loads the
  // tokenizer into the worker threads and takes seconds.
  const c = await CtxdClient.connect({ port: d.port, kid: d.kid, secret: d.secretHex, timeoutMs: 120_000 });
  await c.storeBatch(Array.from({ length: 1000 }, (_, i) => ({ text: englishLike(1_000_000 + i, 2048), level: 3 as const })));
  await c.close();
  await d.loop(); // reset: the busy phase alone from here
  const [busy, batch] = await Promise.all([
    loadgen({ ...key, op: 'ping', connections: 1, inflight: 1, durationMs: DURATION, warmupMs: 1000 }),
    loadgen({ ...key, op: 'store_batch', connections: 1, inflight: 1, durationMs: DURATION + 1500, warmupMs: 0, batchItems: 1000, textBytes: 2048 }),
  ]);
  const loop = await d.loop();
  await d.stop();
  // The warm-up batch is the first; the busy phase's follow.
  return { idle, busy, batch, loop, batchMs: d.batches.slice(1) };
}

const results = new Map<string, Run[]>(ROOTS.map((r) => [r, []]));
for (let i = 0; i < RUNS; i++) {
  for (const root of ROOTS) {
    const r = await once(root);
    results.get(root)!.push(r);
    log(`${root} run ${i + 1}: loop max ${fmt(r.loop.max_ms)} ms (longest GC ${fmt(r.loop.gc.max_ms)} ms ${r.loop.gc.kind}, ${r.loop.gc.over_20ms} GCs over 20 ms), busy ping p99 ${fmt(r.busy.p99_ms, 3)} max ${fmt(r.busy.max_ms)} ms, ${r.batchMs.length} batches answered in the busy phase (${r.batchMs.map((x) => fmt(x, 0)).join(', ')} ms)`);
  }
}

const rows = [...results].map(([root, runs]) => {
  const m = (f: (r: Run) => number, d = 2) => fmt(median(runs.map(f)), d);
  return [
    root === ROOT ? 'this checkout' : root,
    m((r) => r.loop.max_ms),
    runs.map((r) => fmt(r.loop.max_ms)).join(', '),
    m((r) => r.loop.p999_ms),
    m((r) => r.loop.gc.max_ms),
    runs.map((r) => `${fmt(r.loop.gc.max_ms, 0)} ${r.loop.gc.kind}`).join(', '),
    m((r) => r.loop.gc.over_20ms, 0),
    m((r) => r.idle.p50_ms, 3),
    m((r) => r.idle.p99_ms, 3),
    m((r) => r.busy.p50_ms, 3),
    m((r) => r.busy.p99_ms, 3),
    m((r) => r.busy.max_ms),
    String(median(runs.map((r) => r.batchMs.length))),
    fmt(median(runs.flatMap((r) => r.batchMs)), 0),
  ];
});
const report = `# Event-loop stalls during a big \`store_batch\`

Written by \`npm run bench:stall\` on ${new Date().toISOString()}; ${pinning}; Node ${process.version}.
Each run: a fresh daemon (hash embedder, bench limits), ping from 1 connection (1 in flight) for
${DURATION / 1000} s idle, one \`store_batch\` of 1,000 × 2 KB texts to warm it, then ping again while another connection sends \`store_batch\` of 1,000 × 2 KB texts
back to back for ${(DURATION + 1500) / 1000} s. "loop max" is the daemon's own \`monitorEventLoopDelay\`
(1 ms resolution, bench/lib/loop-probe.ts) over the busy phase: the longest the event loop stood still.
"longest GC" is the longest main-thread garbage collection over the same phase (PerformanceObserver 'gc'),
so a stall that is a collection can be told from one that is our code.
Medians of ${RUNS} runs. The machine is shared and noisy.

${table(['daemon', 'loop max ms', 'loop max per run', 'loop p99.9 ms', 'longest GC ms', 'longest GC per run', 'GCs over 20 ms', 'idle ping p50 ms', 'idle ping p99 ms', 'busy ping p50 ms', 'busy ping p99 ms', 'busy ping max ms', 'batches answered (median)', 'store_batch ms (median)'], rows)}
`;
process.stdout.write(report);
if (!PROF && NODE_ARGS.length === 0) {
  writeFileSync(join(ROOT, 'bench', 'stall.md'), report);
  log('wrote bench/stall.md');
}
