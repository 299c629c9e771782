/**
 * The typed ctxd client: one method per op (PROTOCOL.md §7), each taking and
 * returning the types derived from the schemas the server validates with
 * (src/protocol/ops), so a change to an op's schema fails `tsc` here and in
 * every caller. The connection underneath (connection.ts) pipelines, verifies,
 * times out and reconnects.
 */
import type { ImportItem, OpAnswer, OpName, OpRequest, StoreRequest, TenantScope } from '../protocol/ops/index.ts';
import { ClientConnection, type ClientOptions, type RequestOptions } from './connection.ts';

export type { ClientOptions, ClientTls, RequestOptions } from './connection.ts';

/** Options of a request that has no body of its own: a timeout, and the tenant an admin key acts on. */
export type ScopedOptions = RequestOptions & TenantScope;

/** A request body of `op`, with the admin's optional `tenant`. */
export type Request<O extends OpName> = OpRequest<O> & TenantScope;

export type ListPage = OpAnswer<'list'>;
/** What `list` pages through: its filters and an optional cursor to start after. */
export type ListRequest = Request<'list'>;

export class CtxdClient extends ClientConnection {
  /** Connects (retrying with backoff) and returns a ready client. */
  static async connect(opts: ClientOptions): Promise<CtxdClient> {
    const client = new CtxdClient(opts);
    await client.open();
    return client;
  }

  /** Sends `op` with a typed body and resolves with its typed answer. */
  call<O extends OpName>(op: O, body: Request<O>, opts?: RequestOptions): Promise<OpAnswer<O>> {
    return this.request<OpAnswer<O>>(op, body, opts);
  }

  hello(opts?: RequestOptions): Promise<OpAnswer<'hello'>> {
    return this.call('hello', {}, opts);
  }

  ping(opts?: RequestOptions): Promise<OpAnswer<'ping'>> {
    return this.call('ping', {}, opts);
  }

  /** Stores one context (§7.4); an exact or near duplicate refreshes the one already stored. */
  store(body: Request<'store'>, opts?: RequestOptions): Promise<OpAnswer<'store'>> {
    return this.call('store', body, opts);
  }

  /** Stores up to 1,000 contexts; each item is answered with its result or its own error, in order (§7.4). */
  storeBatch(items: StoreRequest[], opts?: ScopedOptions): Promise<OpAnswer<'store_batch'>> {
    return this.call('store_batch', { items, ...tenantOf(opts) }, opts);
  }

  /** The most relevant contexts that fit `max_tokens` (§7.5). */
  retrieve(body: Request<'retrieve'>, opts?: RequestOptions): Promise<OpAnswer<'retrieve'>> {
    return this.call('retrieve', body, opts);
  }

  /** One context by id; NOT_FOUND if it does not exist in this tenant (§7.6). */
  get(id: string, opts?: ScopedOptions): Promise<OpAnswer<'get'>> {
    return this.call('get', { id, ...tenantOf(opts) }, opts);
  }

  /** Changes a context; metadata is merged and a null value removes its key (§7.6). */
  update(id: string, changes: Omit<Request<'update'>, 'id'>, opts?: RequestOptions): Promise<OpAnswer<'update'>> {
    return this.call('update', { ...changes, id }, opts);
  }

  /** Deletes one context; NOT_FOUND if it does not exist in this tenant (§7.7). */
  delete(id: string, opts?: ScopedOptions): Promise<OpAnswer<'delete'>> {
    return this.call('delete', { id, ...tenantOf(opts) }, opts);
  }

  /** Deletes every context that matches; at least one filter is required (§7.7). */
  deleteWhere(filter: Request<'delete_where'>, opts?: RequestOptions): Promise<OpAnswer<'delete_where'>> {
    return this.call('delete_where', filter, opts);
  }

  /** Deletes a level, or one session's part of it (§7.7). */
  clear(body: Request<'clear'>, opts?: RequestOptions): Promise<OpAnswer<'clear'>> {
    return this.call('clear', body, opts);
  }

  /** One page of contexts in id order (§7.8). */
  listPage(body: ListRequest = {}, opts?: RequestOptions): Promise<ListPage> {
    return this.call('list', body, opts);
  }

  /** Every page of contexts in id order, following the cursors until the last page (§7.8). */
  list(body: ListRequest = {}, opts?: RequestOptions): AsyncGenerator<ListPage, void, undefined> {
    return pages(body, (b) => this.listPage(b, opts));
  }

  /** One page of contexts as stored, with their tenant, versions, times and, if asked, vectors (admin; §7.11). */
  exportPage(body: Request<'export'> = {}, opts?: RequestOptions): Promise<OpAnswer<'export'>> {
    return this.call('export', body, opts);
  }

  /** Every page of an export, following the cursors (admin; §7.11). */
  export(body: Request<'export'> = {}, opts?: RequestOptions): AsyncGenerator<OpAnswer<'export'>, void, undefined> {
    return pages(body, (b) => this.exportPage(b, opts));
  }

  /** Writes up to 1,000 exported contexts back with their ids; idempotent by id and version (admin; §7.11). */
  import(items: ImportItem[], opts?: ScopedOptions & { vectorSpace?: string }): Promise<OpAnswer<'import'>> {
    return this.call('import', { items, ...(opts?.vectorSpace !== undefined && { vector_space: opts.vectorSpace }), ...tenantOf(opts) }, opts);
  }

  /** Deletes everything of `tenant` (admin; §7.12). */
  purge(tenant: string, opts?: RequestOptions): Promise<OpAnswer<'purge'>> {
    return this.call('purge', { tenant }, opts);
  }

  /** Has the daemon write a consistent online copy of its data on its host (admin; §7.13). */
  backup(opts?: RequestOptions): Promise<OpAnswer<'backup'>> {
    return this.call('backup', {}, opts);
  }

  /**
   * One step of re-sealing stored rows with the active data key, after the
   * daemon reads its data keys again (admin; §7.15). Call again with
   * `next_cursor` until it is null; `remaining` counts what is left.
   */
  rekey(body: Request<'rekey'> = {}, opts?: RequestOptions): Promise<OpAnswer<'rekey'>> {
    return this.call('rekey', body, opts);
  }

  /** Ends a session's working memory: its L1 moves to L2 (default) or is dropped (§7.14). */
  endSession(session: string, opts?: ScopedOptions & { action?: 'move' | 'drop' }): Promise<OpAnswer<'end_session'>> {
    return this.call('end_session', { session, ...(opts?.action && { action: opts.action }), ...tenantOf(opts) }, opts);
  }

  /** One page of the sessions holding L1 or L2 contexts, by name (§7.14). */
  listSessionsPage(body: Request<'list_sessions'> = {}, opts?: RequestOptions): Promise<OpAnswer<'list_sessions'>> {
    return this.call('list_sessions', body, opts);
  }

  /** Every page of sessions, following the cursors (§7.14). */
  listSessions(body: Request<'list_sessions'> = {}, opts?: RequestOptions): AsyncGenerator<OpAnswer<'list_sessions'>, void, undefined> {
    return pages(body, (b) => this.listSessionsPage(b, opts));
  }

  /** How much the tenant holds (§7.9). */
  stats(opts?: ScopedOptions): Promise<OpAnswer<'stats'>> {
    return this.call('stats', { ...tenantOf(opts) }, opts);
  }
}

/** Pages of a cursor-paged op (list, export, list_sessions): each request starts after the last page's cursor. */
async function* pages<B extends { cursor?: string }, P extends { next_cursor: string | null }>(body: B, fetch: (body: B) => Promise<P>): AsyncGenerator<P, void, undefined> {
  let cursor = body.cursor;
  for (;;) {
    const page = await fetch(cursor === undefined ? body : { ...body, cursor });
    yield page;
    if (page.next_cursor === null) return;
    cursor = page.next_cursor;
  }
}

function tenantOf(opts: TenantScope | undefined): TenantScope {
  return opts?.tenant === undefined ? {} : { tenant: opts.tenant };
}
