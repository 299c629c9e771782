/**
 * Export and import at size (PROTOCOL.md §7.11): does `ctxd export` run in
 * bounded memory? The same export is run at 10,000 and at 100,000 contexts,
 * side by side in one run, sampling the daemon's and the CLI's RSS; bounded
 * means the growth at 100k is about the growth at 10k, not ten times it.
 * Import rate is measured on the way (it loads the collections).
 *
 *   npm run bench:transfer          → bench/transfer.md
 */
import { spawn } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CtxdClient, type ImportItem } from '../src/client/index.ts';
import { ROOT, startCtxd, tempDir, type RunningCtxd } from './lib/processes.ts';
import { fmt, table } from './lib/report.ts';
import { englishLike } from './lib/texts.ts';

const SIZES = [10_000, 100_000];
const TEXT_BYTES = 200;
const MiB = 1024 * 1024;
/** The CLI's V8 old-space cap: an export that buffered the collection would die of it at 100k (53 MiB gzipped, ~200 MiB as objects). */
const CLI_HEAP_MIB = 64;

function rssOf(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
  } catch {
    return 0;
  }
}

async function load(d: RunningCtxd, n: number): Promise<number> {
  const c = await CtxdClient.connect({ port: d.port, kid: d.kid, secret: d.secretHex, timeoutMs: 120_000 });
  const now = Date.now();
  const t0 = performance.now();
  for (let at = 0; at < n; at += 1000) {
    const items = Array.from({ length: Math.min(1000, n - at) }, (_, j): ImportItem => {
      const i = at + j;
      return { id: `bench${String(i).padStart(8, '0')}`, level: i % 10 === 0 ? 2 : 3, text: englishLike(i, TEXT_BYTES), session: `s${i % 100}`, ts: now, created_ts: now, version: 1, tags: ['bench'], metadata: { i } };
    });
    await c.import(items);
  }
  const seconds = (performance.now() - t0) / 1000;
  await c.close();
  return n / seconds;
}

interface ExportRun {
  n: number;
  importRate: number;
  seconds: number;
  fileMiB: number;
  daemonBefore: number;
  daemonPeak: number;
  cliPeak: number;
}

async function exportRun(n: number): Promise<ExportRun> {
  const d = await startCtxd(tempDir('ctxd-bench-transfer-'), ['--set', 'store.durability=relaxed']);
  try {
    const importRate = await load(d, n);
    const out = join(tempDir('ctxd-bench-export-'), 'export.jsonl.gz');
    const daemonBefore = d.rssBytes();
    let daemonPeak = daemonBefore;
    let cliPeak = 0;
    const t0 = performance.now();
    const cli = spawn(process.execPath, [`--max-old-space-size=${CLI_HEAP_MIB}`, join(ROOT, 'src/cli/main.ts'), 'export', '--vectors', '--out', out, '--port', String(d.port), '--kid', d.kid, '--secret', d.secretHex, '--timeout-ms', '120000'], { stdio: ['ignore', 'ignore', 'ignore'] });
    const sampler = setInterval(() => {
      daemonPeak = Math.max(daemonPeak, d.rssBytes());
      cliPeak = Math.max(cliPeak, rssOf(cli.pid!));
    }, 20);
    const code = await new Promise<number | null>((res) => cli.once('exit', res));
    clearInterval(sampler);
    if (code !== 0) throw new Error(`export exited with ${code}`);
    return { n, importRate, seconds: (performance.now() - t0) / 1000, fileMiB: statSync(out).size / MiB, daemonBefore, daemonPeak, cliPeak };
  } finally {
    await d.stop();
  }
}

const runs: ExportRun[] = [];
for (const n of SIZES) {
  process.stderr.write(`loading and exporting ${n} contexts…\n`);
  runs.push(await exportRun(n));
}
const [small, big] = [runs[0]!, runs.at(-1)!];
const growth = (r: ExportRun) => (r.daemonPeak - r.daemonBefore) / MiB;
const ratio = growth(big) / Math.max(growth(small), 0.1);

const report = `# Export and import at size

\`npm run bench:transfer\` (bench/transfer.ts), one run, ${new Date().toISOString().slice(0, 10)}, on the shared 2-core machine; hash
embedder, \`store.durability: relaxed\`, ${TEXT_BYTES}-byte English-like texts, loaded with \`import\` (1,000 per request), exported
with \`ctxd export --vectors --out FILE.gz\` (pages of 500) run with \`--max-old-space-size=${CLI_HEAP_MIB}\`. RSS sampled every 20 ms.

${table(
  ['contexts', 'import (contexts/s)', 'export (s)', 'export (contexts/s)', 'file (MiB, gzip)', 'daemon RSS before (MiB)', 'daemon RSS peak growth (MiB)', 'CLI RSS peak (MiB)'],
  runs.map((r) => [r.n, fmt(r.importRate, 0), fmt(r.seconds, 1), fmt(r.n / r.seconds, 0), fmt(r.fileMiB, 1), fmt(r.daemonBefore / MiB, 0), fmt(growth(r), 1), fmt(r.cliPeak / MiB, 0)]),
)}

The daemon's RSS growth while exporting ${big.n.toLocaleString('en')} contexts is ${fmt(ratio, 2)}× its growth for
${small.n.toLocaleString('en')}; the CLI's peak RSS is ${fmt(big.cliPeak / MiB, 0)} MiB against ${fmt(small.cliPeak / MiB, 0)} MiB, and it completes both
with its heap capped at ${CLI_HEAP_MIB} MiB (RSS also holds code, the modules the CLI loads and memory V8 has not yet returned). Memory follows the page
(500 contexts and their vectors), not the collection: each page is read, encoded and written before the next is asked for, and
the CLI waits for the file stream to drain.
`;
writeFileSync(join(ROOT, 'bench', 'transfer.md'), report);
process.stdout.write(report);
