/** `delete`, `delete_where` and `clear` (PROTOCOL.md §7.7): each answers how many contexts it removed. */
import type { ContextEngine } from '../../engine/context-engine.ts';
import { opHandler } from '../dispatcher.ts';

export function deleteHandler(engine: ContextEngine) {
  return opHandler('delete', {
    audited: true,
    role: 'agent',
    mutating: true,
    handle: async (body, ctx) => ({ deleted: await engine.delete(ctx.tenant, body.id) }),
  });
}

export function deleteWhereHandler(engine: ContextEngine) {
  return opHandler('delete_where', {
    audited: true,
    role: 'agent',
    mutating: true,
    handle: async (body, ctx) => ({ deleted: await engine.deleteWhere(ctx.tenant, body) }),
  });
}

export function clearHandler(engine: ContextEngine) {
  return opHandler('clear', {
    audited: true,
    role: 'agent',
    mutating: true,
    handle: async (body, ctx) => ({ deleted: await engine.clear(ctx.tenant, body.level, body.session) }),
  });
}
