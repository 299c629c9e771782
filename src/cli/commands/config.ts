/** `ctxd config`: the effective configuration, as `ctxd serve` would load it, secrets redacted. */
import { loadConfig } from '../../config/load.ts';
import { UsageError, reportError, showHelp, type Env } from '../common.ts';
import { SERVE_OPTIONS, flagsToSettings } from '../serve-flags.ts';

export const help = `Usage: ctxd config [serve flags]

Prints the configuration 'ctxd serve' would run with, given the same flags and
environment (defaults < --config FILE < CTXD_* environment < flags), as JSON.
A bad setting is reported in one line, with exit code 2.
`;

const SECRET = /secret|password|api_key(?!_env)/i;

function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET.test(k) && typeof v === 'string' && v ? '<redacted>' : redact(v)]));
  }
  return value;
}

export async function run(argv: string[], env: Env): Promise<number> {
  try {
    const { parseArgs } = await import('node:util');
    const { values, positionals } = parseArgs({ args: argv, options: SERVE_OPTIONS, strict: true, allowPositionals: true });
    if (values.help) return showHelp(help);
    if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    const config = loadConfig({ file: values.config ?? env.CTXD_CONFIG, env, flags: flagsToSettings(values) });
    process.stdout.write(JSON.stringify(redact(config), null, 2) + '\n');
    return 0;
  } catch (e) {
    return reportError('config', e);
  }
}
