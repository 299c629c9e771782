/**
 * `npm run bench:filters`: what a filter that few contexts match costs the embedded store, in process (no protocol),
 * against the scan of every context of the (tenant, level) that the store made without its field index
 * (src/store/embedded/field-index.ts), timed in the same run on the same rows.
 *
 * Contexts: N at L2 in N/10 sessions (the short-term memory of many conversations of one tenant) and N at L3 with
 * 50 agents and no metadata key `team`. Operations, each the store call the engine makes:
 *   - a store's duplicate check at L2 (nearest 1, confined to the store's session): a new text, and a near-duplicate;
 *   - the session's contexts of a level (`find`, as an L1 store lists what to spill);
 *   - a retrieve-sized search (k 100) at L3 by `agent` (1 in 50 hold it) and by a `where` nothing matches.
 *
 *   npm run bench:filters                         100,000 contexts a level, writes bench/filters.md
 *   npm run bench:filters -- --n=20000
 *   npm run bench:filters -- --root=/tmp/ctxd-old another checkout's store too (e.g. a `git worktree` of an older
 *                                                 commit with node_modules linked), on a data dir of its own
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ContextMeta, RecordFilter, SearchQuery } from '../src/domain/context.ts';
import { matchesFilter } from '../src/domain/filter.ts';
import { hashEmbed, hashSpace } from '../src/engine/text/hash-embedder.ts';
import { makeRecord, syntheticText } from '../test/helpers/records.ts';
import { ROOT } from './lib/processes.ts';
import { fmt, median, table } from './lib/report.ts';

const args = process.argv.slice(2);
const opt = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const N = Number(opt('n') ?? 100_000);
const SESSIONS = Math.max(1, Math.floor(N / 10));
const ROOTS = [ROOT, ...args.filter((a) => a.startsWith('--root=')).map((a) => resolve(a.slice(7)))];
const DIMS = 384;
const T = 'bench';

interface Store {
  open(): Promise<void>;
  close(): Promise<void>;
  upsert(records: unknown[]): Promise<void>;
  searchMany(tenant: string, queries: readonly SearchQuery[], filter: RecordFilter, k: number): Promise<unknown[][]>;
  find(tenant: string, filter: RecordFilter, limit: number): Promise<ContextMeta[]>;
  readonly index: { snapshotParts(): IterableIterator<{ level: number; rows: ReadonlyArray<{ meta: ContextMeta }> }> };
}

async function openStore(root: string, dataDir: string): Promise<Store> {
  const { EmbeddedStore } = (await import(join(root, 'src/store/embedded/embedded-store.ts'))) as { EmbeddedStore: new (o: unknown) => Store };
  let built!: () => void;
  const graphs = new Promise<void>((r) => (built = r));
  const ann = { threshold: 16_384, connectivity: 16, expansionAdd: 128, expansionSearch: 128, expansionNearest: 32 };
  const store = new EmbeddedStore({ dataDir, space: hashSpace(DIMS), durability: 'relaxed', ann, onGraphsBuilt: () => built() });
  await store.open();
  const text = (i: number) => `${syntheticText(i, 16)} #${i}`;
  for (let at = 0; at < N; at += 5000) {
    const n = Math.min(5000, N - at);
    await store.upsert(Array.from({ length: n }, (_, j) => makeRecord({ tenant: T, level: 2, text: text(at + j), session: `s${(at + j) % SESSIONS}` })));
    await store.upsert(Array.from({ length: n }, (_, j) => makeRecord({ tenant: T, level: 3, text: text(N + at + j), agent: `a${(at + j) % 50}` })));
  }
  if (N >= ann.threshold) await graphs;
  return store;
}

/**
 * Median and max ms of `fn` over `runs` calls (i = 0..runs-1), a turn of the event loop apart as requests to the
 * daemon are: work the store does in slices between requests (a `where` key's index past 16,384 rows) goes on.
 */
async function timed(runs: number, fn: (i: number) => Promise<unknown> | unknown): Promise<{ p50: number; max: number }> {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    const t = performance.now();
    await fn(i);
    ms.push(performance.now() - t);
  }
  return { p50: median(ms), max: Math.max(...ms) };
}

const live = (f: Omit<RecordFilter, 'aliveAt'>): RecordFilter => ({ aliveAt: Date.now(), ...f });
const vector = (text: string): SearchQuery => ({ vector: hashEmbed(text, DIMS), text: '' });

interface Case {
  name: string;
  level: number;
  filter: (i: number) => RecordFilter;
  run: (store: Store, i: number) => Promise<unknown>;
}

const CASES: Case[] = [
  {
    name: 'L2 duplicate check, new text (session of 10)',
    level: 2,
    filter: (i) => live({ levels: [2], session: `s${i % SESSIONS}` }),
    run: (s, i) => s.searchMany(T, [vector(`brand new fact ${i} about zebras and their stripes`)], live({ levels: [2], session: `s${i % SESSIONS}` }), 1),
  },
  {
    name: 'L2 duplicate check, near-duplicate (session of 10)',
    level: 2,
    filter: (i) => live({ levels: [2], session: `s${i % SESSIONS}` }),
    run: (s, i) => s.searchMany(T, [vector(`${syntheticText(i, 16)} #${i} again`)], live({ levels: [2], session: `s${i % SESSIONS}` }), 1),
  },
  {
    name: "a session's L2 contexts (find)",
    level: 2,
    filter: (i) => live({ levels: [2], session: `s${i % SESSIONS}` }),
    run: (s, i) => s.find(T, live({ levels: [2], session: `s${i % SESSIONS}` }), Number.MAX_SAFE_INTEGER),
  },
  {
    name: 'L3 search k 100 by agent (1 in 50)',
    level: 3,
    filter: (i) => live({ levels: [3], agent: `a${i % 50}` }),
    run: (s, i) => s.searchMany(T, [vector(syntheticText(7_000_000 + i, 4))], live({ levels: [3], agent: `a${i % 50}` }), 100),
  },
  {
    name: 'L3 search k 100 by a where nothing matches',
    level: 3,
    filter: () => live({ levels: [3], where: { team: 'nobody' } }),
    run: (s, i) => s.searchMany(T, [vector(syntheticText(7_000_000 + i, 4))], live({ levels: [3], where: { team: 'nobody' } }), 100),
  },
];

const RUNS = 30;
const rows: Array<Array<string | number>> = [];
/** A checkout's commit, to name its columns. */
const commitOf = (root: string) => {
  try {
    return execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return root;
  }
};
const head = ['operation', ...ROOTS.flatMap((r, i) => [`${i === 0 ? 'this' : commitOf(r)} p50 ms`, 'max ms']), 'scan of every row p50 ms', 'scan / this'];
const results = new Map<string, Array<{ p50: number; max: number }>>();
const scans = new Map<string, { p50: number }>();
for (const root of ROOTS) {
  const dir = mkdtempSync(join(tmpdir(), 'ctxd-bench-filters-'));
  try {
    const store = await openStore(root, dir);
    const rowsOf = (level: number) => [...store.index.snapshotParts()].find((p) => p.level === level)!.rows;
    for (const c of CASES) {
      // Warm-up; a where key is indexed on its first use, a slice a turn (~7 turns at 100,000 rows).
      await timed(20, (i) => c.run(store, i + 1000));
      results.set(c.name, [...(results.get(c.name) ?? []), await timed(RUNS, (i) => c.run(store, i))]);
      // The reference, on this store's rows: what every such call read before the field index, the filter on each row.
      if (root === ROOT) {
        const all = rowsOf(c.level);
        scans.set(c.name, await timed(RUNS, (i) => {
          const filter = c.filter(i);
          let n = 0;
          for (const r of all) if (matchesFilter(r.meta, filter)) n++;
          return n;
        }));
      }
    }
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
for (const c of CASES) {
  const r = results.get(c.name)!;
  const scan = scans.get(c.name)!.p50;
  rows.push([c.name, ...r.flatMap((x) => [fmt(x.p50, 3), fmt(x.max, 2)]), fmt(scan, 2), `${fmt(scan / r[0]!.p50, 0)}×`]);
}

const report = `# Filters that few contexts match (embedded store, in process)

\`npm run bench:filters${args.length ? ` -- ${args.join(' ')}` : ''}\`, ${new Date().toISOString().slice(0, 10)}, this checkout at ${commitOf(ROOT)}${ROOTS.length > 1 ? ` and ${ROOTS.slice(1).map(commitOf).join(', ')} (its store code, its own data dir, the same rows)` : ''}. ${N.toLocaleString('en-US')} contexts at L2 in
${SESSIONS.toLocaleString('en-US')} sessions and ${N.toLocaleString('en-US')} at L3 with 50 agents, \`hash\` vectors, graphs built. ${RUNS} calls each,
after 20 to warm up, a turn of the event loop apart. "Scan of every row" is the filter evaluated on every context of the level, in the same run: what
each of these calls did before the field index (src/store/embedded/field-index.ts), before any vector was scored.

${table(head, rows)}
`;
console.log(report);
if (!opt('n')) writeFileSync(join(ROOT, 'bench/filters.md'), report);
process.exit(0);
