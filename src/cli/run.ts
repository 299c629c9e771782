/** Command dispatch for the `ctxd` CLI. Each command returns its exit code. */
import { ConfigError } from '../config/load.ts';
import { serve, SERVE_HELP } from './serve.ts';
import * as ping from './commands/ping.ts';
import * as contexts from './commands/contexts.ts';
import * as keys from './commands/keys.ts';
import * as config from './commands/config.ts';
import * as reindex from './commands/reindex.ts';
import * as migrate from './commands/migrate.ts';
import * as mcp from './commands/mcp.ts';
import * as manage from './commands/manage.ts';
import * as transfer from './commands/transfer.ts';
import * as backup from './commands/backup.ts';
import * as encryption from './commands/encryption.ts';
import * as sessions from './commands/sessions.ts';

type Env = Readonly<Record<string, string | undefined>>;

interface Command {
  readonly summary: string;
  readonly help: string;
  run(argv: string[], env: Env): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  serve: { summary: 'run the daemon', help: SERVE_HELP, run: serve },
  ping: { summary: 'check that the daemon answers, and how fast', help: ping.help, run: ping.run },
  store: { summary: 'store a context', help: contexts.storeHelp, run: contexts.store },
  query: { summary: 'retrieve the best contexts for a query under a token budget', help: contexts.queryHelp, run: contexts.query },
  get: { summary: 'print one context', help: contexts.getHelp, run: contexts.get },
  delete: { summary: 'delete one context', help: contexts.deleteHelp, run: contexts.del },
  'store-batch': { summary: 'store many contexts from a file or standard input (JSONL or lines)', help: manage.storeBatchHelp, run: manage.storeBatch },
  list: { summary: 'list contexts page by page (--all follows the cursors)', help: manage.listHelp, run: manage.list },
  update: { summary: 'change one context', help: manage.updateHelp, run: manage.update },
  'delete-where': { summary: 'delete every context matching conditions', help: manage.deleteWhereHelp, run: manage.deleteWhere },
  clear: { summary: 'delete a level (of a session), after confirmation', help: manage.clearHelp, run: manage.clear },
  stats: { summary: "count your tenant's contexts", help: contexts.statsHelp, run: contexts.stats },
  sessions: { summary: 'list the sessions holding L1 or L2 contexts (--all follows the cursors)', help: sessions.sessionsHelp, run: sessions.sessions },
  'end-session': { summary: "end a session's working memory: its L1 to L2 (--drop deletes it)", help: sessions.endSessionHelp, run: sessions.endSession },
  export: { summary: 'write contexts as JSONL (a tenant, a session or every tenant; admin)', help: transfer.exportHelp, run: transfer.exportCommand },
  import: { summary: 'write an export back, idempotently by id (admin)', help: transfer.importHelp, run: transfer.importCommand },
  purge: { summary: 'delete everything of one tenant, after confirmation (admin)', help: transfer.purgeHelp, run: transfer.purgeCommand },
  backup: { summary: 'have the daemon write an online copy of its data (admin)', help: backup.backupHelp, run: backup.backupCommand },
  restore: { summary: 'bring a stopped data dir back from a backup copy', help: backup.restoreHelp, run: backup.restoreCommand },
  keys: { summary: 'create, list or revoke keys in the keyring file', help: keys.help, run: keys.run },
  'data-keys': { summary: 'create or list data keys for encryption at rest', help: encryption.dataKeysHelp, run: encryption.dataKeys },
  rekey: { summary: 'have the daemon re-seal stored contexts with its active data key (admin)', help: encryption.rekeyHelp, run: encryption.rekey },
  mcp: { summary: 'serve the Model Context Protocol on stdio for agent hosts (Claude, Cursor, VS Code)', help: mcp.help, run: mcp.run },
  reindex: { summary: 're-embed stored contexts with the configured embedder (daemon stopped)', help: reindex.help, run: reindex.run },
  migrate: { summary: 'copy every context into another store, e.g. a data dir into Qdrant and back (resumable, verified)', help: migrate.help, run: migrate.run },
  config: { summary: 'print the effective configuration', help: config.help, run: config.run },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `Usage: ctxd <command> [flags]\n\nCommands:\n${lines.join('\n')}\n\nRun 'ctxd <command> --help' for a command's flags.\n`;
}

/** Flags that take a value (so the word after them is not the command): every command's shared flags. */
const VALUE_FLAGS = new Set(['--host', '--port', '--data-dir', '--kid', '--secret', '--timeout-ms', '--config', '--log-level', '--http-port', '--set', '--tls-ca', '--tls-cert', '--tls-key', '--tls-servername']);

/** The command and the other arguments: global flags may stand before the command as well as after it. */
function splitCommand(argv: readonly string[]): [string | undefined, string[]] {
  let i = 0;
  while (i < argv.length && argv[i]!.startsWith('-') && argv[i] !== '-' && !(argv[i] === '--help' || argv[i] === '-h')) {
    i += VALUE_FLAGS.has(argv[i]!) ? 2 : 1;
  }
  if (i >= argv.length) return [argv[0], argv.slice(1)];
  return [argv[i], [...argv.slice(0, i), ...argv.slice(i + 1)]];
}

export async function runCli(argv: string[], env: Env): Promise<number> {
  const [name, rest] = splitCommand(argv);
  if (name === 'help' && rest[0] && COMMANDS[rest[0]]) {
    process.stdout.write(COMMANDS[rest[0]]!.help);
    return 0;
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`ctxd: unknown command ${JSON.stringify(name)}\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(rest, env);
  } catch (e) {
    if (e instanceof ConfigError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`ctxd ${name}: ${(e as Error).message}\n`);
      return 2;
    }
    throw e;
  }
}
