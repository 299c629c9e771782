/**
 * In-process search over a data dir the daemon wrote: the same index and
 * vectors the daemon uses, with no protocol. Times the daemon's search path
 * (graph or SIMD exact, plus word postings), the JS brute force and usearch's
 * SIMD brute force, and measures recall@10 against exact search, of this
 * search and of the daemon's own answers (passed in a file).
 *
 *   node bench/raw-search.ts DATA_DIR QUERIES_AND_ANSWERS.json
 */
import { readFileSync } from 'node:fs';
import usearch from 'usearch';
import { defaultConfig } from '../src/config/load.ts';
import { hashEmbed, hashSpace } from '../src/engine/text/hash-embedder.ts';
import { EmbeddedStore } from '../src/store/embedded/embedded-store.ts';

const [dataDir, file] = process.argv.slice(2);
const { queries, daemonTop10, tenant } = JSON.parse(readFileSync(file!, 'utf8')) as { queries: string[]; daemonTop10: string[][]; tenant: string };
const c = defaultConfig();
const store = new EmbeddedStore({
  dataDir: dataDir!,
  space: hashSpace(c.embedder.hash.dims),
  durability: 'relaxed',
  ann: { threshold: c.store.ann_threshold, connectivity: c.store.ann_connectivity, expansionAdd: c.store.ann_expansion_add, expansionSearch: c.store.ann_expansion_search },
  onGraphsBuilt: () => graphsBuilt(),
});
let graphsBuilt!: () => void;
const built = new Promise<void>((r) => (graphsBuilt = r));
const t0 = performance.now();
await store.open();
// Graphs of big partitions are built after the open (exact search meanwhile): search them as the daemon does once built.
if (store.health().detail.includes('ANN graphs building')) await built;
const openMs = performance.now() - t0;
const filter = { levels: [3 as const], aliveAt: Date.now() };
const k = c.retrieval.candidates_per_level;

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

const searchMs: number[] = [];
const exactJsMs: number[] = [];
const exactSimdMs: number[] = [];
let rawHits = 0;
let daemonHits = 0;
// Warm up the JIT and caches on the first queries.
for (const q of queries.slice(0, 10)) store.index.search(tenant, { vector: hashEmbed(q, c.embedder.hash.dims), text: q }, filter, k);
const n = store.index.size;
const dims = c.embedder.hash.dims;
for (const [i, q] of queries.entries()) {
  const vector = hashEmbed(q, dims);
  let t = performance.now();
  const found = store.index.search(tenant, { vector, text: q }, filter, k);
  searchMs.push(performance.now() - t);
  t = performance.now();
  const exact = store.index.exactSearch(tenant, vector, filter, 10);
  exactJsMs.push(performance.now() - t);
  const truth = new Set(exact.map((h) => h.meta.id));
  rawHits += found.slice(0, 10).filter((h) => truth.has(h.meta.id)).length;
  daemonHits += (daemonTop10[i] ?? []).filter((id) => truth.has(id)).length;
  if (i < 30) {
    // usearch's SIMD brute force over the same vectors (copied out once, outside the timing).
    const data = (globalThis as { __data?: Float32Array }).__data ?? collect();
    t = performance.now();
    usearch.exactSearch(data, vector, dims, 10, usearch.MetricKind.IP, 1);
    exactSimdMs.push(performance.now() - t);
  }
}

function collect(): Float32Array {
  const data = new Float32Array(n * dims);
  let row = 0;
  for (const m of store.index.matching(tenant, {})) data.set(store.index.vector(tenant, m.id)!, row++ * dims);
  (globalThis as { __data?: Float32Array }).__data = data;
  return data;
}

await store.close();
process.stdout.write(
  JSON.stringify({
    contexts: n,
    open_ms: openMs,
    graph: store.index.usesGraph(tenant, 3),
    search_p50_ms: percentile(searchMs, 0.5),
    search_p99_ms: percentile(searchMs, 0.99),
    exact_js_p50_ms: percentile(exactJsMs, 0.5),
    exact_simd_p50_ms: percentile(exactSimdMs, 0.5),
    raw_recall_at_10: rawHits / (queries.length * 10),
    daemon_recall_at_10: daemonHits / (queries.length * 10),
  }) + '\n',
);
