/**
 * `ctxd reindex`: re-embeds stored contexts with the configured embedder, so
 * a data dir can move to another embedder (PROTOCOL.md §5.1). Runs on the
 * data dir with the daemon stopped (the data dir lock says if it is not).
 * Contexts are taken in id order in batches; each batch's vectors and their
 * new vector space are committed in one transaction, so a killed run loses
 * at most one batch of work and a second run resumes where it stopped:
 * whatever is still in another space is what is left to do.
 */
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { loadConfig } from '../../config/load.ts';
import { spaceLabel } from '../../domain/vector-space.ts';
import { isTenantName } from '../../domain/tenant.ts';
import { createTextAnalyzer, spaceOf } from '../../engine/text/registry.ts';
import type { TextAnalyzer } from '../../engine/text/text-analyzer.ts';
import { BreakerRegistry } from '../../resilience/breaker.ts';
import { DataDirLock } from '../../store/embedded/data-dir-lock.ts';
import { SqliteFile } from '../../store/embedded/sqlite-file.ts';
import { loadDataKeys } from '../../store/encryption/data-keys.ts';
import { Sealer } from '../../store/encryption/sealer.ts';
import { progress, progressDone } from '../progress.ts';
import { EXIT, UsageError, print, reportError, showHelp, type Env } from '../common.ts';
import { SERVE_OPTIONS, flagsToSettings } from '../serve-flags.ts';

export const help = `Usage: ctxd reindex [--tenant T] [--batch N] [serve flags]

Re-embeds every stored context whose vector was made by another embedder than
the configured one (the configuration 'ctxd serve' would load with the same
flags and environment). Stop the daemon first. Shows a progress bar; safe to
kill: run it again and it resumes.

  --tenant T           only this tenant's contexts
  --batch N            contexts per committed batch (default 64)
  --json               print the result as JSON
  (serve flags: --data-dir, --config, --set PATH=VALUE, ...)
  -h, --help           this help
`;


export async function run(argv: string[], env: Env): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { ...SERVE_OPTIONS, tenant: { type: 'string' }, batch: { type: 'string' }, json: { type: 'boolean' } },
    });
    if (values.help) return showHelp(help);
    if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    const tenant = values.tenant;
    if (tenant !== undefined && !isTenantName(tenant)) throw new UsageError('--tenant must be a tenant name');
    const batch = Number(values.batch ?? 64);
    if (!Number.isInteger(batch) || batch < 1 || batch > 10_000) throw new UsageError('--batch must be an integer from 1 to 10000');
    const config = loadConfig({ file: values.config ?? env.CTXD_CONFIG, env, flags: flagsToSettings(values) });
    const space = spaceOf(config);

    const lock = DataDirLock.acquire(config.data_dir);
    const breakers = new BreakerRegistry();
    let file: SqliteFile | null = null;
    let text: TextAnalyzer | null = null;
    try {
      const keys = loadDataKeys(config.encryption, env);
      file = new SqliteFile(join(config.data_dir, 'ctxd.sqlite'), config.store.durability, space, { allowForeignSpaces: true, sealer: keys ? new Sealer(keys) : null });
      const apiKey = env[config.embedder.openai.api_key_env];
      text = await createTextAnalyzer({ config, secrets: { openaiApiKey: apiKey ? apiKey : null }, breakers });
      const total = file.foreignSpaces(tenant).reduce((n, s) => n + s.contexts, 0);
      let done = 0;
      const started = performance.now();
      process.stderr.write(`re-embedding ${total} contexts with ${spaceLabel(space)}${tenant ? ` (tenant ${tenant})` : ''}\n`);
      let after = '';
      let unreadable = 0;
      for (;;) {
        const rows = file.toReindex(batch, tenant, after);
        if (rows.length === 0) break;
        after = rows[rows.length - 1]!.id;
        // Sealed rows that do not open cannot be re-embedded: counted, and marked so the daemon starts (they stay quarantined).
        const damaged = rows.filter((r) => r.text === null).map((r) => r.id);
        const readable = rows.filter((r): r is { id: string; text: string } => r.text !== null);
        if (damaged.length > 0) file.markSpace(damaged);
        unreadable += damaged.length;
        const vectors = await text.embedTexts(readable.map((r) => r.text));
        file.setVectors(readable.map((r, i) => ({ id: r.id, vector: vectors[i]! })));
        done += rows.length;
        progress(done, total);
      }
      if (unreadable > 0) process.stderr.write(`${unreadable} contexts do not open with the configured data keys: left as they are (quarantined at load)\n`);
      progressDone(total);
      const seconds = (performance.now() - started) / 1000;
      print(values.json, { reindexed: done - unreadable, unreadable, embedder: spaceLabel(space), seconds: +seconds.toFixed(2) }, () => `re-embedded ${done - unreadable} contexts in ${seconds.toFixed(1)} s; the data dir is now all ${spaceLabel(space)}${tenant ? ` for tenant ${tenant}` : ''}`);
      return EXIT.ok;
    } finally {
      await text?.close();
      for (const b of breakers.all()) b.shutdown();
      file?.close();
      lock.release();
    }
  } catch (e) {
    return reportError('reindex', e);
  }
}
