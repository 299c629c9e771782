/**
 * The op table's types (PROTOCOL.md §7): for each op, the schema its request
 * is validated with and the schema of its answer, and the TypeScript types
 * derived from both. The server's handlers and the client's methods are typed
 * from here, so `tsc --noEmit` fails when they disagree with the schemas.
 */
import type { FromSchema, JSONSchema } from 'json-schema-to-ts';
import * as A from './answers.ts';
import * as R from './requests.ts';

export const OP_SCHEMAS = {
  hello: { request: R.helloRequest, answer: A.helloAnswer },
  ping: { request: R.pingRequest, answer: A.pingAnswer },
  store: { request: R.storeRequest, answer: A.storeAnswer },
  store_batch: { request: R.storeBatchRequest, answer: A.storeBatchAnswer },
  retrieve: { request: R.retrieveRequest, answer: A.retrieveAnswer },
  get: { request: R.getRequest, answer: A.getAnswer },
  update: { request: R.updateRequest, answer: A.updateAnswer },
  delete: { request: R.deleteRequest, answer: A.deletedAnswer },
  delete_where: { request: R.deleteWhereRequest, answer: A.deletedAnswer },
  clear: { request: R.clearRequest, answer: A.deletedAnswer },
  list: { request: R.listRequest, answer: A.listAnswer },
  stats: { request: R.statsRequest, answer: A.statsAnswer },
  export: { request: R.exportRequest, answer: A.exportAnswer },
  import: { request: R.importRequest, answer: A.importAnswer },
  purge: { request: R.purgeRequest, answer: A.purgeAnswer },
  backup: { request: R.backupRequest, answer: A.backupAnswer },
  rekey: { request: R.rekeyRequest, answer: A.rekeyAnswer },
  end_session: { request: R.endSessionRequest, answer: A.endSessionAnswer },
  list_sessions: { request: R.listSessionsRequest, answer: A.listSessionsAnswer },
} as const;

export type OpName = keyof typeof OP_SCHEMAS;

/** Request and answer types, each derived once (a generic FromSchema over every op is too deep for tsc). */
type Op<S extends { readonly request: JSONSchema; readonly answer: JSONSchema }> = {
  request: FromSchema<S['request']>;
  answer: FromSchema<S['answer']>;
};
type Schemas = typeof OP_SCHEMAS;

export type StoreRequest = FromSchema<typeof R.storeRequest>;
export type ImportItem = FromSchema<typeof R.importItem>;

interface OpTypes {
  hello: Op<Schemas['hello']>;
  ping: Op<Schemas['ping']>;
  store: Op<Schemas['store']>;
  // Items are validated one by one against storeRequest (§7.4); the envelope schema leaves them open.
  store_batch: { request: { items: StoreRequest[] }; answer: FromSchema<Schemas['store_batch']['answer']> };
  retrieve: Op<Schemas['retrieve']>;
  get: Op<Schemas['get']>;
  update: Op<Schemas['update']>;
  delete: Op<Schemas['delete']>;
  delete_where: Op<Schemas['delete_where']>;
  clear: Op<Schemas['clear']>;
  list: Op<Schemas['list']>;
  stats: Op<Schemas['stats']>;
  export: Op<Schemas['export']>;
  // As store_batch: items are validated one by one against importItem.
  import: { request: { items: ImportItem[]; vector_space?: string }; answer: FromSchema<Schemas['import']['answer']> };
  purge: Op<Schemas['purge']>;
  backup: Op<Schemas['backup']>;
  rekey: Op<Schemas['rekey']>;
  end_session: Op<Schemas['end_session']>;
  list_sessions: Op<Schemas['list_sessions']>;
}

/** The request body of `op`, without the admin's `tenant` (see TenantScope). */
export type OpRequest<O extends OpName> = OpTypes[O]['request'];

/** The answer body of `op` as a client decodes it. */
export type OpAnswer<O extends OpName> = OpTypes[O]['answer'];

/** store_batch's typed items must be what its envelope schema accepts. */
type _BatchFitsEnvelope = OpRequest<'store_batch'> extends FromSchema<Schemas['store_batch']['request']> ? true : never;
const _batchFitsEnvelope: _BatchFitsEnvelope = true;
type _ImportFitsEnvelope = OpRequest<'import'> extends FromSchema<Schemas['import']['request']> ? true : never;
const _importFitsEnvelope: _ImportFitsEnvelope = true;
void _batchFitsEnvelope;
void _importFitsEnvelope;

/** Any op's body may name another tenant when the key is an admin's (§5). */
// A type, not an interface: bodies must stay assignable to an index-signature map.
export type TenantScope = { tenant?: string };

export type ContextAnswer = FromSchema<typeof A.contextAnswer>;
export type RetrievedAnswer = FromSchema<typeof A.retrievedAnswer>;
export type StoreAnswer = OpAnswer<'store'>;
export type WireErrorAnswer = FromSchema<typeof A.wireErrorAnswer>;
export type ExportedAnswer = FromSchema<typeof A.exportedAnswer>;

/**
 * What a handler may return for an answer of type T: the same shape, where any
 * integer may also be a BigInt (the encoder writes both as MessagePack ints,
 * §3) and arrays may be read-only.
 */
export type Encodable<T> = T extends number
  ? number | bigint
  : T extends readonly (infer U)[]
    ? readonly Encodable<U>[]
    : T extends object
      ? { [K in keyof T]: Encodable<T[K]> }
      : T;
