/**
 * The QdrantClient of a configured store.qdrant.url. The client (1.19) takes
 * only the scheme, host and port of `url` and builds every request URL from
 * them plus its `prefix` option, so a path in the url (Qdrant behind a
 * reverse proxy at https://host/qdrant) would be dropped silently and every
 * request would go to the wrong path; it also refuses a url with a path when
 * `prefix` is set. So the path is passed as the prefix and the url without it.
 * A url without a port keeps the client's default port, 6333 (Qdrant's),
 * not the scheme's: that is what the client documents. A url that names the
 * scheme's own port (https://host:443) means it, but WHATWG URL parsing drops
 * such a port, so the client would fall back to 6333: the written port is
 * read from the text and passed as `port`.
 */
import { QdrantClient } from '@qdrant/js-client-rest';

export interface ClientOptions {
  readonly url: string;
  readonly apiKey: string | null;
  /** Per request, enforced by the client with an AbortController (QdrantClientTimeoutError). */
  readonly timeoutMs: number;
  readonly maxConnections: number;
}

/** The client's `url` and `prefix` for a configured url (exported for the tests). */
export function splitUrl(url: string): { url: string; prefix?: string; port?: number } {
  if (!URL.canParse(url)) return { url };
  const u = new URL(url);
  const path = u.pathname.replace(/\/+$/, '');
  const written = /^[a-z]+:\/\/(?:\[[^\]]*\]|[^/:?#]*):(\d+)(?:[/?#]|$)/i.exec(url)?.[1];
  const port = u.port === '' && written !== undefined ? { port: Number(written) } : {};
  return path === '' ? { url: u.origin, ...port } : { url: u.origin, prefix: path, ...port };
}

export function createClient(o: ClientOptions): QdrantClient {
  // checkCompatibility off: it would send an unawaited request at construction (our version check is collection.ts).
  return new QdrantClient({ ...splitUrl(o.url), apiKey: o.apiKey ?? undefined, timeout: o.timeoutMs, maxConnections: o.maxConnections, checkCompatibility: false });
}
