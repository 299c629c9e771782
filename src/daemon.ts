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
import { ContextEngine } from './engine/context-engine.ts';
import { GarbageCollector } from './engine/gc.ts';
import { LocalHashEmbedder } from './engine/text/local-embedder.ts';
import { EmbeddedStore } from './store/embedded/embedded-store.ts';
import type { VectorStore } from './store/vector-store.ts';
import type { Embedder } from './engine/text/embedder.ts';
import { storeHandler } from './server/handlers/store.ts';
import { storeBatchHandler } from './server/handlers/store-batch.ts';
import { retrieveHandler } from './server/handlers/retrieve.ts';
import { getHandler } from './server/handlers/get.ts';
import { updateHandler } from './server/handlers/update.ts';
import { clearHandler, deleteHandler, deleteWhereHandler } from './server/handlers/delete.ts';
import { listHandler } from './server/handlers/list.ts';
import { statsHandler } from './server/handlers/stats.ts';

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
  private readonly dispatcher = new Dispatcher();
  readonly store: VectorStore;
  private embedder: Embedder | null = null;
  private gc: GarbageCollector | null = null;
  private engine: ContextEngine | null = null;
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

    const dispatcher = this.dispatcher;
    dispatcher.register(helloHandler(config, VERSION, () => dispatcher.ops())).register(pingHandler());
    if (config.store.backend !== 'embedded') throw new Error(`store.backend ${config.store.backend} is not available in this build`);
    this.store = new EmbeddedStore({
      dataDir: config.data_dir,
      dims: config.embedder.dims,
      durability: config.store.durability,
      ann: {
        threshold: config.store.ann_threshold,
        connectivity: config.store.ann_connectivity,
        expansionAdd: config.store.ann_expansion_add,
        expansionSearch: config.store.ann_expansion_search,
      },
    });

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

  /** Opens the store, starts the embedder and GC, registers the context ops. */
  private async startEngine(): Promise<void> {
    const { config, log } = this;
    const opened = performance.now();
    await this.store.open();
    log.info({ backend: this.store.name, ms: Math.round(performance.now() - opened), detail: this.store.health().detail }, 'store open');
    this.embedder = await LocalHashEmbedder.create({
      dims: config.embedder.dims,
      tokenizer: config.embedder.tokenizer,
      offloadMinChars: config.workers.offload_min_chars,
      maxThreads: config.workers.max_threads,
      queryCacheSize: config.embedder.query_cache_size,
    });
    const engine = new ContextEngine({
      store: this.store,
      embedder: this.embedder,
      config,
      onBackgroundError: (what, err) => log.error({ what, err: err instanceof Error ? err.message : String(err) }, 'background work failed'),
    });
    this.dispatcher
      .register(storeHandler(engine, config))
      .register(storeBatchHandler(engine, config))
      .register(retrieveHandler(engine, config))
      .register(getHandler(engine))
      .register(updateHandler(engine, config))
      .register(deleteHandler(engine))
      .register(deleteWhereHandler(engine))
      .register(clearHandler(engine))
      .register(listHandler(engine))
      .register(statsHandler(engine));
    this.gc = new GarbageCollector(engine.deps);
    this.gc.start();
    this.engine = engine;
  }

  async start(): Promise<AddressInfo> {
    try {
      await this.startEngine();
      this.address = await this.listener.listen(this.config.server.host, this.config.server.port);
    } catch (e) {
      // Release what did start (worker threads, timers, the database) so the process can exit.
      await this.gc?.stop();
      await this.embedder?.close();
      await this.store.close();
      throw e;
    }
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
    await this.gc?.stop();
    await this.engine?.flush();
    await this.store.close();
    await this.embedder?.close();
    this.log.info('stopped');
  }
}
