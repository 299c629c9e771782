/**
 * One source of truth for every op (src/protocol/ops): the server validates
 * with the schemas, its handlers are typed from them, and so is the client.
 * The `@ts-expect-error` lines are the compile-time half of this test: `npm
 * test` runs `tsc --noEmit` first, and tsc fails if any of them stops being
 * an error, that is, if a type no longer follows its schema.
 */
import { describe, expect, it } from 'vitest';
import type { CtxdClient, OpAnswer, OpRequest } from '../../src/client/index.ts';
import { OP_SCHEMAS } from '../../src/protocol/ops/index.ts';
import { opHandler } from '../../src/server/dispatcher.ts';
import { pingHandler } from '../../src/server/handlers/ping.ts';
import { ajv } from '../../src/server/validation.ts';

describe('op schemas and their types', () => {
  it('request types follow the request schemas', () => {
    const ok: OpRequest<'store'> = { text: 'a fact', level: 2, tags: ['t'], metadata: { n: 1 } };
    // @ts-expect-error level is 1, 2 or 3 (fields.ts `level`)
    const badLevel: OpRequest<'store'> = { text: 'a fact', level: 4 };
    // @ts-expect-error text is required
    const noText: OpRequest<'store'> = { level: 3 };
    // @ts-expect-error no such field: additionalProperties is false
    const extra: OpRequest<'get'> = { id: 'x', ids: ['y'] };
    // @ts-expect-error delete_where needs at least one condition (its anyOf)
    const noCondition: OpRequest<'delete_where'> = {};
    // @ts-expect-error where compares scalars only
    const nested: OpRequest<'delete_where'> = { where: { a: { b: 1 } } };
    const validate = ajv.compile(OP_SCHEMAS.store.request);
    expect([ok, badLevel, noText].map((b) => validate(b))).toEqual([true, false, false]);
    expect(ajv.validate(OP_SCHEMAS.get.request, extra)).toBe(false);
    expect(ajv.validate(OP_SCHEMAS.delete_where.request, noCondition)).toBe(false);
    expect(ajv.validate(OP_SCHEMAS.delete_where.request, nested)).toBe(false);
  });

  it('handlers are typed by the answer schemas', () => {
    opHandler('stats', {
      role: 'agent',
      // @ts-expect-error stats answers counts, not strings (answers.ts statsAnswer)
      handle: () => ({ tenant: 't', levels: { '1': 0, '2': 0, '3': 0 }, total: '0', text_bytes: 0, sessions: 0 }),
    });
    opHandler('get', {
      role: 'agent',
      // @ts-expect-error a get body's id is a string
      handle: (body) => ({ deleted: body.id.toFixed() }),
    });
    // A handler takes its op's schema from the table: it cannot name another.
    expect(pingHandler().schema).toBe(OP_SCHEMAS.ping.request);
  });

  it('client methods take and return the same types', () => {
    const typed = async (c: CtxdClient) => {
      const r: OpAnswer<'retrieve'> = await c.retrieve({ query: 'q', levels: [1, 3] });
      // @ts-expect-error retrieve needs a query
      await c.retrieve({ levels: [1] });
      // @ts-expect-error the answer has no such field
      void r.results;
      const page = await c.listPage({ limit: 10 });
      const cursor: string | null = page.next_cursor;
      return cursor;
    };
    expect(typeof typed).toBe('function');
  });

  it('every answer schema compiles in strict mode', () => {
    for (const [op, s] of Object.entries(OP_SCHEMAS)) expect(() => ajv.compile(s.answer), op).not.toThrow();
  });
});
