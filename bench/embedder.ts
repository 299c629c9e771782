/**
 * The default embedder in the daemon (`npm run bench:embedder`, writes
 * bench/embedder.md). Side by side in one run, medians of 3:
 *   1. the model's own batched throughput (LocalModelEmbedder called directly
 *      with full batches, as many calls at once as it has threads) against the
 *      daemon's durable `store` throughput over TCP with the same model, the
 *      same threads and the same kind of texts: the pipeline's overhead;
 *   2. ping latency on one connection while another connection's 1,000-text
 *      store_batch is being embedded;
 *   3. retrieve p50/p99 at 10,000 contexts with queries the cache has never
 *      seen, beside the model's own single-query embedding time.
 * Processes: the daemon is not pinned (its model thread and its event loop
 * may use both cores, as they would in production); load generators are
 * separate processes, also unpinned. Flags: --quick (1 run of 2 s).
 */
import { cpus } from 'node:os';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CtxdClient } from '../src/client/index.ts';
import { LocalModelEmbedder } from '../src/engine/text/local-model-embedder.ts';
import { localModelThreads } from '../src/engine/text/registry.ts';
import { loadConfig } from '../src/config/load.ts';
import type { LoadResult, LoadSpec } from './loadgen.ts';
import { ROOT, loadgen as runLoadgen, startCtxd, tempDir } from './lib/processes.ts';
import { fmt, median, table, verdict } from './lib/report.ts';
import { englishLike } from './lib/texts.ts';

const QUICK = process.argv.includes('--quick');
const RUNS = QUICK ? 1 : 3;
const DURATION = QUICK ? 2000 : 5000;
const TEXT_BYTES = 200;
const CONTEXTS = QUICK ? 2000 : 10_000;
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);
const defaults = loadConfig({});
const threads = localModelThreads(defaults.embedder.local.threads);
const batchSize = defaults.embedder.local.batch_size;

/** The daemon with the default embedder, and load generators, unpinned. */
const startDaemon = (dataDir: string) => startCtxd(dataDir, [], { pin: false, hashEmbedder: false });
const loadgen = (spec: LoadSpec) => runLoadgen(spec, { pin: false });

/** The model alone: full batches, `threads` calls in flight, for `ms`; texts per second. */
async function modelThroughput(model: LocalModelEmbedder, ms: number): Promise<number> {
  let n = 0;
  let seq = 0;
  const end = performance.now() + ms;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: threads }, async () => {
      while (performance.now() < end) {
        await model.embed(Array.from({ length: batchSize }, () => englishLike(seq++, TEXT_BYTES)));
        n += batchSize;
      }
    }),
  );
  return n / ((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  const model = await LocalModelEmbedder.create({ threads, batchSize });
  const out: string[] = [];
  const goals: Array<[string, string, boolean]> = [];

  // 1. Pipeline overhead: the model alone vs durable stores through the daemon, alternating, 3 runs each.
  log(`1. model alone vs durable store (${threads} model thread(s), batches of ${batchSize})`);
  const d = await startDaemon(tempDir('ctxd-bench-embed-'));
  const key = { port: d.port, kid: d.kid, secretHex: d.secretHex };
  const modelRates: number[] = [];
  const stores: LoadResult[] = [];
  for (let i = 0; i < RUNS; i++) {
    modelRates.push(await modelThroughput(model, DURATION));
    stores.push(await loadgen({ target: 'ctxd', op: 'store', ...key, connections: 50, inflight: 1, durationMs: DURATION, textBytes: TEXT_BYTES }));
  }
  const modelRate = median(modelRates);
  const storeRate = median(stores.map((s) => s.rps));
  const ratio = storeRate / modelRate;
  goals.push(['durable store ≥ 0.8× the model’s own batched throughput', `${fmt(ratio)}× (${fmt(storeRate, 0)} vs ${fmt(modelRate, 0)} texts/s)`, ratio >= 0.8]);
  out.push(`## 1. Pipeline overhead: durable \`store\` vs the model alone

The model alone: LocalModelEmbedder in this process, ${threads} worker thread(s), batches of ${batchSize} ${TEXT_BYTES}-byte texts.
The daemon: durable \`store\` (strict, fsync per group) over TCP, 50 connections × 1 in flight, the same model, threads and texts.
Micro-batching fills the model's calls from concurrent stores. Medians of ${RUNS} alternating runs of ${DURATION / 1000} s.

${table(
  ['', 'texts/s', 'p50 ms', 'p99 ms'],
  [
    ['model alone (batched)', fmt(modelRate, 0), '', ''],
    ['daemon durable store, 50 × 1', fmt(storeRate, 0), fmt(median(stores.map((s) => s.p50_ms))), fmt(median(stores.map((s) => s.p99_ms)))],
    ['(store errors, all runs)', String(stores.reduce((n, s) => n + s.errors, 0)), '', ''],
    ['ratio', fmt(ratio), '', ''],
  ],
)}
`);

  // 2. Pings while 1,000-text batches are embedded.
  log('2. ping p99 during 1,000-text store_batch');
  const pings: LoadResult[] = [];
  const batches: LoadResult[] = [];
  for (let i = 0; i < RUNS; i++) {
    // A 1,000-text batch takes ~15 s to embed on one model thread: the first one is embedded throughout the ping window.
    const batchRun = loadgen({ target: 'ctxd', op: 'store_batch', ...key, connections: 1, inflight: 1, durationMs: DURATION + 2000, warmupMs: 0, textBytes: TEXT_BYTES, batchItems: 1000 });
    // Pings start once the first batch is being embedded, and stop before the batch run does.
    await new Promise((r) => setTimeout(r, 1000));
    pings.push(await loadgen({ target: 'ctxd', op: 'ping', ...key, connections: 1, inflight: 1, durationMs: DURATION, warmupMs: 0 }));
    batches.push(await batchRun);
  }
  const pingP99 = median(pings.map((p) => p.p99_ms));
  goals.push(['ping p99 ≤ 5 ms while a 1,000-text store_batch is embedded', `${fmt(pingP99)} ms`, pingP99 <= 5]);
  out.push(`## 2. Ping latency while a 1,000-text \`store_batch\` is embedded

One connection sends 1,000-text store_batch requests back to back; a second process pings on another connection meanwhile.
Medians of ${RUNS} runs.

${table(
  ['', 'per run', 'median'],
  [
    ['ping p50 ms', pings.map((p) => fmt(p.p50_ms)).join(', '), fmt(median(pings.map((p) => p.p50_ms)))],
    ['ping p99 ms', pings.map((p) => fmt(p.p99_ms)).join(', '), fmt(pingP99)],
    ['ping max ms', pings.map((p) => fmt(p.max_ms)).join(', '), fmt(median(pings.map((p) => p.max_ms)))],
    ['pings answered (errors)', pings.map((p) => `${p.requests} (${p.errors})`).join(', '), ''],
    ['batches of 1,000 completed meanwhile', batches.map((b) => String(b.requests)).join(', '), ''],
  ],
)}
`);
  await d.stop();

  // 3. Retrieve at 10k contexts, queries never seen, beside the model's single-query time.
  log(`3. retrieve at ${CONTEXTS} contexts (loading)`);
  const r = await startDaemon(tempDir('ctxd-bench-embed-'));
  const client = await CtxdClient.connect({ port: r.port, kid: r.kid, secret: r.secretHex, timeoutMs: 120_000 });
  const loadStarted = performance.now();
  for (let at = 0; at < CONTEXTS; at += 500) {
    await client.storeBatch(Array.from({ length: 500 }, (_, i) => ({ text: englishLike(at + i, TEXT_BYTES), level: 3 })));
  }
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  await client.close();
  // Queries travel in the load generator's argv (128 KiB per argument): 800 per run, more than a run sends.
  const queries = Array.from({ length: 4000 }, (_, i) => `${englishLike(1_000_000 + i, 48).slice(5)} q${i}`);
  const retrieves: LoadResult[] = [];
  for (let i = 0; i < RUNS; i++) {
    // A fresh slice of queries per run: every one misses the query cache.
    retrieves.push(await loadgen({ target: 'ctxd', op: 'retrieve', ...{ port: r.port, kid: r.kid, secretHex: r.secretHex }, connections: 1, inflight: 1, durationMs: DURATION, warmupMs: 0, queries: queries.slice(i * 800, (i + 1) * 800) }));
  }
  await r.stop();
  const single: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    await model.embed([queries[3000 + i]!]);
    single.push(performance.now() - t0);
  }
  single.sort((a, b) => a - b);
  out.push(`## 3. Retrieve at ${CONTEXTS.toLocaleString('en-US')} contexts, uncached queries

${CONTEXTS.toLocaleString('en-US')} contexts of ${TEXT_BYTES} bytes were loaded with store_batch of 500 in ${fmt(loadSeconds, 1)} s (${fmt(CONTEXTS / loadSeconds, 0)} contexts/s, embedding included).
Then 1 connection × 1 in flight sent retrieves whose query text was never seen before. Medians of ${RUNS} runs of ${DURATION / 1000} s.

${table(
  ['', 'p50 ms', 'p99 ms', 'per second'],
  [
    ['retrieve, uncached query (daemon, over TCP)', fmt(median(retrieves.map((x) => x.p50_ms))), fmt(median(retrieves.map((x) => x.p99_ms))), fmt(median(retrieves.map((x) => x.rps)), 0)],
    ['(retrieves sent per run, of 800 distinct queries; errors)', retrieves.map((x) => `${x.requests} (${x.errors})`).join(', '), '', ''],
    ['the model embedding one query alone (in process)', fmt(median(single)), fmt(single[Math.floor(single.length * 0.99)]!), ''],
  ],
)}
`);
  await model.close();

  const cpu = cpus();
  const report = `# ctxd default embedder: throughput and latency

Generated by \`npm run bench:embedder\` (bench/embedder.ts) on ${new Date().toISOString()}.

- Machine: ${cpu.length} × ${cpu[0]?.model ?? '?'}, Node ${process.version}.
- Embedder: local:universal-sentence-encoder-lite:512 on TensorFlow.js WASM, ${threads} model thread(s) (\`embedder.local.threads\` = 0: cores − 1), micro-batches of up to ${batchSize}.
- Processes: the daemon, unpinned, so its event loop and its model thread may use either core; load generators are separate processes, also unpinned.
  The machine is shared and noisy: read medians and ratios, not single figures.
- Rate limit off and replay cap raised, as in every benchmark (bench/lib/processes.ts).

## Goals

${table(['goal', 'measured', 'verdict'], goals.map(([g, m, ok]) => [g, m, verdict(ok)]))}

${out.join('\n')}`;
  writeFileSync(join(ROOT, 'bench', 'embedder.md'), report);
  process.stdout.write(report);
}

await main();
