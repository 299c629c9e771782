/**
 * What the client commands share: finding the daemon and a key (flags, then
 * environment, then the local data dir), output in human or JSON form, and
 * exit codes scripts can rely on.
 */
import { createInterface } from 'node:readline/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { readFileSync } from 'node:fs';
import { CtxdClient, CtxdError, keyFromDataDir, type ClientTls } from '../client/index.ts';
import { ConfigError } from '../config/load.ts';

export type Env = Readonly<Record<string, string | undefined>>;

/** Exit codes (README "CLI"). */
export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

export class UsageError extends Error {}

export const CONNECTION_OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string' },
  'data-dir': { type: 'string' },
  kid: { type: 'string' },
  secret: { type: 'string' },
  'timeout-ms': { type: 'string' },
  tls: { type: 'boolean' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-servername': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export const CONNECTION_HELP = `Connection (flags, else environment, else defaults):
  --host HOST          daemon host             (CTXD_HOST, default 127.0.0.1)
  --port N             daemon port             (CTXD_PORT, default 7411)
  --kid KID            key id                  (CTXD_KEY_ID)
  --secret HEX         key secret              (CTXD_KEY_SECRET)
  --data-dir DIR       read the key from DIR/keys.json when none is given (CTXD_DATA_DIR, default ./data)
  --timeout-ms N       per-request timeout     (default 10000)
  --tls                connect with TLS, trusting the system's CAs (implied by the flags below)
  --tls-ca FILE        PEM CA the daemon's certificate chains to   (CTXD_TLS_CA)
  --tls-cert FILE      PEM client certificate, for mTLS            (CTXD_TLS_CERT)
  --tls-key FILE       its PEM key                                 (CTXD_TLS_KEY)
  --tls-servername N   the name the daemon's certificate carries   (default: --host)
  --json               machine-readable output
  -h, --help           this help
`;

export interface ConnectionFlags {
  host?: string | undefined;
  port?: string | undefined;
  'data-dir'?: string | undefined;
  kid?: string | undefined;
  secret?: string | undefined;
  'timeout-ms'?: string | undefined;
  tls?: boolean | undefined;
  'tls-ca'?: string | undefined;
  'tls-cert'?: string | undefined;
  'tls-key'?: string | undefined;
  'tls-servername'?: string | undefined;
}

/** TLS options from flags, then environment; undefined for plaintext. */
function tlsOptions(flags: ConnectionFlags, env: Env): ClientTls | undefined {
  const ca = flags['tls-ca'] ?? env.CTXD_TLS_CA;
  const cert = flags['tls-cert'] ?? env.CTXD_TLS_CERT;
  const key = flags['tls-key'] ?? env.CTXD_TLS_KEY;
  const servername = flags['tls-servername'];
  if (!flags.tls && !ca && !cert && !key && !servername) return undefined;
  if (Boolean(cert) !== Boolean(key)) throw new UsageError('--tls-cert and --tls-key go together');
  const read = (file: string, flag: string) => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new UsageError(`${flag}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  return {
    ...(ca && { ca: read(ca, '--tls-ca') }),
    ...(cert && { cert: read(cert, '--tls-cert') }),
    ...(key && { key: read(key, '--tls-key') }),
    ...(servername && { servername }),
  };
}

export function intFlag(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return Number(value);
}

export async function connect(flags: ConnectionFlags, env: Env): Promise<CtxdClient> {
  const host = flags.host ?? env.CTXD_HOST ?? '127.0.0.1';
  const port = intFlag(flags.port ?? env.CTXD_PORT, '--port') ?? 7411;
  let kid = flags.kid ?? env.CTXD_KEY_ID;
  let secret: string | Buffer | undefined = flags.secret ?? env.CTXD_KEY_SECRET;
  if (!kid || !secret) {
    const dataDir = flags['data-dir'] ?? env.CTXD_DATA_DIR ?? './data';
    const key = keyFromDataDir(dataDir);
    if (!key) throw new UsageError(`no key: pass --kid and --secret, set CTXD_KEY_ID and CTXD_KEY_SECRET, or point --data-dir at the daemon's data dir`);
    kid = key.kid;
    secret = key.secret;
  }
  const tls = tlsOptions(flags, env);
  return CtxdClient.connect({ host, port, kid, secret, maxReconnectAttempts: 0, timeoutMs: intFlag(flags['timeout-ms'], '--timeout-ms') ?? 10_000, ...(tls && { tls }) });
}

export function parse<O extends ParseArgsConfig['options']>(argv: string[], options: O, allowPositionals = true) {
  return parseArgs({ args: argv, options: { ...CONNECTION_OPTIONS, ...options }, allowPositionals, strict: true });
}

/**
 * Asks on a terminal before something that cannot be undone; without a
 * terminal, `--yes` is required. Resolves to whether it was confirmed.
 */
export async function confirm(what: string, yes: boolean | undefined): Promise<boolean> {
  if (yes) return true;
  if (!process.stdin.isTTY) throw new UsageError(`this deletes ${what}: pass --yes to confirm`);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(`Delete ${what}? Type "yes" to confirm: `);
  rl.close();
  if (answer.trim() === 'yes') return true;
  process.stderr.write('not confirmed; nothing deleted\n');
  return false;
}

export function showHelp(text: string): number {
  process.stdout.write(text);
  return EXIT.ok;
}

export function print(json: boolean | undefined, value: unknown, human: () => string): void {
  process.stdout.write(json ? JSON.stringify(value) + '\n' : human() + '\n');
}

/** One line on stderr, with the wire code, and the exit code for it. */
export function reportError(command: string, e: unknown): number {
  if (e instanceof UsageError || e instanceof ConfigError || (e as { code?: string }).code?.startsWith?.('ERR_PARSE_ARGS')) {
    process.stderr.write(`ctxd ${command}: ${(e as Error).message}\n`);
    return EXIT.usage;
  }
  if (e instanceof CtxdError) {
    process.stderr.write(`ctxd ${command}: ${e.message}\n`);
    return e.code === 'CONNECTION_CLOSED' ? EXIT.unreachable : EXIT.failed;
  }
  process.stderr.write(`ctxd ${command}: ${(e as Error).message ?? String(e)}\n`);
  return EXIT.failed;
}

/** Runs a client command: connect, do, close, map errors to exit codes. */
export async function withClient(command: string, flags: ConnectionFlags, env: Env, run: (c: CtxdClient) => Promise<void>): Promise<number> {
  let client: CtxdClient | undefined;
  try {
    client = await connect(flags, env);
    await run(client);
    return EXIT.ok;
  } catch (e) {
    return reportError(command, e);
  } finally {
    await client?.close();
  }
}
