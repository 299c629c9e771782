/** Public entry of `ctxd/client`. */
export { CtxdClient, type ClientOptions, type RequestOptions } from './client.ts';
export * from './errors.ts';
export { keyFromDataDir } from './key-source.ts';
