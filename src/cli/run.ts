/** Command dispatch for the `ctxd` CLI. Each command returns its exit code. */
import { ConfigError } from '../config/load.ts';

type Env = Readonly<Record<string, string | undefined>>;
type Run = (argv: string[], env: Env) => Promise<number>;

/**
 * A command's module is imported only when that command runs: `serve` pulls in the
 * whole daemon (the embedder, SQLite, usearch, the Qdrant client), which would
 * otherwise add about a second to every `ctxd ping` or `ctxd store`.
 */
interface Command {
  readonly summary: string;
  load(): Promise<{ readonly help: string; readonly run: Run }>;
}

const command = <M>(summary: string, module: () => Promise<M>, pick: (m: M) => { help: string; run: Run }): Command => ({
  summary,
  load: async () => pick(await module()),
});

const contexts = () => import('./commands/contexts.ts');
const manage = () => import('./commands/manage.ts');
const sessions = () => import('./commands/sessions.ts');
const transfer = () => import('./commands/transfer.ts');
const backup = () => import('./commands/backup.ts');
const encryption = () => import('./commands/encryption.ts');

const COMMANDS: Record<string, Command> = {
  serve: command('run the daemon', () => import('./serve.ts'), (m) => ({ help: m.SERVE_HELP, run: m.serve })),
  ping: command('check that the daemon answers, and how fast', () => import('./commands/ping.ts'), (m) => m),
  store: command('store a context', contexts, (m) => ({ help: m.storeHelp, run: m.store })),
  query: command('retrieve the best contexts for a query under a token budget', contexts, (m) => ({ help: m.queryHelp, run: m.query })),
  get: command('print one context', contexts, (m) => ({ help: m.getHelp, run: m.get })),
  delete: command('delete one context', contexts, (m) => ({ help: m.deleteHelp, run: m.del })),
  'store-batch': command('store many contexts from a file or standard input (JSONL or lines)', manage, (m) => ({ help: m.storeBatchHelp, run: m.storeBatch })),
  list: command('list contexts page by page (--all follows the cursors)', manage, (m) => ({ help: m.listHelp, run: m.list })),
  update: command('change one context', manage, (m) => ({ help: m.updateHelp, run: m.update })),
  'delete-where': command('delete every context matching conditions', manage, (m) => ({ help: m.deleteWhereHelp, run: m.deleteWhere })),
  clear: command('delete a level (of a session), after confirmation', manage, (m) => ({ help: m.clearHelp, run: m.clear })),
  stats: command("count your tenant's contexts", contexts, (m) => ({ help: m.statsHelp, run: m.stats })),
  sessions: command('list the sessions holding L1 or L2 contexts (--all follows the cursors)', sessions, (m) => ({ help: m.sessionsHelp, run: m.sessions })),
  'end-session': command("end a session's working memory: its L1 to L2 (--drop deletes it)", sessions, (m) => ({ help: m.endSessionHelp, run: m.endSession })),
  export: command('write contexts as JSONL (a tenant, a session or every tenant; admin)', transfer, (m) => ({ help: m.exportHelp, run: m.exportCommand })),
  import: command('write an export back, idempotently by id (admin)', transfer, (m) => ({ help: m.importHelp, run: m.importCommand })),
  purge: command('delete everything of one tenant, after confirmation (admin)', transfer, (m) => ({ help: m.purgeHelp, run: m.purgeCommand })),
  backup: command('have the daemon write an online copy of its data (admin)', backup, (m) => ({ help: m.backupHelp, run: m.backupCommand })),
  restore: command('bring a stopped data dir back from a backup copy', backup, (m) => ({ help: m.restoreHelp, run: m.restoreCommand })),
  keys: command('create, list or revoke keys in the keyring file', () => import('./commands/keys.ts'), (m) => m),
  'data-keys': command('create or list data keys for encryption at rest', encryption, (m) => ({ help: m.dataKeysHelp, run: m.dataKeys })),
  rekey: command('have the daemon re-seal stored contexts with its active data key (admin)', encryption, (m) => ({ help: m.rekeyHelp, run: m.rekey })),
  mcp: command('serve the Model Context Protocol on stdio for agent hosts (Claude, Cursor, VS Code)', () => import('./commands/mcp.ts'), (m) => m),
  reindex: command('re-embed stored contexts with the configured embedder (daemon stopped)', () => import('./commands/reindex.ts'), (m) => m),
  migrate: command('copy every context into another store, e.g. a data dir into Qdrant and back (resumable, verified)', () => import('./commands/migrate.ts'), (m) => m),
  config: command('print the effective configuration', () => import('./commands/config.ts'), (m) => m),
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
    process.stdout.write((await COMMANDS[rest[0]]!.load()).help);
    return 0;
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const chosen = COMMANDS[name];
  if (!chosen) {
    process.stderr.write(`ctxd: unknown command ${JSON.stringify(name)}\n${usage()}`);
    return 2;
  }
  try {
    return await (await chosen.load()).run(rest, env);
  } catch (e) {
    if (e instanceof ConfigError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`ctxd ${name}: ${(e as Error).message}\n`);
      return 2;
    }
    throw e;
  }
}
