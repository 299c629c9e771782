/** Command dispatch for the `ctxd` CLI. Each command returns its exit code. */
import { ConfigError } from '../config/load.ts';
import { serve, SERVE_HELP } from './serve.ts';

type Env = Readonly<Record<string, string | undefined>>;

interface Command {
  readonly summary: string;
  readonly help: string;
  run(argv: string[], env: Env): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  serve: { summary: 'run the daemon', help: SERVE_HELP, run: serve },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `Usage: ctxd <command> [flags]\n\nCommands:\n${lines.join('\n')}\n\nRun 'ctxd <command> --help' for a command's flags.\n`;
}

export async function runCli(argv: string[], env: Env): Promise<number> {
  const [name, ...rest] = argv;
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
