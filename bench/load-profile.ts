/**
 * Start-up load of the embedded store, in process: opens `EmbeddedStore` on a
 * copy of a data dir (made once with bench/lib/fill.ts, section 3's texts) and
 * prints the time to open, i.e. what the daemon does before it listens. The
 * HNSW graphs, built after the open, are not waited for.
 *
 *   node bench/load-profile.ts fill DIR N   # once: N contexts into DIR
 *   node bench/load-profile.ts graphs DIR   # once, optional: build the graphs and save them (graph-files.ts)
 *   node bench/load-profile.ts open DIR     # time the open (on the saved graphs and index snapshot, if any)
 *   node bench/load-profile.ts snapshot DIR # once, optional: open and close, which writes the index snapshot (index-snapshot.ts)
 *
 * Profile with `node --cpu-prof bench/load-profile.ts open DIR`.
 */
import { defaultConfig } from '../src/config/load.ts';
import { hashSpace } from '../src/engine/text/hash-embedder.ts';
import { EmbeddedStore } from '../src/store/embedded/embedded-store.ts';
import { syntheticText } from '../test/helpers/records.ts';
import { ensureDataDir } from '../src/store/embedded/data-files.ts';
import { fillDataDir } from './lib/fill.ts';

const [cmd, dataDir, n] = process.argv.slice(2);
const c = defaultConfig();
if (cmd === 'fill') {
  ensureDataDir(dataDir!);
  const r = await fillDataDir(dataDir!, 0, Number(n), (i) => `${syntheticText(i, 16)} #${i}`);
  console.log(JSON.stringify({ rows: r.rows, seconds: r.seconds }));
} else if (cmd === 'open' || cmd === 'graphs' || cmd === 'snapshot') {
  let built!: () => void;
  const graphsBuilt = new Promise<void>((r) => (built = r));
  const store = new EmbeddedStore({
    onGraphsBuilt: () => built(),
    onGraphFiles: (e) => console.error(JSON.stringify(e)),
    onSnapshot: (e) => console.error(JSON.stringify(e)),
    dataDir: dataDir!,
    space: hashSpace(c.embedder.hash.dims),
    durability: 'relaxed',
    ann: { threshold: c.store.ann_threshold, connectivity: c.store.ann_connectivity, expansionAdd: c.store.ann_expansion_add, expansionSearch: c.store.ann_expansion_search },
  });
  const t0 = performance.now();
  const cpu0 = process.threadCpuUsage();
  await store.open();
  const openMs = performance.now() - t0;
  // CPU of this (the event loop's) thread alone: steadier than wall time on a shared machine, and blind to work moved to other threads.
  const cpu = process.threadCpuUsage(cpu0);
  const mem = process.memoryUsage();
  console.log(JSON.stringify({ openMs: Math.round(openMs), mainCpuMs: Math.round((cpu.user + cpu.system) / 1000), records: store.index.size, heapMiB: Math.round(mem.heapUsed / 2 ** 20), arrayBuffersMiB: Math.round(mem.arrayBuffers / 2 ** 20) }));
  if (cmd === 'graphs' || cmd === 'snapshot') {
    if (cmd === 'graphs' && store.index.graphBuild.pending > 0) await graphsBuilt;
    await store.close();
  }
  // Graph building is not part of the load: stop here.
  process.exit(0);
} else {
  console.error('usage: load-profile.ts fill DIR N | graphs DIR | snapshot DIR | open DIR');
  process.exit(2);
}
