/** `stats` (PROTOCOL.md §7.9): how much the tenant holds. */
import type { ContextEngine } from '../../engine/context-engine.ts';
import { opHandler } from '../dispatcher.ts';

export function statsHandler(engine: ContextEngine) {
  return opHandler('stats', {
    role: 'agent',
    async handle(_body, ctx) {
      const s = await engine.stats(ctx.tenant);
      return {
        tenant: ctx.tenant,
        levels: { '1': s.perLevel[1], '2': s.perLevel[2], '3': s.perLevel[3] },
        total: s.perLevel[1] + s.perLevel[2] + s.perLevel[3],
        text_bytes: s.textBytes,
        sessions: s.sessions,
      };
    },
  });
}
