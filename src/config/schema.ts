/**
 * The one configuration schema: every setting, its type, unit and default.
 * Units are in the names (_ms, _s, _bytes). config/default.json mirrors the
 * defaults (a unit test keeps them equal); README "Configuration" explains them.
 */

const int = (def: number, min: number, max: number, description: string) =>
  ({ type: 'integer', default: def, minimum: min, maximum: max, description }) as const;
const num = (def: number, min: number, max: number, description: string) =>
  ({ type: 'number', default: def, minimum: min, maximum: max, description }) as const;
const str = (def: string, description: string, extra: Record<string, unknown> = {}) =>
  ({ type: 'string', default: def, description, ...extra }) as const;
const section = (properties: Record<string, unknown>) =>
  ({ type: 'object', additionalProperties: false, default: {}, properties }) as const;

const MiB = 1024 * 1024;

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    data_dir: str('./data', 'Directory for the embedded store and the generated keyring.'),
    server: section({
      host: str('127.0.0.1', 'Interface the TCP protocol listener binds (0.0.0.0 for all).'),
      port: int(7411, 0, 65535, 'TCP port of the protocol listener; 0 picks a free one.'),
      max_connections: int(1024, 1, 1_000_000, 'Open connections beyond this are refused with OVERLOADED.'),
      max_inflight_per_connection: int(64, 1, 65536, 'Requests a connection may have in flight; beyond it the socket is not read until answers drain.'),
      max_buffered_bytes: int(256 * MiB, 1024, 64 * 1024 * MiB, 'Global cap on bytes held for incomplete frames, across connections.'),
      idle_timeout_ms: int(300_000, 0, 86_400_000, 'A connection with no traffic and nothing in flight is closed after this (0 = never).'),
      frame_deadline_ms: int(10_000, 10, 3_600_000, 'A frame that has started must complete within this, or the connection is closed.'),
      shutdown_deadline_ms: int(10_000, 0, 600_000, 'On SIGTERM, in-flight requests get this long to finish.'),
      rate_limit_rps: num(0, 0, 10_000_000, 'Requests a second allowed per key on average (0 = no limit).'),
      rate_limit_burst: int(1000, 1, 10_000_000, 'Requests a key may send at once before rate_limit_rps applies.'),
    }),
    protocol: section({
      max_frame_bytes: int(4 * MiB, 256, 256 * MiB, 'Largest `len` accepted; larger frames are refused before their body is read.'),
      max_skew_ms: int(30_000, 1000, 3_600_000, 'A request `ts` further than this from the server clock is STALE_TIMESTAMP.'),
      replay_max_ids: int(2_000_000, 1000, 100_000_000, 'Request ids remembered for replay detection; beyond it requests get OVERLOADED rather than risk a replay.'),
    }),
    http: section({
      host: str('0.0.0.0', 'Interface of the side HTTP server (probes, metrics).'),
      port: int(7412, 0, 65535, 'Port of the side HTTP server; 0 picks a free one.'),
    }),
    auth: section({
      keyring_file: str('', 'Keyring JSON file; empty means <data_dir>/keys.json.'),
    }),
    log: section({
      level: str('info', 'Log level.', { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] }),
    }),
  },
} as const;

/** The validated, frozen configuration the daemon runs with. */
export interface Config {
  readonly data_dir: string;
  readonly server: {
    readonly host: string;
    readonly port: number;
    readonly max_connections: number;
    readonly max_inflight_per_connection: number;
    readonly max_buffered_bytes: number;
    readonly idle_timeout_ms: number;
    readonly frame_deadline_ms: number;
    readonly shutdown_deadline_ms: number;
    readonly rate_limit_rps: number;
    readonly rate_limit_burst: number;
  };
  readonly protocol: {
    readonly max_frame_bytes: number;
    readonly max_skew_ms: number;
    readonly replay_max_ids: number;
  };
  readonly http: { readonly host: string; readonly port: number };
  readonly auth: { readonly keyring_file: string };
  readonly log: { readonly level: string };
}
