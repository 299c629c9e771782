/**
 * `ctxd migrate`: copies every context from the store one configuration
 * names into the store another names (a data dir into Qdrant, and back),
 * offline, resumable, verified at the end (src/store/migrate.ts).
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../config/load.ts';
import type { Config } from '../../config/schema.ts';
import { sameSpace, spaceLabel } from '../../domain/vector-space.ts';
import { spaceOf } from '../../engine/text/registry.ts';
import { BreakerRegistry } from '../../resilience/breaker.ts';
import { createStore } from '../../store/create-store.ts';
import { loadDataKeys } from '../../store/encryption/data-keys.ts';
import { migrate, sourceTotal, verify, type MigrateCounts, type MigrateCursor } from '../../store/migrate.ts';
import type { VectorStore } from '../../store/vector-store.ts';
import { progress, progressDone } from '../progress.ts';
import { readQdrantApiKey } from '../serve.ts';
import { EXIT, UsageError, print, reportError, showHelp, type Env } from '../common.ts';

export const help = `Usage: ctxd migrate --config SRC.json --to-config DST.json [options]

Copies every context of the store SRC.json configures into the store DST.json
configures (for example a data dir into Qdrant: store.backend qdrant, or back),
keeping ids, versions, times, access counts and vectors. Stop daemons using an
embedded store first. Safe to kill: run it again and it resumes from its state
file. At the end every source id is looked up in the destination and a random
sample is compared whole; exit 0 when all is there and equal, 1 otherwise.

  --config FILE        the source configuration (JSON, as for serve)
  --to-config FILE     the destination configuration
  --batch N            contexts per batch (default 500)
  --state FILE         the resume state (default: in the source data dir)
  --sample N           contexts compared whole at the end (default 200)
  --json               print the result as JSON
  --hold-after N       (for tests) stop still after N batches, holding the state a kill must resume from
  -h, --help           this help
`;

interface State {
  readonly cursor: MigrateCursor | null;
  readonly counts: MigrateCounts;
  readonly done: boolean;
}

/** What names a store: two configurations naming the same one are refused. */
function identity(c: Config): string {
  return c.store.backend === 'qdrant' ? `qdrant ${c.store.qdrant.url} ${c.store.qdrant.collection}` : `embedded ${resolve(c.data_dir)}`;
}

function readState(file: string): State | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as State;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new UsageError(`cannot read the state file ${file}: ${(e as Error).message}`);
  }
}

/** Written whole or not at all: a kill leaves the previous state. */
function writeState(file: string, state: State): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify(state));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

async function openStore(config: Config, env: Env, breakers: BreakerRegistry): Promise<VectorStore> {
  const backend = createStore({ config, dataKeys: loadDataKeys(config.encryption, env), breakers, qdrantApiKey: readQdrantApiKey(config, env) });
  await backend.store.open();
  return backend.store;
}

export async function run(argv: string[], env: Env): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string' },
        'to-config': { type: 'string' },
        batch: { type: 'string' },
        state: { type: 'string' },
        sample: { type: 'string' },
        json: { type: 'boolean' },
        'hold-after': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) return showHelp(help);
    if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    if (!values.config || !values['to-config']) throw new UsageError('--config and --to-config are both required');
    const batch = Number(values.batch ?? 500);
    if (!Number.isInteger(batch) || batch < 1 || batch > 10_000) throw new UsageError('--batch must be an integer from 1 to 10000');
    const sample = Number(values.sample ?? 200);
    if (!Number.isInteger(sample) || sample < 0) throw new UsageError('--sample must be a whole number');
    const from = loadConfig({ file: values.config, env: {} });
    const to = loadConfig({ file: values['to-config'], env: {} });
    if (identity(from) === identity(to)) throw new UsageError(`source and destination are the same store (${identity(from)})`);
    if (!sameSpace(spaceOf(from), spaceOf(to))) {
      throw new UsageError(`the two configurations use different embedders (${spaceLabel(spaceOf(from))} and ${spaceLabel(spaceOf(to))}): vectors would be unusable; re-embed first with ctxd reindex`);
    }
    const holdAfter = values['hold-after'] === undefined ? Infinity : Number(values['hold-after']);
    const stateFile = values.state ?? join(from.data_dir, `migrate-${createHash('sha256').update(identity(to)).digest('hex').slice(0, 8)}.json`);
    const previous = readState(stateFile);

    const breakers = new BreakerRegistry();
    const opened: VectorStore[] = [];
    try {
      const source = await openStore(from, env, breakers);
      opened.push(source);
      const dest = await openStore(to, env, breakers);
      opened.push(dest);
      const started = performance.now();
      let counts = previous?.counts ?? { inserted: 0, replaced: 0, kept: 0, taken: 0 };
      if (!previous?.done) {
        const total = await sourceTotal(source);
        process.stderr.write(`copying ${total} contexts from ${identity(from)} to ${identity(to)}${previous?.cursor ? ' (resuming)' : ''}\n`);
        const already = Object.values(counts).reduce((a, b) => a + b, 0);
        let batches = 0;
        counts = await migrate(source, dest, {
          batch,
          resume: previous?.cursor ?? null,
          onBatch: async (cursor, c) => {
            writeState(stateFile, { cursor, counts: c, done: false });
            progress(Math.min(total, Object.values(c).reduce((a, b) => a + b, 0)), total);
            if (++batches >= holdAfter) {
              process.stderr.write(`holding after ${batches} batches\n`);
              await new Promise(() => setInterval(() => {}, 60_000));
            }
          },
        }, { ...counts });
        writeState(stateFile, { cursor: null, counts, done: true });
        progressDone(Math.max(total, already));
      }
      const checked = await verify(source, dest, sample, batch);
      const seconds = (performance.now() - started) / 1000;
      const ok = checked.missing === 0 && checked.differing === 0 && counts.taken === 0;
      print(values.json, { ...counts, ...checked, verified: ok, seconds: +seconds.toFixed(2) }, () =>
        `${checked.contexts} contexts of ${checked.tenants} tenants: inserted ${counts.inserted}, replaced ${counts.replaced}, kept ${counts.kept}, taken ${counts.taken} (ids another tenant holds there); ` +
        `missing ${checked.missing}, ${checked.sampled} sampled of which ${checked.differing} differ: ${ok ? 'verified' : 'NOT verified'} (${seconds.toFixed(1)} s)`);
      return ok ? EXIT.ok : EXIT.failed;
    } finally {
      for (const s of opened) await s.close();
      for (const b of breakers.all()) b.shutdown();
    }
  } catch (e) {
    return reportError('migrate', e);
  }
}
