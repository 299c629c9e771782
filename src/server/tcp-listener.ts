/** The only place TCP appears: a node:net server that hands sockets to the registry. */
import { createServer, type AddressInfo, type Server } from 'node:net';
import type { ConnectionRegistry } from './connection-registry.ts';

export class TcpListener {
  private readonly server: Server;

  constructor(registry: ConnectionRegistry) {
    // allowHalfOpen: a peer that sends FIN after its requests still gets their answers (PROTOCOL.md §4.4).
    this.server = createServer({ noDelay: true, keepAlive: true, allowHalfOpen: true }, (socket) => {
      registry.accept(socket, `${socket.remoteAddress}:${socket.remotePort}`);
    });
  }

  get listening(): boolean {
    return this.server.listening;
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port }, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting; open connections are left to the registry. */
  stopAccepting(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
