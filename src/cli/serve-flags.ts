/** The flags `ctxd serve` (and `ctxd config`) take, and how they map to settings. */
import { ConfigError } from '../config/load.ts';

export const SERVE_OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string' },
  'http-port': { type: 'string' },
  'data-dir': { type: 'string' },
  'log-level': { type: 'string' },
  config: { type: 'string' },
  set: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

const FLAG_PATHS: Record<string, string> = {
  host: 'server.host',
  port: 'server.port',
  'http-port': 'http.port',
  'data-dir': 'data_dir',
  'log-level': 'log.level',
};

export function flagsToSettings(values: Record<string, unknown>): Record<string, string> {
  const flags: Record<string, string> = {};
  for (const [flag, path] of Object.entries(FLAG_PATHS)) {
    const v = values[flag];
    if (typeof v === 'string') flags[path] = v;
  }
  for (const pair of (values.set as string[] | undefined) ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--set expects PATH=VALUE, got ${JSON.stringify(pair)}`);
    flags[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return flags;
}
