/**
 * A real HTTP server standing where Qdrant would be, for the breaker and
 * degraded-mode tests. It never imitates Qdrant: it fails in the ways a sick
 * dependency does (503, a hang, a reset connection) or, when a live Qdrant is
 * given (QDRANT_URL), passes requests through to it unchanged, so the same
 * test can take a real server away and bring it back.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type FaultMode = 'unavailable' | 'hang' | 'reset' | 'pass';

export interface FaultServer {
  readonly url: string;
  /** Requests received so far, whatever the mode. */
  readonly requests: number;
  mode: FaultMode;
  /** Resolves once the server has received `n` requests in all. */
  waitForRequests(n: number): Promise<void>;
  close(): Promise<void>;
}

export async function startFaultServer(opts: { mode: FaultMode; upstream?: string }): Promise<FaultServer> {
  const sockets = new Set<Socket>();
  const hung = new Set<ServerResponse>();
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  let requests = 0;
  const state = { mode: opts.mode };

  const pass = (req: IncomingMessage, res: ServerResponse): void => {
    if (!opts.upstream) {
      res.writeHead(502).end('no upstream');
      return;
    }
    const target = new URL(req.url ?? '/', opts.upstream);
    const up = request(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  };

  const server: Server = createServer((req, res) => {
    requests++;
    for (const w of waiters.filter((x) => requests >= x.n)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
    switch (state.mode) {
      case 'unavailable':
        req.resume();
        res.writeHead(503, { 'content-type': 'text/plain' }).end('service unavailable');
        return;
      case 'hang':
        req.resume();
        hung.add(res);
        res.on('close', () => hung.delete(res));
        return;
      case 'reset':
        req.socket.destroy();
        return;
      case 'pass':
        pass(req, res);
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    get mode() {
      return state.mode;
    },
    set mode(m: FaultMode) {
      state.mode = m;
      // Requests held by a hang are released as failures when the server stops hanging.
      if (m !== 'hang') for (const res of hung) res.destroy();
    },
    waitForRequests(n: number) {
      if (requests >= n) return Promise.resolve();
      return new Promise<void>((resolve) => waiters.push({ n, resolve }));
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
