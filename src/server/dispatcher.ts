/**
 * The op table (PROTOCOL.md §7): each op names the role it needs and the JSON
 * schema of its body; bodies are validated here, once, so handlers receive
 * typed, checked input. Handlers may answer synchronously (ping stays off the
 * promise path) or with a promise.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import type { Principal } from '../auth/keyring.ts';
import type { Role } from '../auth/keyring-file.ts';
import { CtxdProtocolError } from '../protocol/errors.ts';
import type { Body } from '../protocol/messages.ts';
import { schemaError } from './validation.ts';

export interface RequestContext {
  readonly principal: Principal;
  /** The tenant the request acts on: the key's own, or the body's `tenant` for an admin key. */
  readonly tenant: string;
  readonly requestId: string;
}

export interface OpHandler<B = Body> {
  readonly op: string;
  /** The least role that may call this op. */
  readonly role: Role;
  /** JSON schema of the body; `tenant` is accepted on every op and handled here. */
  readonly schema: Record<string, unknown>;
  handle(body: B, ctx: RequestContext): Body | Promise<Body>;
}

const ajv = new Ajv({ allErrors: false, strict: true, strictRequired: false, allowUnionTypes: true, coerceTypes: false, useDefaults: false });

interface Entry {
  readonly handler: OpHandler;
  readonly validate: ValidateFunction;
}

export class Dispatcher {
  private readonly table = new Map<string, Entry>();

  register(handler: OpHandler<never>): this {
    if (this.table.has(handler.op)) throw new Error(`op ${handler.op} registered twice`);
    const schema = { ...handler.schema, properties: { ...(handler.schema.properties as object), tenant: { type: 'string', minLength: 1, maxLength: 64 } } };
    this.table.set(handler.op, { handler: handler as unknown as OpHandler, validate: ajv.compile(schema) });
    return this;
  }

  has(op: string): boolean {
    return this.table.has(op);
  }

  ops(): string[] {
    return [...this.table.keys()];
  }

  /** Runs one request; throws CtxdProtocolError for anything the caller must answer as an error. */
  dispatch(op: string, body: Body, principal: Principal, requestId: string): Body | Promise<Body> {
    const entry = this.table.get(op);
    if (!entry) throw new CtxdProtocolError('UNKNOWN_OP', `unknown op ${JSON.stringify(op)}`, { details: { op } });
    const { handler, validate } = entry;
    if (handler.role === 'admin' && principal.role !== 'admin') {
      throw new CtxdProtocolError('FORBIDDEN', `op ${op} needs an admin key`);
    }
    if (!validate(body)) {
      throw schemaError(validate.errors![0]!, 'body');
    }
    let tenant = principal.tenant;
    if (body.tenant !== undefined) {
      if (principal.role !== 'admin') throw new CtxdProtocolError('FORBIDDEN', 'only an admin key may act on another tenant', { details: { field: 'body.tenant' } });
      tenant = body.tenant as string;
    }
    return handler.handle(body, { principal, tenant, requestId });
  }
}
