/**
 * `ctxd migrate`: copies the contexts of the store one configuration names
 * into the store another names (a data dir into Qdrant, and back), offline,
 * resumable from a state file, verified at the end. The copy and the checks
 * are src/store/migrate.ts; this file reads the two configurations and their
 * secrets as `serve` does, refuses what cannot work, opens both stores and
 * keeps the state file (written whole or not at all: tmp, fsync, rename).
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, realpathSync, renameSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../config/load.ts';
import type { Config } from '../../config/schema.ts';
import { isTenantName } from '../../domain/tenant.ts';
import { sameSpace, spaceLabel, VectorSpaceMismatchError } from '../../domain/vector-space.ts';
import { spaceOf } from '../../engine/text/registry.ts';
import { BreakerRegistry } from '../../resilience/breaker.ts';
import { createStore } from '../../store/create-store.ts';
import type { StoreBackend } from '../../store/backend.ts';
import { DataDirInUseError } from '../../store/embedded/data-dir-lock.ts';
import { DataKeyError, loadDataKeys } from '../../store/encryption/data-keys.ts';
import { migrate, MigrateRefusal, type MigrateState, type MigrateStateStore } from '../../store/migrate.ts';
import { progress, progressDone } from '../progress.ts';
import { readQdrantApiKey } from '../serve.ts';
import { EXIT, UsageError, intFlag, print, reportError, showHelp, type Env } from '../common.ts';

export const help = `Usage: ctxd migrate --config SRC.json --to-config DST.json [options]

Copies every context of the store SRC.json configures into the store DST.json
configures (a data dir into Qdrant with store.backend "qdrant", or back):
ids, versions, times, expiry, access counts, tags, metadata and vectors as
stored. Both files are read as 'ctxd serve --config' reads them (CTXD_*
variables apply to both). Stop the daemons of both first. Shows a progress bar;
safe to kill: run it again and it continues from its state file. At the end
every source id is looked up in the destination and a random sample is
compared whole. A run after a finished copy only verifies.

  --tenant T           only this tenant's contexts
  --batch N            contexts per batch (default 500)
  --state FILE         the resume state (default: migrate-<hash>.json in the
                       source data dir; required when the source is not one)
  --sample N           contexts compared whole at the end (default 200)
  --json               print the result as JSON
  -h, --help           this help

Exit status: 0 copied and verified; 1 contexts missing or different, ids
another tenant holds in the destination, or a store failing mid-way (run it
again); 2 refused, nothing done (bad arguments, different embedders, the same
store on both sides, a daemon still using a data dir).
`;

/** What names a store: two configurations naming the same one are refused. */
function identity(c: Config): string {
  if (c.store.backend === 'qdrant') {
    const url = URL.canParse(c.store.qdrant.url) ? new URL(c.store.qdrant.url).href.replace(/\/+$/, '') : c.store.qdrant.url;
    return `qdrant ${url} collection ${c.store.qdrant.collection}`;
  }
  // Real path of the deepest part that exists: the same before and after the first run creates the dir.
  let head = resolve(c.data_dir);
  let tail = '';
  while (!existsSync(head) && dirname(head) !== head) [head, tail] = [dirname(head), join(basename(head), tail)];
  return `data dir ${join(realpathSync(head), tail)}`;
}

/** The state file, written whole or not at all (0600): a kill leaves the previous state. */
function fileState(file: string): MigrateStateStore {
  return {
    load: async () => {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw new UsageError(`cannot read the state file ${file}: ${(e as Error).message}`);
      }
      const s = JSON.parse(text) as MigrateState;
      if (typeof s?.scope !== 'string' || typeof s.counts !== 'object' || typeof s.done !== 'boolean') throw new UsageError(`${file} is not a migrate state file`);
      return s;
    },
    save: async (state) => {
      const tmp = `${file}.tmp`;
      const fd = openSync(tmp, 'w', 0o600);
      try {
        writeSync(fd, JSON.stringify(state) + '\n');
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, file);
      const dir = openSync(dirname(file), 'r');
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
    },
  };
}

/** Opens one side as serve would; what makes it refuse becomes one line naming the side. */
async function openSide(side: string, config: Config, env: Env, breakers: BreakerRegistry): Promise<StoreBackend> {
  try {
    const backend = createStore({ config, dataKeys: loadDataKeys(config.encryption, env), breakers, qdrantApiKey: readQdrantApiKey(config, env) });
    await backend.store.open();
    return backend;
  } catch (e) {
    if (e instanceof DataDirInUseError) throw new UsageError(`the ${side} data dir ${config.data_dir} is in use by a running ctxd (pid ${e.pid ?? 'unknown'}): stop it first, migrate copies between stopped data dirs`);
    if (e instanceof VectorSpaceMismatchError || e instanceof DataKeyError) throw new UsageError(`${side}: ${e.message}`);
    throw e;
  }
}

export async function run(argv: string[], env: Env): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string' }, 'to-config': { type: 'string' }, tenant: { type: 'string' }, batch: { type: 'string' },
        state: { type: 'string' }, sample: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) return showHelp(help);
    if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    if (!values.config || !values['to-config']) throw new UsageError('--config SRC.json and --to-config DST.json are both required');
    const tenant = values.tenant ?? null;
    if (tenant !== null && !isTenantName(tenant)) throw new UsageError('--tenant must be a tenant name');
    const batch = intFlag(values.batch, '--batch') ?? 500;
    if (batch < 1 || batch > 10_000) throw new UsageError('--batch must be from 1 to 10000');
    const sample = intFlag(values.sample, '--sample') ?? 200;

    const from = loadConfig({ file: values.config, env });
    const to = loadConfig({ file: values['to-config'], env });
    if (identity(from) === identity(to)) {
      const hint = Object.keys(env).some((k) => k.startsWith('CTXD_')) ? ' (CTXD_* variables of the environment apply to both)' : '';
      throw new UsageError(`source and destination are the same store (${identity(from)})${hint}`);
    }
    if (!sameSpace(spaceOf(from), spaceOf(to))) {
      throw new UsageError(`the two configurations embed differently (source ${spaceLabel(spaceOf(from))}, destination ${spaceLabel(spaceOf(to))}): copied vectors would be unusable; run ctxd reindex on the source with the destination's embedder first`);
    }
    const embeddedSource = from.store.backend !== 'qdrant';
    if (embeddedSource && !existsSync(join(from.data_dir, 'ctxd.sqlite'))) throw new UsageError(`the source data dir ${from.data_dir} holds no ctxd data (no ctxd.sqlite)`);
    const scope = `${identity(from)} -> ${identity(to)}${tenant !== null ? ` tenant ${tenant}` : ''}`;
    const stateFile = values.state ?? (embeddedSource ? join(from.data_dir, `migrate-${createHash('sha256').update(scope).digest('hex').slice(0, 12)}.json`) : null);
    if (!stateFile) throw new UsageError('--state FILE is required when the source is not a data dir');

    const breakers = new BreakerRegistry();
    const opened: StoreBackend[] = [];
    try {
      const source = await openSide('source', from, env, breakers);
      opened.push(source);
      const dest = await openSide('destination', to, env, breakers);
      opened.push(dest);
      const quarantined = source.quarantined().count;
      if (quarantined > 0) process.stderr.write(`${quarantined} contexts of the source are quarantined (unreadable) and are not copied\n`);
      let total = 0;
      const started = performance.now();
      const report = await migrate(source.store, dest.store, {
        scope,
        state: fileState(stateFile),
        batch,
        tenant,
        sample,
        onStart: (s) => {
          total = s.total;
          const what = s.alreadyDone ? 'already copied; verifying' : s.resumeAt ? `resuming after ${s.resumeAt.tenant}/${s.resumeAt.after}` : 'copying';
          process.stderr.write(`${identity(from)} -> ${identity(to)}: ${s.total} contexts of ${s.tenants} tenant${s.tenants === 1 ? '' : 's'}, ${what} (state ${stateFile})\n`);
          if (!s.alreadyDone) progress(s.done, s.total);
        },
        onProgress: progress,
      });
      if (!report.alreadyDone) progressDone(total);
      const seconds = (performance.now() - started) / 1000;
      const rate = report.copySeconds > 0 ? Math.round(report.copied / report.copySeconds) : 0;
      const { counts, verification: v } = report;
      print(values.json, {
        tenants: report.tenants, contexts: report.contexts, ...counts, copied: report.copied, resumed: report.resumed, already_done: report.alreadyDone,
        missing: v.missing, sampled: v.sampled, differing: v.differing, per_tenant: v.perTenant, differences: v.differences,
        quarantined, verified: report.verified, seconds: +seconds.toFixed(2), rate, state: stateFile,
      }, () => [
        `${report.contexts} contexts of ${report.tenants} tenant${report.tenants === 1 ? '' : 's'}: inserted ${counts.inserted}, replaced ${counts.replaced}, kept ${counts.kept}, taken ${counts.taken}` +
          `${report.alreadyDone ? ' (copied by an earlier run)' : `; ${report.copied} sent in ${report.copySeconds.toFixed(1)} s (${rate}/s)`}`,
        `verification: ${report.contexts - v.missing} of ${report.contexts} present, ${v.sampled} sampled, ${v.differing} differ${counts.taken > 0 ? `, ${counts.taken} ids held by another tenant in the destination` : ''}`,
        ...v.differences.map((d) => `  ${d.tenant}/${d.id}: ${d.what}`),
        report.verified ? `verified (${seconds.toFixed(1)} s)` : `NOT verified${report.alreadyDone && v.missing > 0 ? ` (an earlier run finished the copy: delete ${stateFile} to copy again)` : ''}`,
      ].join('\n'));
      return report.verified ? EXIT.ok : EXIT.failed;
    } finally {
      for (const b of opened) await b.store.close();
      for (const b of breakers.all()) b.shutdown();
    }
  } catch (e) {
    return reportError('migrate', e instanceof MigrateRefusal ? new UsageError(e.message) : e);
  }
}
