/** `delete`, `delete_where` and `clear` (PROTOCOL.md §7.7). */
import type { ContextEngine } from '../../engine/context-engine.ts';
import type { ContextFilterInput } from '../../engine/types.ts';
import type { Level } from '../../domain/context.ts';
import type { OpHandler } from '../dispatcher.ts';
import { contextId, level, name, tags, where } from './schemas.ts';

export function deleteHandler(engine: ContextEngine): OpHandler<{ id: string }> {
  return {
    op: 'delete',
    role: 'agent',
    mutating: true,
    schema: { type: 'object', additionalProperties: false, required: ['id'], properties: { id: contextId } },
    handle: async (body, ctx) => ({ deleted: await engine.delete(ctx.tenant, body.id) }),
  };
}

export function deleteWhereHandler(engine: ContextEngine): OpHandler<ContextFilterInput & { level?: Level }> {
  return {
    op: 'delete_where',
    role: 'agent',
    mutating: true,
    schema: {
      type: 'object',
      additionalProperties: false,
      // At least one filter: deleting a whole tenant by accident must not be one empty map away.
      anyOf: ['session', 'agent', 'level', 'tags_any', 'where'].map((f) => ({ required: [f] })),
      properties: { session: name, agent: name, level, tags_any: { ...tags, minItems: 1 }, where: { ...where, minProperties: 1 } },
    },
    handle: async (body, ctx) => ({ deleted: await engine.deleteWhere(ctx.tenant, body) }),
  };
}

export function clearHandler(engine: ContextEngine): OpHandler<{ level: Level; session?: string }> {
  return {
    op: 'clear',
    role: 'agent',
    mutating: true,
    schema: { type: 'object', additionalProperties: false, required: ['level'], properties: { level, session: name } },
    handle: async (body, ctx) => ({ deleted: await engine.clear(ctx.tenant, body.level, body.session) }),
  };
}
