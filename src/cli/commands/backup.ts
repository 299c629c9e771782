/**
 * `ctxd backup` (a running daemon writes an online copy on its own host,
 * PROTOCOL.md §7.13) and `ctxd restore` (a stopped data dir brought back
 * from such a copy, its checksum verified first).
 */
import { createHash } from 'node:crypto';
import { copyFileSync, createReadStream, existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { removeGraphs } from '../../store/embedded/graph-files.ts';
import { SNAPSHOT_FILE } from '../../store/embedded/index-snapshot.ts';
import { DataDirLock } from '../../store/embedded/data-dir-lock.ts';
import { ensureDataDir, ensurePrivateFile, fsyncPath } from '../../store/embedded/data-files.ts';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../config/load.ts';
import { CONNECTION_HELP, parse, print, reportError, showHelp, UsageError, withClient, EXIT, type Env } from '../common.ts';
import { SERVE_OPTIONS, flagsToSettings } from '../serve-flags.ts';

export const backupHelp = `Usage: ctxd backup [flags]

Has the running daemon write a consistent copy of its data into its backup
directory (store.backup_dir, default <data_dir>/backups), on the daemon's host,
while it keeps serving. Prints the copy's path, size and SHA-256 (also written
beside it as FILE.sha256). Needs an admin key.

${CONNECTION_HELP}`;

export async function backupCommand(argv: string[], env: Env): Promise<number> {
  try {
    const { values } = parse(argv, {}, false);
    if (values.help) return showHelp(backupHelp);
    return await withClient('backup', values, env, async (c) => {
      const r = await c.backup({ timeoutMs: 600_000 });
      print(values.json, r, () => `backup written: ${r.path} (${r.bytes} bytes, sha256 ${r.sha256}, ${r.took_ms} ms)`);
    });
  } catch (e) {
    return reportError('backup', e);
  }
}

export const restoreHelp = `Usage: ctxd restore --from FILE [--force] [serve flags]

Brings a stopped daemon's data dir back from a copy made by ctxd backup. The
copy's SHA-256 is checked against FILE.sha256 (or --sha256) before anything is
written. A data dir holding data is refused unless --force (its keyring,
keys.json, is kept either way).

  --from FILE          the backup copy
  --sha256 HEX         the expected checksum, when FILE.sha256 is not beside it
  --force              replace the data already in the data dir
  --json               machine-readable output
  (serve flags: --data-dir, --config, --set PATH=VALUE, ...: the data dir
   'ctxd serve' would use with the same flags and environment)
`;

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Data files of a data dir: what a restore replaces (the keyring and the lock file are not data). */
const DATA_FILES = ['ctxd.sqlite', 'ctxd.sqlite-wal', 'ctxd.sqlite-shm'];

export async function restoreCommand(argv: string[], env: Env): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { ...SERVE_OPTIONS, from: { type: 'string' }, sha256: { type: 'string' }, force: { type: 'boolean' }, json: { type: 'boolean' } },
    });
    if (values.help) return showHelp(restoreHelp);
    if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    if (!values.from) throw new UsageError('--from FILE is required');
    const from = values.from;
    const { json, force, sha256, from: _from, ...serveFlags } = values;
    const dir = loadConfig({ file: values.config ?? env.CTXD_CONFIG, env, flags: flagsToSettings(serveFlags) }).data_dir;
    if (!existsSync(from)) throw new UsageError(`no backup at ${from}`);
    const expected = sha256 ?? (existsSync(`${from}.sha256`) ? readFileSync(`${from}.sha256`, 'utf8').trim().split(/\s+/)[0] : undefined);
    if (!expected || !/^[0-9a-f]{64}$/i.test(expected)) throw new UsageError(`no checksum: ${from}.sha256 is missing; pass --sha256`);
    const actual = await sha256Of(from);
    if (actual !== expected.toLowerCase()) {
      process.stderr.write(`ctxd restore: ${from} does not match its checksum (expected ${expected}, got ${actual}); nothing restored\n`);
      return EXIT.failed;
    }
    ensureDataDir(dir);
    // A running daemon holds this lock: restoring under it would corrupt what it serves.
    const lock = DataDirLock.acquire(dir);
    try {
      const present = readdirSync(dir).filter((f) => DATA_FILES.includes(f));
      if (present.length > 0 && !force) throw new UsageError(`${dir} already holds data (${present.join(', ')}): pass --force to replace it`);
      const partial = join(dir, `ctxd.sqlite.restore-${process.pid}`);
      copyFileSync(from, partial);
      ensurePrivateFile(partial);
      fsyncPath(partial);
      // The old WAL belongs to the old database: left beside the new one, SQLite would replay it into it.
      for (const f of DATA_FILES.slice(1)) rmSync(join(dir, f), { force: true });
      // Saved ANN graphs are reconciled against any database at load, but those of the old one are only work to undo.
      removeGraphs(dir);
      // The index snapshot of the old one would be refused anyway (its token is not in the restored file): no warning for it.
      rmSync(join(dir, SNAPSHOT_FILE), { force: true });
      // One atomic replace, made durable: a crash leaves the old database or the new one, never none.
      renameSync(partial, join(dir, 'ctxd.sqlite'));
      fsyncPath(dir);
    } finally {
      lock.release();
    }
    print(json, { restored: from, data_dir: dir, sha256: actual }, () => `restored ${basename(from)} into ${dir} (sha256 ${actual} verified)`);
    return EXIT.ok;
  } catch (e) {
    return reportError('restore', e);
  }
}
