/**
 * The composition root: builds every part from the frozen config and wires
 * them together. Nothing else constructs long-lived components.
 */
import { watchFile, unwatchFile } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { collectKeyRecords, loadKeyring, type Keyring } from './auth/keyring.ts';
import { defaultKeyringPath } from './auth/keyring-file.ts';
import type { Config } from './config/schema.ts';
import { ContextEngine } from './engine/context-engine.ts';
import { GarbageCollector } from './engine/gc.ts';
import type { Embedder } from './engine/text/embedder.ts';
import { LocalHashEmbedder } from './engine/text/local-embedder.ts';
import { SideServer, type HealthReport } from './http/side-server.ts';
import type { Logger } from './log.ts';
import { Metrics } from './metrics/metrics.ts';
import { SharedByteBudget } from './server/byte-budget.ts';
import { ConnectionRegistry } from './server/connection-registry.ts';
import { Dispatcher } from './server/dispatcher.ts';
import { clearHandler, deleteHandler, deleteWhereHandler } from './server/handlers/delete.ts';
import { getHandler } from './server/handlers/get.ts';
import { helloHandler } from './server/handlers/hello.ts';
import { listHandler } from './server/handlers/list.ts';
import { pingHandler } from './server/handlers/ping.ts';
import { retrieveHandler } from './server/handlers/retrieve.ts';
import { statsHandler } from './server/handlers/stats.ts';
import { storeBatchHandler } from './server/handlers/store-batch.ts';
import { storeHandler } from './server/handlers/store.ts';
import { updateHandler } from './server/handlers/update.ts';
import { RateLimiter } from './server/rate-limiter.ts';
import { ReplayGuard } from './server/replay-guard.ts';
import { ServerStats } from './server/stats.ts';
import { TcpListener } from './server/tcp-listener.ts';
import { EmbeddedStore } from './store/embedded/embedded-store.ts';
import type { VectorStore } from './store/vector-store.ts';
import { VERSION } from './version.ts';

export interface DaemonOptions {
  readonly config: Config;
  readonly log: Logger;
  /** CTXD_KEY_ID / CTXD_KEY_SECRET, read by the CLI. */
  readonly envKey?: { readonly id: string; readonly secretHex: string } | undefined;
}

/** How often the keyring file is checked for changes (key rotation without a restart). */
const KEYRING_POLL_MS = 1000;

export class Daemon {
  readonly config: Config;
  readonly log: Logger;
  readonly stats = new ServerStats();
  readonly keyring: Keyring;
  readonly keyringPath: string;
  readonly store: VectorStore;
  private readonly envKey: DaemonOptions['envKey'];
  private readonly dispatcher = new Dispatcher();
  private readonly registry: ConnectionRegistry;
  private readonly listener: TcpListener;
  private readonly metrics: Metrics;
  private readonly side: SideServer;
  private readonly startedAt = Date.now();
  private embedder: Embedder | null = null;
  private engine: ContextEngine | null = null;
  private gc: GarbageCollector | null = null;
  private shuttingDown = false;
  private storeOpen = false;

  constructor(opts: DaemonOptions) {
    this.config = opts.config;
    this.log = opts.log;
    this.envKey = opts.envKey;
    const { config, log } = this;
    this.keyringPath = config.auth.keyring_file || defaultKeyringPath(config.data_dir);
    const { keyring, generatedAt } = loadKeyring({ keyringPath: this.keyringPath, envKey: opts.envKey });
    this.keyring = keyring;
    if (generatedAt) log.warn({ keyring: generatedAt }, 'no key configured: generated an admin key (mode 0600); clients and the CLI read it from there');
    log.info({ keys: keyring.size, keyring: this.keyringPath }, 'keyring loaded');

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
    const dispatcher = this.dispatcher;
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
    this.metrics = new Metrics({
      server: this.stats,
      store: () => (this.storeOpen ? this.store : null),
      embedder: () => this.embedder,
      gc: () => this.gc?.totals ?? null,
      engine: () => this.engine?.deps.counters ?? null,
      commits: () => (this.store instanceof EmbeddedStore ? this.store.commitStats : undefined),
    });
    this.stats.onRequestTimed = (op, seconds) => this.metrics.observe(op, seconds);
    this.side = new SideServer({ log, metrics: this.metrics, health: () => this.health(), version: VERSION, startedAt: this.startedAt });
  }

  /** Opens the store, starts the embedder and GC, registers the context ops. */
  private async startEngine(): Promise<void> {
    const { config, log } = this;
    const opened = performance.now();
    await this.store.open();
    this.storeOpen = true;
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
    this.engine = engine;
    this.gc = new GarbageCollector(engine.deps);
    this.gc.start();
  }

  /** The side server comes up first, so probes answer (not ready) while the store loads. */
  async start(): Promise<{ tcp: AddressInfo; http: AddressInfo }> {
    try {
      const http = await this.side.listen(this.config.http.host, this.config.http.port);
      this.log.info({ host: http.address, port: http.port }, 'http listening');
      await this.startEngine();
      const tcp = await this.listener.listen(this.config.server.host, this.config.server.port);
      this.log.info({ host: tcp.address, port: tcp.port, http_port: http.port, version: VERSION }, 'listening');
      watchFile(this.keyringPath, { interval: KEYRING_POLL_MS }, () => this.reloadKeys('keyring file changed'));
      return { tcp, http };
    } catch (e) {
      // Release what did start (worker threads, timers, the database) so the process can exit.
      await this.stopComponents();
      throw e;
    }
  }

  /** Re-reads the keyring (file and environment): keys added are live at once, keys removed are refused. */
  reloadKeys(why: string): void {
    try {
      const records = collectKeyRecords({ keyringPath: this.keyringPath, envKey: this.envKey });
      if (records.length === 0) {
        this.log.error({ why }, 'keyring reload found no keys; keeping the current ones');
        return;
      }
      this.keyring.replace(records);
      this.log.info({ why, keys: records.length }, 'keyring reloaded');
    } catch (e) {
      this.log.error({ why, err: (e as Error).message }, 'keyring reload failed; keeping the current keys');
    }
  }

  health(): HealthReport {
    const store = this.store.health();
    const listening = this.listener.listening;
    const components: HealthReport['components'] = {
      store: { ok: this.storeOpen && store.ok, backend: this.store.name, detail: store.detail },
      embedder: { ok: this.embedder !== null, kind: this.config.embedder.kind, dims: this.config.embedder.dims, tokenizer: this.config.embedder.tokenizer },
      index: { ok: this.storeOpen, ann_threshold: this.config.store.ann_threshold },
      listener: { ok: listening && !this.shuttingDown, connections: this.registry.size },
      worker_pool: { ok: this.embedder !== null, threads: this.embedder?.threads ?? 0, queue: this.embedder?.queueSize ?? 0 },
    };
    const reason = this.shuttingDown ? 'shutting down' : !components.store!.ok ? 'store not open' : !listening ? 'listener not accepting' : '';
    return { ready: reason === '', reason, components };
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /**
   * Graceful stop: readiness turns 503 at once, the listener stops accepting,
   * new requests get SHUTTING_DOWN, in-flight ones get the deadline to finish,
   * pending writes are committed and the store closed.
   */
  async shutdown(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.log.info({ deadline_ms: this.config.server.shutdown_deadline_ms }, 'shutting down');
    unwatchFile(this.keyringPath);
    const stopped = this.listener.stopAccepting();
    const drained = await this.registry.drain(this.config.server.shutdown_deadline_ms);
    if (!drained) this.log.warn('shutdown deadline passed with requests still in flight');
    await this.registry.closeAll(1000);
    await stopped;
    await this.stopComponents();
    this.log.info('stopped');
  }

  private async stopComponents(): Promise<void> {
    await this.gc?.stop();
    await this.engine?.flush();
    await this.store.close();
    this.storeOpen = false;
    await this.embedder?.close();
    await this.side.close();
  }
}
