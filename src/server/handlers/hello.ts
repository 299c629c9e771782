/** `hello` (PROTOCOL.md §7.1): who the server is, who the key is, and the limits a client must respect. */
import type { Config } from '../../config/schema.ts';
import { MAX_ID_BYTES, PROTOCOL_VERSION } from '../../protocol/constants.ts';
import { opHandler } from '../dispatcher.ts';
import { REQUEST_LIMITS } from '../../protocol/codec.ts';

export function helloHandler(config: Config, version: string, ops: () => string[]) {
  return opHandler('hello', {
    role: 'agent',
    handle: (_body, ctx) => ({
      server: 'ctxd' as const,
      version,
      protocol: PROTOCOL_VERSION,
      max_frame_bytes: config.protocol.max_frame_bytes,
      kid: ctx.principal.kid,
      tenant: ctx.principal.tenant,
      role: ctx.principal.role,
      limits: {
        max_frame_bytes: config.protocol.max_frame_bytes,
        max_inflight_per_connection: config.server.max_inflight_per_connection,
        max_skew_ms: config.protocol.max_skew_ms,
        max_id_bytes: MAX_ID_BYTES,
        idle_timeout_ms: config.server.idle_timeout_ms,
        frame_deadline_ms: config.server.frame_deadline_ms,
        handshake_timeout_ms: config.server.handshake_timeout_ms,
        preauth_max_frame_bytes: config.server.preauth_max_frame_bytes,
        max_depth: REQUEST_LIMITS.maxDepth,
        max_map_keys: REQUEST_LIMITS.maxMapKeys,
        max_elements: REQUEST_LIMITS.maxElements,
        rate_limit_rps: config.server.rate_limit_rps,
        rate_limit_burst: config.server.rate_limit_burst,
        replay_max_ids_per_key: config.protocol.replay_max_ids_per_key,
        answer_queue_bytes_per_connection: config.server.answer_queue_bytes_per_connection,
      },
      ops: ops(),
    }),
  });
}
