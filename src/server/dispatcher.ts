/**
 * The op table (PROTOCOL.md §7): each op names the role it needs and the JSON
 * schema of its body; bodies are validated here, once, so handlers receive
 * typed, checked input. Handlers may answer synchronously (ping stays off the
 * promise path) or with a promise.
 */
import type { ValidateFunction } from 'ajv';
import type { Principal } from '../auth/keyring.ts';
import type { Role } from '../auth/keyring-file.ts';
import { CtxdProtocolError } from '../protocol/errors.ts';
import type { Body } from '../protocol/messages.ts';
import { OP_SCHEMAS, type Encodable, type OpAnswer, type OpName, type OpRequest } from '../protocol/ops/index.ts';
import { TENANT_PATTERN_SOURCE } from '../domain/tenant.ts';
import { lazyValidator, schemaError } from './validation.ts';
import { toWireError } from './error-mapping.ts';

export interface RequestContext {
  readonly principal: Principal;
  /** The tenant the request acts on: the key's own, or the body's `tenant` for an admin key. */
  readonly tenant: string;
  readonly requestId: string;
  /**
   * Bytes the answer body may take (PROTOCOL.md §4.4): never more than fits in
   * max_frame_bytes, less while the peer has unread answers queued. Elastic ops
   * (list, retrieve) cut their answer to it; others reserve their bound.
   */
  readonly maxAnswerBytes: number;
}

/** The answer bound of ops that declare none: small fixed-shape answers. */
export const SMALL_ANSWER_BYTES = 16 * 1024;
/** The least room an elastic op is started with. */
export const ELASTIC_MIN_ANSWER_BYTES = 64 * 1024;

export interface OpHandler<B = Body> {
  readonly op: string;
  /** The least role that may call this op. */
  readonly role: Role;
  /** JSON schema of the body; `tenant` is accepted on every op and handled here. */
  readonly schema: Record<string, unknown>;
  /**
   * Most bytes the answer body can take, reserved before the op starts
   * (default SMALL_ANSWER_BYTES); elastic ops start with at least `min` and
   * fit their answer to the room they get (ctx.maxAnswerBytes).
   */
  readonly answerBytes?: number | { readonly elastic: true; readonly min: number };
  /** Changes data: its request id is journaled so a replay is refused after a restart too (§4.3). */
  readonly mutating?: boolean;
  /** Written to the audit trail (deletes, data leaving or entering, admin ops), refusals included. */
  readonly audited?: boolean;
  handle(body: B, ctx: RequestContext): Body | Promise<Body>;
}

/**
 * A handler of one of the protocol's ops (PROTOCOL.md §7): its request schema
 * is the op's in protocol/ops, and its body and answer are typed from the
 * same schemas the client's types come from, so tsc catches any drift.
 */
export function opHandler<O extends OpName>(
  op: O,
  spec: Omit<OpHandler, 'op' | 'schema' | 'handle'> & {
    handle(body: OpRequest<O>, ctx: RequestContext): Encodable<OpAnswer<O>> | Promise<Encodable<OpAnswer<O>>>;
  },
): OpHandler<never> {
  return { ...spec, op, schema: OP_SCHEMAS[op].request, handle: spec.handle as OpHandler<never>['handle'] };
}

/** The room an op needs before it may start: at least `min`, at most `max` bytes of answer. */
export interface AnswerNeed {
  readonly min: number;
  readonly max: number;
}

interface Entry {
  readonly handler: OpHandler;
  readonly validate: () => ValidateFunction;
}

/** One audited request as the dispatcher saw it: who, on which tenant, what, and the answer's counts. */
export interface AuditedRequest {
  readonly kid: string;
  readonly tenant: string;
  readonly op: string;
  readonly id: string;
  readonly outcome: string;
  readonly counts?: Record<string, number>;
}

/** The numbers an answer reports (deleted, moved, bytes…) and the lengths of its lists: never its strings. */
function countsOf(answer: Body): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const [k, v] of Object.entries(answer)) {
    if (typeof v === 'number') counts[k] = v;
    else if (Array.isArray(v)) counts[k] = v.length;
  }
  return counts;
}

export class Dispatcher {
  private readonly table = new Map<string, Entry>();
  private readonly onAudited: ((r: AuditedRequest) => void) | undefined;

  constructor(onAudited?: (r: AuditedRequest) => void) {
    this.onAudited = onAudited;
  }

  register(handler: OpHandler<never>): this {
    if (this.table.has(handler.op)) throw new Error(`op ${handler.op} registered twice`);
    const schema = { ...handler.schema, properties: { ...(handler.schema.properties as object), tenant: { type: 'string', pattern: TENANT_PATTERN_SOURCE } } };
    this.table.set(handler.op, { handler: handler as unknown as OpHandler, validate: lazyValidator(schema) });
    return this;
  }

  has(op: string): boolean {
    return this.table.has(op);
  }

  ops(): string[] {
    return [...this.table.keys()];
  }

  isMutating(op: string): boolean {
    return this.table.get(op)?.handler.mutating === true;
  }

  /** Answer room `op` needs; `maxBody` is the most any answer body may take. Unknown ops answer an error: small. */
  answerNeed(op: string, maxBody: number): AnswerNeed {
    const bound = this.table.get(op)?.handler.answerBytes ?? SMALL_ANSWER_BYTES;
    if (typeof bound === 'object') return { min: Math.min(Math.max(bound.min, ELASTIC_MIN_ANSWER_BYTES), maxBody), max: maxBody };
    const n = Math.min(bound, maxBody);
    return { min: n, max: n };
  }

  /** Runs one request; throws CtxdProtocolError for anything the caller must answer as an error. */
  dispatch(op: string, body: Body, principal: Principal, requestId: string, maxAnswerBytes: number): Body | Promise<Body> {
    const entry = this.table.get(op);
    if (!entry) throw new CtxdProtocolError('UNKNOWN_OP', `unknown op ${JSON.stringify(op)}`, { details: { op } });
    const { handler } = entry;
    const validate = entry.validate();
    const audit = handler.audited ? this.onAudited : undefined;
    if (handler.role === 'admin' && principal.role !== 'admin') {
      audit?.({ kid: principal.kid, tenant: principal.tenant, op, id: requestId, outcome: 'FORBIDDEN' });
      throw new CtxdProtocolError('FORBIDDEN', `op ${op} needs an admin key`);
    }
    if (!validate(body)) {
      throw schemaError(validate.errors![0]!, 'body');
    }
    let tenant = principal.tenant;
    if (body.tenant !== undefined) {
      if (principal.role !== 'admin') {
        audit?.({ kid: principal.kid, tenant: principal.tenant, op, id: requestId, outcome: 'FORBIDDEN' });
        throw new CtxdProtocolError('FORBIDDEN', 'only an admin key may act on another tenant', { details: { field: 'body.tenant' } });
      }
      tenant = body.tenant as string;
      // Handlers see only their op's own fields (an admin's `{id, tenant}` is not an update with a change).
      const { tenant: _, ...own } = body;
      body = own;
    }
    if (!audit) return handler.handle(body, { principal, tenant, requestId, maxAnswerBytes });
    const record = { kid: principal.kid, tenant, op, id: requestId };
    // A handler that throws before its promise is audited like one that rejects.
    return Promise.resolve()
      .then(() => handler.handle(body, { principal, tenant, requestId, maxAnswerBytes }))
      .then(
        (answer) => (audit({ ...record, outcome: 'ok', counts: countsOf(answer) }), answer),
        (e: unknown) => {
          audit({ ...record, outcome: toWireError(e).code });
          throw e;
        },
      );
  }
}
