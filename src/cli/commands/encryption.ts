/**
 * Encryption at rest from the terminal: `ctxd data-keys create|list` manage a
 * data key file (no daemon needed), and `ctxd rekey` has a running daemon read
 * its keys again and re-seal every row with the active one (PROTOCOL.md §7.15).
 */
import { parseArgs } from 'node:util';
import { DataKeyError, generateDataKey, readDataKeysFile, writeDataKeysFile, type DataKeys } from '../../store/encryption/data-keys.ts';
import { CONNECTION_HELP, EXIT, UsageError, confirm, intFlag, parse, print, reportError, showHelp, withClient, type Env } from '../common.ts';
import { progress, progressDone } from '../progress.ts';
import { existsSync } from 'node:fs';

export const dataKeysHelp = `Usage: ctxd data-keys create --file FILE [--id ID]
       ctxd data-keys list --file FILE

Manages a data key file for encryption at rest (encryption.key_file). 'create'
adds a new random AES-256 key and makes it the active one (the file is created,
mode 0600, if it does not exist); older keys stay, because rows sealed with them
are read with them until 'ctxd rekey' has re-sealed those rows. Key bytes are
never printed.

  --file FILE          the data key file
  --id ID              id of the new key (default dk-<date>-<random>)
  --json               machine-readable output
  -h, --help           this help
`;

const ID = /^[A-Za-z0-9._-]{1,64}$/;

export async function dataKeys(argv: string[], _env: Env): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { file: { type: 'string' }, id: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    });
    if (values.help) return showHelp(dataKeysHelp);
    const [action, ...rest] = positionals;
    if (rest.length) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
    if (!values.file) throw new UsageError('--file is required');
    const path = values.file;
    switch (action) {
      case 'create': {
        const current: DataKeys | null = existsSync(path) ? readDataKeysFile(path) : null;
        const id = values.id ?? `dk-${new Date().toISOString().slice(0, 10)}-${Buffer.from(generateDataKey().subarray(0, 3)).toString('hex')}`;
        if (!ID.test(id)) throw new UsageError('--id must be 1..64 characters of [A-Za-z0-9._-]');
        if (current?.keys.has(id)) throw new UsageError(`a data key ${id} already exists in ${path}`);
        const keys = new Map(current?.keys ?? []);
        keys.set(id, generateDataKey());
        writeDataKeysFile(path, { active: id, keys });
        const out = { file: path, active: id, keys: [...keys.keys()] };
        print(values.json, out, () =>
          current
            ? `added data key ${id} to ${path}, now the active one; run 'ctxd rekey' to have the daemon use it and re-seal rows under ${[...current.keys.keys()].join(', ')}`
            : `created ${path} with data key ${id}; set encryption.key_file to it (and keep a copy: without it the data cannot be read)`);
        return EXIT.ok;
      }
      case 'list': {
        const keys = readDataKeysFile(path);
        const listed = [...keys.keys.keys()].map((id) => ({ id, active: id === keys.active }));
        print(values.json, listed, () => listed.map((k) => `${k.id}${k.active ? '  (active)' : ''}`).join('\n'));
        return EXIT.ok;
      }
      default:
        throw new UsageError(action ? `unknown action ${JSON.stringify(action)}` : 'create or list?');
    }
  } catch (e) {
    if (e instanceof DataKeyError) {
      process.stderr.write(`ctxd data-keys: ${e.message}\n`);
      return EXIT.usage;
    }
    return reportError('data-keys', e);
  }
}

export const rekeyHelp = `Usage: ctxd rekey [--batch N] [--drop-unreadable [--yes]] [flags]

Has the running daemon read its data keys again (encryption.key_file or
key_env), seal new writes with the active key, and re-seal every stored row
that is not under it yet, N rows per commit, with a progress bar. Serving goes
on meanwhile. Safe to interrupt (or to have the daemon killed): each batch
commits whole, and running it again goes on with what is left. When it reports
0 remaining, older keys may be removed from the key file. At the end of a pass
the daemon rebuilds its file (VACUUM, writes wait meanwhile) so that bytes from
before the re-seal leave the disk; if that fails, this exits 1 and says why.
Needs an admin key.

  --batch N            rows per step, 1..10000 (default 1000)
  --drop-unreadable    delete the rows that do not open (damaged or altered, quarantined at load)
                       instead of leaving them under their old key; asks first unless --yes
  --yes                confirm --drop-unreadable
${CONNECTION_HELP}`;

export async function rekey(argv: string[], env: Env): Promise<number> {
  try {
    const { values } = parse(argv, { batch: { type: 'string' }, 'drop-unreadable': { type: 'boolean' }, yes: { type: 'boolean' } }, false);
    if (values.help) return showHelp(rekeyHelp);
    const limit = intFlag(values.batch, '--batch') ?? 1000;
    if (limit < 1 || limit > 10_000) throw new UsageError('--batch must be an integer from 1 to 10000');
    const drop = values['drop-unreadable'] === true;
    if (drop && !(await confirm('the stored contexts that do not open with any data key', values.yes))) return EXIT.failed;
    let failed = false;
    const code = await withClient('rekey', values, env, async (c) => {
      let cursor: string | null = null;
      let resealed = 0;
      let unreadable = 0;
      let dropped = 0;
      let total: number | null = null;
      let step;
      do {
        step = await c.rekey({ limit, ...(cursor !== null && { cursor }), ...(drop && { drop_unreadable: true }) }, { timeoutMs: 600_000 });
        resealed += step.resealed;
        unreadable += step.unreadable;
        dropped += step.dropped;
        total ??= step.remaining + step.resealed + step.dropped;
        if (!values.json) progress(resealed + dropped, total);
        cursor = step.next_cursor;
      } while (cursor !== null);
      if (!values.json) progressDone(total);
      const out = { active_kid: step.active_kid, resealed, unreadable, dropped, remaining: step.remaining, compact_pending: step.compact_pending, compact_error: step.compact_error };
      print(values.json, out, () =>
        `re-sealed ${resealed} contexts with data key ${step.active_kid}; ${step.remaining} remain under other keys or in the clear` +
        (unreadable ? ` (${unreadable} do not open: quarantined at load, see /health; --drop-unreadable deletes them)` : '') +
        (dropped ? `; deleted ${dropped} that did not open` : ''));
      if (step.remaining > unreadable) process.stderr.write(`${step.remaining - unreadable} rows are still under other keys: run ctxd rekey again\n`);
      if (step.compact_error) {
        process.stderr.write(`ctxd rekey: the data file could not be rebuilt, so bytes from before the re-seal may remain on disk: ${step.compact_error}\n`);
        failed = true;
      }
    });
    return code === EXIT.ok && failed ? EXIT.failed : code;
  } catch (e) {
    return reportError('rekey', e);
  }
}
