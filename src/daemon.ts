/**
 * The composition root: builds every part from the frozen config and wires
 * them together. Nothing else constructs long-lived components.
 */
import type { AddressInfo } from 'node:net';
import { loadKeyring, type Keyring } from './auth/keyring.ts';
import { defaultKeyringPath } from './auth/keyring-file.ts';
import type { Config } from './config/schema.ts';
import type { Logger } from './log.ts';
import { SharedByteBudget } from './server/byte-budget.ts';
import { ConnectionRegistry } from './server/connection-registry.ts';
import { Dispatcher } from './server/dispatcher.ts';
import { helloHandler } from './server/handlers/hello.ts';
import { pingHandler } from './server/handlers/ping.ts';
import { RateLimiter } from './server/rate-limiter.ts';
import { ReplayGuard } from './server/replay-guard.ts';
import { ServerStats } from './server/stats.ts';
import { TcpListener } from './server/tcp-listener.ts';
import { VERSION } from './version.ts';

export interface DaemonOptions {
  readonly config: Config;
  readonly log: Logger;
  /** CTXD_KEY_ID / CTXD_KEY_SECRET, read by the CLI. */
  readonly envKey?: { readonly id: string; readonly secretHex: string } | undefined;
}

export class Daemon {
  readonly config: Config;
  readonly log: Logger;
  readonly stats = new ServerStats();
  readonly keyring: Keyring;
  readonly keyringPath: string;
  private readonly registry: ConnectionRegistry;
  private readonly listener: TcpListener;
  private shuttingDown = false;
  private address: AddressInfo | null = null;

  constructor(opts: DaemonOptions) {
    this.config = opts.config;
    this.log = opts.log;
    const { config, log } = this;
    this.keyringPath = config.auth.keyring_file || defaultKeyringPath(config.data_dir);
    const { keyring, generatedAt } = loadKeyring({ keyringPath: this.keyringPath, envKey: opts.envKey });
    this.keyring = keyring;
    if (generatedAt) log.warn({ keyring: generatedAt }, 'no key configured: generated an admin key (mode 0600); clients and the CLI read it from there');
    log.info({ keys: keyring.size, keyring: this.keyringPath }, 'keyring loaded');

    const dispatcher = new Dispatcher();
    dispatcher.register(helloHandler(config, VERSION, () => dispatcher.ops())).register(pingHandler());

    this.registry = new ConnectionRegistry({
      config,
      keyring,
      replay: new ReplayGuard({ skewMs: config.protocol.max_skew_ms, maxIds: config.protocol.replay_max_ids, now: Date.now() }),
      rateLimiter: config.server.rate_limit_rps > 0 ? new RateLimiter(config.server.rate_limit_rps, config.server.rate_limit_burst) : undefined,
      dispatcher,
      budget: new SharedByteBudget(config.server.max_buffered_bytes),
      stats: this.stats,
      log,
      isShuttingDown: () => this.shuttingDown,
    });
    this.listener = new TcpListener(this.registry);
  }

  async start(): Promise<AddressInfo> {
    this.address = await this.listener.listen(this.config.server.host, this.config.server.port);
    this.log.info({ host: this.address.address, port: this.address.port, version: VERSION }, 'listening');
    return this.address;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Graceful stop: refuse new work, let in-flight requests finish within the deadline, close. */
  async shutdown(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.log.info({ deadline_ms: this.config.server.shutdown_deadline_ms }, 'shutting down');
    const stopped = this.listener.stopAccepting();
    const drained = await this.registry.drain(this.config.server.shutdown_deadline_ms);
    if (!drained) this.log.warn('shutdown deadline passed with requests still in flight');
    this.registry.closeAll();
    this.registry.destroyAll();
    await stopped;
    this.log.info('stopped');
  }
}
