/**
 * The composition root: builds every part from the frozen config and wires
 * them together. Nothing else constructs long-lived components.
 */
import { watchFile, unwatchFile } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { TlsContext, type TlsSettings } from './server/tls-context.ts';
import { AuditLog } from './audit/audit-log.ts';
import { collectKeyRecords, loadKeyring, type Keyring } from './auth/keyring.ts';
import { defaultKeyringPath } from './auth/keyring-file.ts';
import type { Config } from './config/schema.ts';
import { ConfigError } from './config/load.ts';
import { contextAnswerBytes } from './server/handlers/context-view.ts';
import { ContextEngine } from './engine/context-engine.ts';
import { GarbageCollector } from './engine/gc.ts';
import { createTextAnalyzer, minRelevanceOf, spaceOf, type EmbedderSecrets } from './engine/text/registry.ts';
import type { TextAnalyzer } from './engine/text/text-analyzer.ts';
import { BreakerRegistry } from './resilience/breaker.ts';
import { spaceLabel } from './domain/vector-space.ts';
import { SideServer, type HealthReport } from './http/side-server.ts';
import type { Logger } from './log.ts';
import { Metrics } from './metrics/metrics.ts';
import { SharedByteBudget } from './server/byte-budget.ts';
import { GlobalAnswerBudget } from './server/answer-budget.ts';
import { debugHoldHandler, HoldGate } from './server/handlers/debug-hold.ts';
import { checkPlainValue } from './protocol/plain-value.ts';
import { REQUEST_LIMITS } from './protocol/codec.ts';
import { dataDirMode, ensureDataDir, tooOpen } from './store/embedded/data-files.ts';
import { SNAPSHOT_FILE } from './store/embedded/index-snapshot.ts';
import { ConnectionRegistry } from './server/connection-registry.ts';
import { warmValidators } from './server/validation.ts';
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
import { backupHandler } from './server/handlers/backup.ts';
import { rekeyHandler } from './server/handlers/rekey.ts';
import { InvalidRequestError } from './domain/errors.ts';
import type { DataKeys } from './store/encryption/data-keys.ts';
import { exportHandler } from './server/handlers/export.ts';
import { importHandler } from './server/handlers/import.ts';
import { purgeHandler } from './server/handlers/purge.ts';
import { endSessionHandler, listSessionsHandler } from './server/handlers/sessions.ts';
import { RateLimiter } from './server/rate-limiter.ts';
import { RejectionLog } from './server/rejection-log.ts';
import { RETRY_AFTER_MS } from './server/admission.ts';
import { ReplayGuard } from './server/replay-guard.ts';
import { ServerStats } from './server/stats.ts';
import { TcpListener } from './server/tcp-listener.ts';
import { createStore } from './store/create-store.ts';
import type { StoreBackend } from './store/backend.ts';
import type { VectorStore } from './store/vector-store.ts';
import { VERSION } from './version.ts';

export interface DaemonOptions {
  readonly config: Config;
  readonly log: Logger;
  /** CTXD_KEY_ID / CTXD_KEY_SECRET, read by the CLI. */
  readonly envKey?: { readonly id: string; readonly secretHex: string } | undefined;
  /** Secrets of dependencies, read from the environment by the CLI (never logged). */
  readonly secrets?: EmbedderSecrets;
  /** The Qdrant API key (the variable store.qdrant.api_key_env names), read by the CLI; never logged. */
  readonly qdrantApiKey?: string | null;
  /** Reads the data keys of encryption at rest (config `encryption`): at start, and again on each `rekey`. Null: stored in the clear. */
  readonly dataKeys?: () => DataKeys | null;
}

/** What /health/deps reads and embeds: names no tenant can have (tenant names start with a letter or digit). */
const HEALTH_PROBE_TENANT = '\u0000health';
const HEALTH_PROBE_ID = 'health-probe';
const HEALTH_PROBE_TEXT = 'ctxd health probe';
/** How long one /health/deps probe answers for. */
const DEPS_PROBE_REUSE_MS = 5_000;

/** How often the keyring file is checked for changes (key rotation without a restart). */
const KEYRING_POLL_MS = 1000;
/** Quarantined records logged one by one at start; the rest are counted. */
const QUARANTINE_LOG_LINES = 20;
/** How long closing connections get to take their last answers and diagnostic before they are destroyed. */
const CLOSE_GRACE_MS = 1000;

/** Today's wire rules applied to records stored by older versions: failures are quarantined at load. */
function admitStoredRecord(record: { tags: unknown; metadata: unknown }): string | null {
  const tags = checkPlainValue(record.tags, REQUEST_LIMITS);
  if (tags) return `tags${tags.path ? `.${tags.path}` : ''}: ${tags.message}`;
  if (!Array.isArray(record.tags) || record.tags.some((t) => typeof t !== 'string')) return 'tags: not a list of strings';
  const metadata = checkPlainValue(record.metadata, REQUEST_LIMITS);
  if (metadata) return `metadata${metadata.path ? `.${metadata.path}` : ''}: ${metadata.message}`;
  if (record.metadata === null || typeof record.metadata !== 'object' || Array.isArray(record.metadata)) return 'metadata: not a map';
  return null;
}

export class Daemon {
  readonly config: Config;
  readonly log: Logger;
  readonly stats = new ServerStats();
  readonly keyring: Keyring;
  readonly keyringPath: string;
  private readonly tls: TlsContext | undefined;
  private depsProbe: { at: number; result: Promise<HealthReport['components']> } | null = null;
  readonly backend: StoreBackend;
  private readonly envKey: DaemonOptions['envKey'];
  private readonly dispatcher: Dispatcher;
  private readonly audit: AuditLog | null;
  private readonly registry: ConnectionRegistry;
  private readonly listener: TcpListener;
  private readonly metrics: Metrics;
  private readonly side: SideServer;
  private readonly startedAt = Date.now();
  private readonly replay: ReplayGuard;
  private readonly answers: GlobalAnswerBudget;
  /** Bytes held for incomplete frames, before and after authentication (PROTOCOL.md §2.3). */
  private readonly partialFrames: { preauth: SharedByteBudget; main: SharedByteBudget };
  private readonly holds = new HoldGate();
  private journalTimer: NodeJS.Timeout | null = null;
  private text: TextAnalyzer | null = null;
  readonly breakers = new BreakerRegistry();
  private readonly secrets: EmbedderSecrets;
  private readonly readDataKeys: () => DataKeys | null;
  private engine: ContextEngine | null = null;
  private gc: GarbageCollector | null = null;
  private shuttingDown = false;
  private storeOpen = false;

  private get store(): VectorStore {
    return this.backend.store;
  }

  constructor(opts: DaemonOptions) {
    this.config = opts.config;
    this.log = opts.log;
    this.envKey = opts.envKey;
    this.secrets = opts.secrets ?? { openaiApiKey: null };
    const { config, log } = this;
    // One whole context must fit in an answer frame (get, update, a list page of one).
    const oneContext = contextAnswerBytes(config) + 1024;
    if (config.protocol.max_frame_bytes < oneContext) {
      throw new ConfigError(`config: protocol.max_frame_bytes (${config.protocol.max_frame_bytes}) is too small for one context of engine.max_text_bytes and engine.max_metadata_bytes (needs ${oneContext})`);
    }
    // Created 0700 before anything writes into it (the keyring, the store).
    ensureDataDir(config.data_dir);
    this.keyringPath = config.auth.keyring_file || defaultKeyringPath(config.data_dir);
    const { keyring, generatedAt } = loadKeyring({ keyringPath: this.keyringPath, envKey: opts.envKey });
    this.keyring = keyring;
    const auditFile = config.audit.file === 'off' ? null : config.audit.file || join(config.data_dir, 'audit.log');
    const audit = auditFile ? new AuditLog({ file: auditFile, maxBytes: config.audit.max_bytes, keep: config.audit.keep }) : null;
    this.audit = audit;
    this.dispatcher = new Dispatcher(audit ? (r) => audit.op(r) : undefined);
    if (generatedAt) log.warn({ keyring: generatedAt }, 'no key configured: generated an admin key (mode 0600); clients and the CLI read it from there');
    log.info({ keys: keyring.size, keyring: this.keyringPath }, 'keyring loaded');

    let quarantineLines = 0;
    const mode = dataDirMode(config.data_dir);
    if (mode !== null && tooOpen(mode)) log.warn({ data_dir: config.data_dir, mode: mode.toString(8) }, 'data dir is readable by group or others; contexts are private data (chmod 700)');
    const readDataKeys = opts.dataKeys ?? (() => null);
    const dataKeys = readDataKeys();
    this.readDataKeys = readDataKeys;
    if (dataKeys) log.info({ active_kid: dataKeys.active, keys: dataKeys.keys.size }, 'encryption at rest: contexts are sealed with AES-256-GCM');
    this.backend = createStore({
      config,
      dataKeys,
      breakers: this.breakers,
      qdrantApiKey: opts.qdrantApiKey ?? null,
      // Graphs of big partitions are built after the listener opens; exact search serves until this line.
      onGraphsBuilt: () => log.info({ ms: Date.now() - this.startedAt, detail: this.store.health().detail }, 'ann graphs built'),
      onGraphFiles: (e) => {
        const { kind, ...fields } = e;
        if (kind === 'save_failed') log.error(fields, 'ann graphs not saved: the next start rebuilds them');
        else if (kind === 'remove_failed') log.error(fields, 'saved ann graphs (vectors in the clear) could not be removed: remove the ann directory of the data dir');
        else if (kind === 'loaded' && e.refused.length > 0) log.warn(fields, 'ann graphs loaded from disk; refused ones are rebuilt');
        else log.info(fields, `ann graphs ${kind}`);
      },
      onSnapshot: (e) => {
        const { kind, ...fields } = e;
        if (kind === 'save_failed') log.error(fields, 'index snapshot not saved: the next start reads every row from the database');
        else if (kind === 'remove_failed') log.error(fields, `index snapshot (rows in the clear) could not be removed: remove ${SNAPSHOT_FILE} from the data dir`);
        else if (kind === 'refused') log.warn(fields, 'index snapshot not used: rows read from the database');
        else if (kind === 'skipped') log.warn(fields, 'index snapshot not saved');
        else log.info(fields, `index snapshot ${kind}`);
      },
      onTermsStored: (e) => {
        if (e.error !== undefined) log.warn(e, 'lexical terms of loaded rows partly stored: the rest are hashed again at the next start');
        else log.info(e, 'lexical terms of loaded rows stored');
      },
      admit: admitStoredRecord,
      // The first few one by one; the count is in the 'store open' line, /health and the metrics.
      onQuarantine: (q) => {
        if (++quarantineLines <= QUARANTINE_LOG_LINES) log.error({ id: q.id, tenant: q.tenant, reason: q.reason }, 'stored record quarantined: kept on disk, never served');
      },
    });
    const dispatcher = this.dispatcher;
    dispatcher.register(helloHandler(config, VERSION, () => dispatcher.ops())).register(pingHandler());
    if (config.debug.enable_ops) dispatcher.register(debugHoldHandler(this.holds));
    this.replay = new ReplayGuard({ skewMs: config.protocol.max_skew_ms, maxIdsPerKey: config.protocol.replay_max_ids_per_key });
    this.answers = new GlobalAnswerBudget(config.server.answer_queue_bytes_total);
    this.partialFrames = { preauth: new SharedByteBudget(config.server.preauth_buffered_bytes), main: new SharedByteBudget(config.server.max_buffered_bytes) };
    const journal = this.backend.journal;
    this.registry = new ConnectionRegistry({
      config,
      keyring,
      replay: this.replay,
      rateLimiter: config.server.rate_limit_rps > 0 ? new RateLimiter(config.server.rate_limit_rps, config.server.rate_limit_burst) : undefined,
      dispatcher,
      budgets: this.partialFrames,
      answers: this.answers,
      rejections: new RejectionLog(log),
      onAuthFailure: audit ? (remote, code) => audit.authFailure(remote, code) : undefined,
      journal: (kid, id, ts) => journal.recordRequest(kid, id, ts),
      stats: this.stats,
      log,
      isShuttingDown: () => this.shuttingDown,
    });
    this.tls = config.tls.cert_file ? loadTls(config.tls) : undefined;
    this.listener = new TcpListener(this.registry, {
      tls: this.tls,
      handshakeTimeoutMs: config.server.handshake_timeout_ms,
      maxPending: config.server.max_unauthenticated_connections,
      // Failed handshakes are counted per kind of failure, not logged one by one (a scanner would flood the log).
      onTlsError: (remote, message) => {
        log.debug({ remote, err: message }, 'tls handshake failed');
        audit?.authFailure(remote, message.startsWith('client certificate') ? 'CLIENT_CERTIFICATE' : 'TLS_HANDSHAKE');
      },
    });
    this.metrics = new Metrics({
      server: this.stats,
      store: () => (this.storeOpen ? this.store : null),
      text: () => this.text,
      breakers: () => this.breakers.all(),
      gc: () => this.gc?.totals ?? null,
      engine: () => this.engine?.deps.counters ?? null,
      commits: () => this.backend.commitStats(),
      textCache: () => this.backend.textCache(),
      limits: () => ({
        answerQueuedBytes: this.answers.bytes,
        answerQueuedLimit: this.answers.limit,
        partialFrameBytes: this.partialFrames.preauth.bytesInUse + this.partialFrames.main.bytesInUse,
        unauthenticatedConnections: this.registry.unauthenticatedCount,
        replayIds: this.replay.size,
        quarantinedRecords: this.backend.quarantined().count,
      }),
      ready: () => this.health().ready,
      quotaHighWater: async () => (this.engine && this.storeOpen ? this.engine.deps.quotas.highWater(await this.store.tenants()) : { contexts: 0, textBytes: 0 }),
    });
    this.stats.onRequestTimed = (op, seconds) => this.metrics.observe(op, seconds);
    this.side = new SideServer({ log, metrics: this.metrics, health: () => this.health(), dependencies: () => this.dependencies(), version: VERSION, startedAt: this.startedAt });
  }

  /** Opens the store, starts the embedder and GC, registers the context ops. */
  private async startEngine(): Promise<void> {
    const { config, log } = this;
    const opened = performance.now();
    await this.store.open();
    this.storeOpen = true;
    log.info({ backend: this.store.name, ms: Math.round(performance.now() - opened), detail: this.store.health().detail, quarantined: this.backend.quarantined().count }, 'store open');
    const sealed = this.backend.sealing?.state() ?? null;
    if (sealed && sealed.remaining > 0) log.warn({ active_kid: sealed.active_kid, rows: sealed.remaining }, 'rows are in the clear or under another data key: run ctxd rekey to seal them with the active one');
    this.loadJournal();
    const started = performance.now();
    this.text = await createTextAnalyzer({
      config,
      secrets: this.secrets,
      breakers: this.breakers,
      // The cause only: it never holds texts or the API key (openai-embedder.ts sanitises its messages).
      onFailure: (err) => log.warn({ embedder: config.embedder.kind, err: err instanceof Error ? err.message : String(err) }, 'embedding failed'),
    });
    for (const breaker of this.breakers.all()) {
      breaker.onTransition((state) => log.warn({ dependency: breaker.name, state }, 'circuit breaker changed state'));
    }
    log.info({ embedder: spaceLabel(this.text.identity), threads: this.text.embedder.threads, ms: Math.round(performance.now() - started) }, 'embedder ready');
    const engine = new ContextEngine({
      store: this.store,
      text: this.text,
      minRelevance: minRelevanceOf(config),
      config,
      recentTurnsBytes: this.backend.recentTurnsBytes,
      onBackgroundError: (what, err) => log.error({ what, err: err instanceof Error ? err.message : String(err) }, 'background work failed'),
    });
    this.dispatcher
      .register(storeHandler(engine, config))
      .register(storeBatchHandler(engine, config))
      .register(retrieveHandler(engine, config))
      .register(getHandler(engine, config))
      .register(updateHandler(engine, config))
      .register(deleteHandler(engine))
      .register(deleteWhereHandler(engine))
      .register(clearHandler(engine))
      .register(listHandler(engine, config))
      .register(statsHandler(engine))
      .register(endSessionHandler(engine))
      .register(listSessionsHandler(engine))
      .register(exportHandler(engine, config))
      .register(importHandler(engine, config))
      .register(purgeHandler(engine, this.backend.journal, (tenant) => this.keyring.kidsOf(tenant), config.protocol.max_skew_ms));
    // Ops a backend cannot serve are not registered (UNKNOWN_OP), e.g. backup and rekey with Qdrant (PRODUCTION.md "Scaling out").
    const { backup, sealing } = this.backend;
    if (backup) this.dispatcher.register(backupHandler({ backup: () => backup(config.store.backup_dir || join(config.data_dir, 'backups')) }));
    if (sealing) this.dispatcher.register(rekeyHandler({ rekey: (after, limit, drop) => this.rekey(sealing, after, limit, drop) }));
    this.engine = engine;
    this.gc = new GarbageCollector(engine.deps);
    this.gc.start();
  }

  /** A `rekey` step with the data keys as they are now (a changed key file takes effect here). */
  private async rekey(sealing: NonNullable<StoreBackend['sealing']>, after: string | null, limit: number, dropUnreadable: boolean) {
    let keys: DataKeys | null;
    try {
      keys = this.readDataKeys();
    } catch (e) {
      throw new InvalidRequestError('encryption', (e as Error).message);
    }
    const step = await sealing.rekey(keys, after, limit, { dropUnreadable });
    this.log.info({ active_kid: step.active_kid, resealed: step.resealed, unreadable: step.unreadable, dropped: step.dropped, remaining: step.remaining }, 'rekey step');
    if (step.compact.error) this.log.error({ err: step.compact.error }, 'rekey: the data file could not be rebuilt; bytes from before the re-seal may remain until the next pass');
    return step;
  }

  /** The side server comes up first, so probes answer (not ready) while the store loads. */
  async start(): Promise<{ tcp: AddressInfo; http: AddressInfo }> {
    try {
      const http = await this.side.listen(this.config.http.host, this.config.http.port);
      this.log.info({ host: http.address, port: http.port }, 'http listening');
      await this.startEngine();
      const tcp = await this.listener.listen(this.config.server.host, this.config.server.port);
      this.log.info({ host: tcp.address, port: tcp.port, http_port: http.port, version: VERSION }, 'listening');
      // Schemas no request has needed yet are compiled from the next turn on, one per turn, not before the listener opened.
      setImmediate(warmValidators).unref();
      watchFile(this.keyringPath, { interval: KEYRING_POLL_MS }, () => this.reloadKeys('keyring file changed'));
      for (const file of this.tls?.files ?? []) watchFile(file, { interval: KEYRING_POLL_MS }, () => this.reloadTls(file));
      return { tcp, http };
    } catch (e) {
      // Release what did start (worker threads, timers, the database) so the process can exit.
      await this.stopComponents();
      throw e;
    }
  }

  /**
   * Replay protection across restarts (PROTOCOL.md §4.3): ids of mutating
   * requests accepted within the last 2 × skew are remembered again before the
   * listener opens; the journal is pruned as ids age out of the window.
   */
  private loadJournal(): void {
    const skew = this.config.protocol.max_skew_ms;
    const now = Date.now();
    const recent = this.backend.journal.recentRequests(now - 2 * skew);
    for (const r of recent) this.replay.preload(r.kid, r.id, now);
    this.log.info({ ids: recent.length }, 'replay window restored from the request journal');
    this.journalTimer = setInterval(() => {
      const at = Date.now();
      this.replay.sweep(at);
      this.backend.journal.pruneRequests(at - 3 * skew).catch((e: unknown) => this.log.warn({ err: (e as Error).message }, 'request journal prune failed'));
    }, skew);
    this.journalTimer.unref();
  }

  /** Opens the gate of every held debug_hold request. */
  releaseHolds(): void {
    this.holds.releaseAll();
  }

  /** Re-reads the keyring (file and environment): keys added are live at once, keys removed are refused. */
  /** New certificates serve new connections; open ones keep theirs. A bad file keeps the old ones, loudly. */
  private reloadTls(file: string): void {
    try {
      this.tls!.reload();
      this.log.info({ file }, 'tls certificates reloaded');
    } catch (e) {
      this.log.error({ file, err: (e as Error).message }, 'tls certificates not reloaded: kept the previous ones');
    }
  }

  reloadKeys(why: string): void {
    try {
      const records = collectKeyRecords({ keyringPath: this.keyringPath, envKey: this.envKey });
      if (records.length === 0) {
        this.log.error({ why }, 'keyring reload found no keys; keeping the current ones');
        return;
      }
      const before = new Set(this.keyring.kids());
      this.keyring.replace(records);
      const after = new Set(this.keyring.kids());
      this.audit?.keysChanged([...after].filter((k) => !before.has(k)), [...before].filter((k) => !after.has(k)));
      this.log.info({ why, keys: records.length }, 'keyring reloaded');
    } catch (e) {
      this.log.error({ why, err: (e as Error).message }, 'keyring reload failed; keeping the current keys');
    }
  }

  health(): HealthReport {
    const store = this.store.health();
    const listening = this.listener.listening;
    const quarantined = this.backend.quarantined();
    // A remote store's open breaker shows here but leaves the daemon ready: writes fail fast with
    // UNAVAILABLE and retrieves answer degraded, which beats every replica leaving the Service at once.
    const storeBreaker = this.breakers.all().find((b) => b.name === 'store');
    const components: HealthReport['components'] = {
      store: {
        ok: this.storeOpen && store.ok && storeBreaker?.state !== 'open',
        backend: this.store.name,
        detail: store.detail,
        ...(storeBreaker && { breaker: storeBreaker.state }),
        quarantined: quarantined.count,
        quarantine_sample: quarantined.sample,
      },
      embedder: this.embedderHealth(),
      index: { ok: this.storeOpen, ann_threshold: this.config.store.ann_threshold },
      listener: { ok: listening && !this.shuttingDown, connections: this.registry.size },
      worker_pool: { ok: this.text !== null, threads: this.text?.threads ?? 0, queue: this.text?.queueSize ?? 0 },
      ...(this.audit && { audit: { ok: this.audit.lastError === null, ...(this.audit.lastError && { error: this.audit.lastError }) } }),
      breakers: { ok: this.breakers.all().every((b) => b.state !== 'open'), ...Object.fromEntries(this.breakers.all().map((b) => [b.name, b.state])) },
    };
    const reason = this.shuttingDown ? 'shutting down' : !this.storeOpen ? 'store not open' : !store.ok ? `store unavailable: ${store.detail}` : !listening ? 'listener not accepting' : '';
    return { ready: reason === '', reason, components };
  }

  /**
   * /health/deps: each dependency's state, and for the store and the embedder
   * a round trip measured now (a read of the database; a short text embedded,
   * except by the openai embedder, whose calls cost money and count against
   * its rate limit: its breaker state stands for it).
   */
  dependencies(): Promise<HealthReport['components']> {
    // One probe at a time, its result reused for a few seconds: the side port is unauthenticated, and a probe
    // queues work beside the stores (an embedding with the local model).
    const now = Date.now();
    if (!this.depsProbe || now - this.depsProbe.at > DEPS_PROBE_REUSE_MS) this.depsProbe = { at: now, result: this.probeDependencies() };
    return this.depsProbe.result;
  }

  private async probeDependencies(): Promise<HealthReport['components']> {
    const { components } = this.health();
    const timed = async (probe: () => Promise<unknown>): Promise<{ latency_ms: number } | { latency_ms: number; error: string }> => {
      const t = performance.now();
      try {
        await probe();
        return { latency_ms: Math.round((performance.now() - t) * 1000) / 1000 };
      } catch (e) {
        return { latency_ms: Math.round((performance.now() - t) * 1000) / 1000, error: (e as Error).message };
      }
    };
    const store = this.storeOpen ? await timed(() => this.store.get(HEALTH_PROBE_TENANT, [HEALTH_PROBE_ID])) : { error: 'not open' };
    const text = this.text;
    const embedder = text && this.config.embedder.kind !== 'openai' ? await timed(() => text.embedTexts([HEALTH_PROBE_TEXT])) : {};
    return {
      ...components,
      store: { ...components.store!, ...store, ok: components.store!.ok && !('error' in store) },
      embedder: { ...components.embedder!, ...embedder, ok: components.embedder!.ok && !('error' in embedder) },
    };
  }

  /**
   * The embedder's state. An open breaker does not make the daemon unready:
   * retrieves still answer (degraded, from the words) and stores get a
   * retryable UNAVAILABLE; a restart would not help.
   */
  private embedderHealth(): HealthReport['components'][string] {
    const space = spaceOf(this.config);
    const breaker = this.breakers.all().find((b) => b.name === 'embedder');
    return {
      ok: this.text !== null && (breaker?.state ?? 'closed') !== 'open',
      kind: space.kind,
      model: space.model,
      dims: space.dims,
      tokenizer: this.config.embedder.tokenizer,
      ...(breaker && { breaker: breaker.state }),
      ...(this.text && { failures: this.text.stats.failures }),
    };
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
    for (const file of this.tls?.files ?? []) unwatchFile(file);
    const stopped = this.listener.stopAccepting();
    const drained = await this.registry.drain(this.config.server.shutdown_deadline_ms);
    if (!drained) this.log.warn('shutdown deadline passed with requests still in flight');
    await this.registry.closeAll(CLOSE_GRACE_MS, { code: 'SHUTTING_DOWN', message: 'the server is shutting down', retryAfterMs: RETRY_AFTER_MS });
    await stopped;
    await this.stopComponents();
    this.log.info('stopped');
  }

  private async stopComponents(): Promise<void> {
    if (this.journalTimer) clearInterval(this.journalTimer);
    await this.gc?.stop();
    await this.engine?.flush();
    await this.store.close();
    this.storeOpen = false;
    await this.text?.close();
    for (const b of this.breakers.all()) b.shutdown();
    await this.side.close();
    this.audit?.close();
  }
}

/** The configured certificates, or one line saying why they cannot serve (exit 2, like any configuration error). */
function loadTls(settings: TlsSettings): TlsContext {
  try {
    return new TlsContext(settings);
  } catch (e) {
    throw new ConfigError(`config: tls: cannot use the certificate files: ${(e as Error).message}`);
  }
}
