/**
 * In-process search over a data dir the daemon wrote: the same index and
 * vectors the daemon uses, with no protocol. Times the daemon's search path
 * (graph or SIMD exact, plus word postings), the JS brute force and usearch's
 * SIMD brute force, and measures recall@10 against exact search, of this
 * search and of the daemon's own answers (passed in a file).
 *
 *   node bench/raw-search.ts DATA_DIR QUERIES_AND_ANSWERS.json
 *
 * Exact search is over the float32 vectors SQLite holds (the index keeps a
 * big partition's in half precision, vector-rows.ts): a JS brute force, or
 * with `truth: "simd"` usearch's (also exact, ~10x faster: used at 1,000,000).
 * "JS exact" times the index's own brute force. The file may set
 * `waitForGraphs: false` (the in-process graph search is then not timed: at
 * 1,000,000 rebuilding the graph here would double the run).
 */
import { readFileSync } from 'node:fs';
import usearch from 'usearch';
import { defaultConfig } from '../src/config/load.ts';
import { hashEmbed, hashSpace } from '../src/engine/text/hash-embedder.ts';
import { EmbeddedStore } from '../src/store/embedded/embedded-store.ts';

const [dataDir, file] = process.argv.slice(2);
const c = defaultConfig();
const { queries, daemonTop10, tenant, truth = 'js', waitForGraphs = true, dims = c.embedder.hash.dims } = JSON.parse(readFileSync(file!, 'utf8')) as {
  queries: string[];
  daemonTop10: string[][];
  tenant: string;
  truth?: 'js' | 'simd';
  waitForGraphs?: boolean;
  /** The hash embedder's dims the data dir was filled with (the daemon's `embedder.hash.dims`). */
  dims?: number;
};
const store = new EmbeddedStore({
  dataDir: dataDir!,
  space: hashSpace(dims),
  durability: 'relaxed',
  ann: { threshold: c.store.ann_threshold, connectivity: c.store.ann_connectivity, expansionAdd: c.store.ann_expansion_add, expansionSearch: c.store.ann_expansion_search },
  onGraphsBuilt: () => graphsBuilt(),
});
let graphsBuilt!: () => void;
const built = new Promise<void>((r) => (graphsBuilt = r));
const t0 = performance.now();
await store.open();
// Graphs of big partitions are built after the open (exact search meanwhile): search them as the daemon does once built.
const graphsPending = store.health().detail.includes('ANN graphs building');
if (graphsPending && waitForGraphs) await built;
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
const timeSearch = !graphsPending || waitForGraphs;
// Warm up the JIT and caches on the first queries.
if (timeSearch) for (const q of queries.slice(0, 10)) store.index.search(tenant, { vector: hashEmbed(q, dims), text: q }, filter, k);
const n = store.index.size;
// The float32 vectors as stored (read once, outside the timing), row i the i-th id: what exact search is over.
const ids = Array.from(store.index.matching(tenant, {}), (m) => m.id);
const data = new Float32Array(n * dims);
for (let at = 0; at < ids.length; at += 1000) {
  const batch = ids.slice(at, at + 1000);
  const stored = await store.vectors(tenant, batch);
  batch.forEach((id, i) => data.set(stored.get(id)!, (at + i) * dims));
}

/** The ids of the 10 rows of `data` most similar to `vector`, by a JS brute force. */
function exactTop10(vector: Float32Array): string[] {
  const best: Array<{ score: number; row: number }> = [];
  for (let row = 0; row < ids.length; row++) {
    let score = 0;
    for (let d = 0, at = row * dims; d < dims; d++) score += vector[d]! * data[at + d]!;
    if (best.length < 10 || score > best[best.length - 1]!.score) {
      best.push({ score, row });
      best.sort((a, b) => b.score - a.score);
      if (best.length > 10) best.pop();
    }
  }
  return best.map((b) => ids[b.row]!);
}
for (const [i, q] of queries.entries()) {
  const vector = hashEmbed(q, dims);
  let t = performance.now();
  const found = timeSearch ? store.index.search(tenant, { vector, text: q }, filter, k) : [];
  if (timeSearch) searchMs.push(performance.now() - t);
  if (truth === 'js' || i < 30) {
    t = performance.now();
    store.index.exactSearch(tenant, vector, filter, 10);
    exactJsMs.push(performance.now() - t);
  }
  t = performance.now();
  const simd = usearch.exactSearch(data, vector, dims, 10, usearch.MetricKind.IP, 1);
  exactSimdMs.push(performance.now() - t);
  const exact = truth === 'simd' ? Array.from(simd.keys, (key) => ids[Number(key)]!) : exactTop10(vector);
  const truthIds = new Set(exact);
  rawHits += found.slice(0, 10).filter((h) => truthIds.has(h.meta.id)).length;
  daemonHits += (daemonTop10[i] ?? []).filter((id) => truthIds.has(id)).length;
}

await store.close();
process.stdout.write(
  JSON.stringify({
    contexts: n,
    open_ms: openMs,
    graph: store.index.usesGraph(tenant, 3),
    search_p50_ms: timeSearch ? percentile(searchMs, 0.5) : null,
    search_p99_ms: timeSearch ? percentile(searchMs, 0.99) : null,
    truth,
    exact_js_p50_ms: percentile(exactJsMs, 0.5),
    exact_simd_p50_ms: percentile(exactSimdMs, 0.5),
    raw_recall_at_10: timeSearch ? rawHits / (queries.length * 10) : null,
    daemon_recall_at_10: daemonHits / (queries.length * 10),
  }) + '\n',
);
// Without waiting for the graphs, their build (steps between turns) would keep the process alive until complete.
process.exit(0);
