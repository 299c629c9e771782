/** Public entry of `ctxd/client`. */
export { CtxdClient, type ClientOptions, type ClientTls, type RequestOptions, type ScopedOptions, type Request, type ListPage, type ListRequest } from './client.ts';
export type { OpName, OpRequest, OpAnswer, StoreRequest, StoreAnswer, ImportItem, ExportedAnswer, ContextAnswer, RetrievedAnswer, TenantScope, WireErrorAnswer } from '../protocol/ops/index.ts';
export * from './errors.ts';
export { keyFromDataDir } from './key-source.ts';
