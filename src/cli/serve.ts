/** `ctxd serve`: load config once, start the daemon, stop it gracefully on SIGTERM/SIGINT. */
import { parseArgs } from 'node:util';
import { loadConfig, ConfigError } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { VectorSpaceMismatchError } from '../domain/vector-space.ts';
import { Daemon } from '../daemon.ts';
import { KeyringError } from '../auth/keyring-file.ts';
import { DataKeyError, loadDataKeys } from '../store/encryption/data-keys.ts';
import { createLogger } from '../log.ts';
import { SERVE_OPTIONS, flagsToSettings } from './serve-flags.ts';

export const SERVE_HELP = `Usage: ctxd serve [flags]

Runs the daemon in the foreground.

Flags:
  --host HOST          interface of the protocol listener   (server.host, default 127.0.0.1)
  --port N             protocol TCP port, 0 = any free       (server.port, default 7411)
  --http-port N        side HTTP server port                 (http.port, default 7412)
  --data-dir DIR       data directory                        (data_dir, default ./data)
  --config FILE        JSON config file
  --log-level LEVEL    fatal|error|warn|info|debug|trace     (log.level, default info)
  --set PATH=VALUE     any setting by its dotted path, e.g. --set server.max_connections=10
  -h, --help           this help

Precedence: defaults < --config FILE < CTXD_* environment < flags.
`;

export async function serve(argv: string[], env: Readonly<Record<string, string | undefined>>): Promise<number> {
  const { values } = parseArgs({ args: argv, options: SERVE_OPTIONS, strict: true });
  if (values.help) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }

  let daemon: Daemon;
  try {
    const config = loadConfig({ file: values.config ?? env.CTXD_CONFIG, env, flags: flagsToSettings(values) });
    const envKey = env.CTXD_KEY_ID && env.CTXD_KEY_SECRET ? { id: env.CTXD_KEY_ID, secretHex: env.CTXD_KEY_SECRET } : undefined;
    // The embedder's API key is read here, from the variable the config names, and never logged.
    const apiKey = env[config.embedder.openai.api_key_env];
    // Data keys are read here and again by each rekey, from the file or the variable the config names; never logged.
    const dataKeys = () => loadDataKeys(config.encryption, env);
    const qdrantApiKey = readQdrantApiKey(config, env);
    daemon = new Daemon({ config, log: createLogger(config.log.level), envKey, secrets: { openaiApiKey: apiKey ? apiKey : null }, dataKeys, qdrantApiKey });
  } catch (e) {
    if (e instanceof ConfigError || e instanceof KeyringError || e instanceof DataKeyError) {
      process.stderr.write(`ctxd: ${e.message}\n`);
      return 2;
    }
    throw e;
  }

  // A fault no request path caught: log it, flush, exit non-zero for the supervisor to restart us.
  // Validation at the door and quarantine at load keep any input from turning this into a crash loop.
  const die = (kind: string) => (e: unknown) => {
    daemon.log.fatal({ kind, err: e instanceof Error ? (e.stack ?? e.message) : String(e) }, 'unexpected fault: exiting');
    daemon.log.flush();
    process.exit(70);
  };
  process.on('uncaughtException', die('uncaughtException'));
  process.on('unhandledRejection', die('unhandledRejection'));

  // Installed before the start: a signal's default action kills the process, so a SIGTERM that arrived while the
  // daemon started, even just after it logged `listening`, ended it by the signal instead of a graceful stop (seen on
  // CI). A stop asked for during the start runs once the start is over.
  let signals = 0;
  let stop: ((signal: NodeJS.Signals) => void) | null = null;
  let pending: NodeJS.Signals | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      daemon.log.warn({ signal }, 'second signal: exiting at once');
      process.exit(130);
    }
    if (stop) stop(signal);
    else pending = signal;
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', () => daemon.reloadKeys('SIGHUP'));
  // Opens the gate of debug_hold requests (only registered with debug.enable_ops).
  if (daemon.config.debug.enable_ops) process.on('SIGUSR2', () => daemon.releaseHolds());

  try {
    await daemon.start();
  } catch (e) {
    process.stderr.write(`ctxd: cannot start: ${(e as Error).message}\n`);
    // Vectors of another embedder, or data keys that do not open the data: a configuration matter (exit 2), not a fault.
    return e instanceof VectorSpaceMismatchError || e instanceof DataKeyError ? 2 : 1;
  }

  return new Promise<number>((resolve) => {
    stop = (signal) => {
      daemon.log.info({ signal }, 'signal received');
      daemon.shutdown().then(
        () => resolve(0),
        (e: unknown) => {
          daemon.log.error({ err: (e as Error).message }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    if (pending) stop(pending);
  });
}

/** The Qdrant API key from the variable store.qdrant.api_key_env names (never logged); a named but empty variable is a configuration error. */
export function readQdrantApiKey(config: Config, env: Readonly<Record<string, string | undefined>>): string | null {
  const name = config.store.qdrant.api_key_env;
  if (!name) return null;
  const value = env[name];
  if (!value) throw new ConfigError(`config: store.qdrant.api_key_env names ${name}, which is not set in the environment`);
  return value;
}
