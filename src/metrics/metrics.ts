/**
 * Prometheus metrics (prom-client). The hot path only bumps plain counters in
 * ServerStats and friends; they are read here at scrape time, so a request
 * pays for one histogram observation and no label lookups.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ALL_ERROR_CODES } from '../protocol/errors.ts';
import type { ServerStats } from '../server/stats.ts';
import type { VectorStore } from '../store/vector-store.ts';
import type { TextAnalyzer } from '../engine/text/text-analyzer.ts';
import type { Breaker, BreakerState } from '../resilience/breaker.ts';
import type { GcTotals } from '../engine/gc.ts';
import type { EngineCounters } from '../engine/engine-deps.ts';

export interface MetricSources {
  readonly server: ServerStats;
  readonly store: () => VectorStore | null;
  readonly text: () => TextAnalyzer | null;
  /** Every circuit breaker (one per remote dependency). */
  readonly breakers: () => readonly Breaker[];
  readonly gc: () => GcTotals | null;
  readonly engine: () => EngineCounters | null;
  readonly commits: () => { groups: number; writes: number; unavailableWrites?: number; diskFull?: number } | undefined;
  readonly textCache: () => { readonly hits: number; readonly misses: number; readonly bytes: number } | undefined;
  /** Bounds the connection layer holds (read at scrape time). */
  readonly limits: () => LimitReadings;
  /** Whether /health/ready would answer 200. */
  readonly ready: () => boolean;
  /** The highest share of its quota any tenant uses, per quota (QuotaGuard.highWater). */
  readonly quotaHighWater: () => Promise<{ contexts: number; textBytes: number }>;
}

export interface LimitReadings {
  readonly answerQueuedBytes: number;
  readonly answerQueuedLimit: number;
  readonly partialFrameBytes: number;
  readonly unauthenticatedConnections: number;
  readonly replayIds: number;
  readonly quarantinedRecords: number;
}

function gauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

type Labels = Record<string, string>;

const BREAKER_STATES: readonly BreakerState[] = ['closed', 'half_open', 'open'];
const BREAKER_STATE_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

/** A counter whose value lives elsewhere: at each scrape it is advanced by what was added since. */
function mirroredCounter(registry: Registry, name: string, help: string, labelNames: string[], read: () => Iterable<[Labels, number]>): void {
  const last = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      for (const [labels, value] of read()) {
        const key = JSON.stringify(labels);
        const delta = value - (last.get(key) ?? 0);
        if (delta > 0) this.inc(labels, delta);
        else if (!last.has(key)) this.inc(labels, 0);
        last.set(key, value);
      }
    },
  });
}

const one = (value: number | undefined): Iterable<[Labels, number]> => [[{}, value ?? 0]];

export class Metrics {
  readonly registry = new Registry();
  private readonly durations: Histogram<'op'>;
  private readonly byOp = new Map<string, ReturnType<Histogram<'op'>['labels']>>();

  constructor(src: MetricSources) {
    const r = this.registry;
    collectDefaultMetrics({ register: r, eventLoopMonitoringPrecision: 10 });
    this.durations = new Histogram({
      name: 'ctxd_request_duration_seconds',
      help: 'Time from a request being dispatched to its answer being queued, by op.',
      labelNames: ['op'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [r],
    });
    mirroredCounter(r, 'ctxd_requests_total', 'Requests answered, by op and outcome (ok or an error code).', ['op', 'outcome'], function* () {
      for (const [op, outcomes] of src.server.requests) for (const [outcome, n] of outcomes) yield [{ op, outcome }, n];
    });
    mirroredCounter(r, 'ctxd_frames_rejected_total', 'Frames or requests refused before dispatch, by error code.', ['reason'], function* () {
      for (const code of ALL_ERROR_CODES) yield [{ reason: code }, src.server.framesRejected.get(code) ?? 0];
    });
    mirroredCounter(r, 'ctxd_connections_total', 'Connections accepted.', [], () => one(src.server.connectionsTotal));
    mirroredCounter(r, 'ctxd_connections_refused_total', 'Connections refused with a diagnostic: at max_connections, a plaintext peer on the TLS port, or a client certificate refused.', [], () => one(src.server.connectionsRefused));
    mirroredCounter(r, 'ctxd_received_bytes_total', 'Bytes read from clients.', [], () => one(src.server.bytesIn));
    mirroredCounter(r, 'ctxd_sent_bytes_total', 'Bytes written to clients.', [], () => one(src.server.bytesOut));
    mirroredCounter(r, 'ctxd_gc_deleted_total', 'Expired contexts deleted by garbage collection.', [], () => one(src.gc()?.deleted));
    mirroredCounter(r, 'ctxd_gc_promoted_total', 'L2 contexts promoted to L3 by garbage collection.', [], () => one(src.gc()?.promoted));
    mirroredCounter(r, 'ctxd_gc_sessions_ended_total', 'Idle sessions whose working memory (L1) garbage collection ended.', [], () => one(src.gc()?.sessionsEnded));
    mirroredCounter(r, 'ctxd_gc_passes_total', 'Garbage collection passes completed.', [], () => one(src.gc()?.passes));
    mirroredCounter(r, 'ctxd_dedup_hits_total', 'Stores answered with an existing context instead of a copy.', [], () => one(src.engine()?.dedupHits));
    mirroredCounter(r, 'ctxd_dedup_key_mismatches_total', 'Near-duplicate stores kept apart because their numbers, identifiers or names differ.', [], () => one(src.engine()?.dedupKeyMismatches));
    mirroredCounter(r, 'ctxd_retrieve_degraded_total', 'Retrieves answered from the lexical channel alone (embedder unavailable).', [], () => one(src.engine()?.degradedRetrieves));
    mirroredCounter(r, 'ctxd_embed_cache_hits_total', 'Query embeddings served from the cache.', [], () => one(src.text()?.stats.queryCacheHits));
    mirroredCounter(r, 'ctxd_embed_cache_misses_total', 'Query embeddings computed.', [], () => one(src.text()?.stats.queryCacheMisses));
    mirroredCounter(r, 'ctxd_embed_failures_total', 'Embedding requests (stores or queries) the embedder could not serve.', [], () => one(src.text()?.stats.failures));
    mirroredCounter(r, 'ctxd_embed_calls_total', 'Calls to the embedder (micro-batches).', [], () => one(src.text()?.batches.calls));
    mirroredCounter(r, 'ctxd_embed_texts_total', 'Texts embedded; divided by ctxd_embed_calls_total, the mean micro-batch size.', [], () => one(src.text()?.batches.texts));
    mirroredCounter(r, 'ctxd_text_tasks_total', 'Tokenise (and hash) tasks, by where they ran.', ['where'], () => [
      [{ where: 'inline' }, src.text()?.workerStats.inlineTasks ?? 0],
      [{ where: 'worker' }, src.text()?.workerStats.offloadedTasks ?? 0],
    ]);
    new Gauge({
      name: 'ctxd_breaker_state',
      help: 'Circuit breaker state by dependency: 0 closed, 1 half-open, 2 open.',
      labelNames: ['dependency'],
      registers: [r],
      collect() {
        for (const b of src.breakers()) this.set({ dependency: b.name }, BREAKER_STATE_VALUE[b.state]);
      },
    });
    mirroredCounter(r, 'ctxd_breaker_transitions_total', 'Circuit breaker state changes, by dependency and the state entered.', ['dependency', 'state'], function* () {
      for (const b of src.breakers()) for (const state of BREAKER_STATES) yield [{ dependency: b.name, state }, b.stats.transitions[state]];
    });
    mirroredCounter(r, 'ctxd_breaker_rejections_total', 'Calls refused without trying because the breaker was open.', ['dependency'], function* () {
      for (const b of src.breakers()) yield [{ dependency: b.name }, b.stats.rejections];
    });
    mirroredCounter(r, 'ctxd_store_commit_groups_total', 'Group commits (transactions) of the embedded store.', [], () => one(src.commits()?.groups));
    mirroredCounter(r, 'ctxd_store_commit_writes_total', 'Writes committed by the embedded store.', [], () => one(src.commits()?.writes));
    mirroredCounter(r, 'ctxd_text_cache_hits_total', 'Context texts read from the embedded store\'s cache instead of SQLite.', [], () => one(src.textCache()?.hits));
    mirroredCounter(r, 'ctxd_text_cache_misses_total', 'Context texts not in the embedded store\'s cache, read from SQLite.', [], () => one(src.textCache()?.misses));
    gauge(r, 'ctxd_text_cache_bytes', 'Memory charged to the embedded store\'s cache of texts (bounded by store.text_cache_bytes).', () => src.textCache()?.bytes ?? 0);
    mirroredCounter(r, 'ctxd_store_write_failures_total', 'Writes the store could not commit (answered UNAVAILABLE), by reason.', ['reason'], () => [
      [{ reason: 'disk_full' }, src.commits()?.diskFull ?? 0],
      [{ reason: 'any' }, src.commits()?.unavailableWrites ?? 0],
    ]);
    mirroredCounter(r, 'ctxd_connections_evicted_total', 'Unauthenticated connections closed to make room for new ones.', [], () => one(src.server.connectionsEvicted));
    gauge(r, 'ctxd_answer_queued_bytes', 'Answer bytes queued for peers or reserved by requests in flight, across connections.', () => src.limits().answerQueuedBytes);
    gauge(r, 'ctxd_answer_queued_bytes_limit', 'The bound on ctxd_answer_queued_bytes (server.answer_queue_bytes_total).', () => src.limits().answerQueuedLimit);
    gauge(r, 'ctxd_partial_frame_bytes', 'Bytes held for frames not yet complete, across connections (bounded by server.max_buffered_bytes and preauth_buffered_bytes).', () => src.limits().partialFrameBytes);
    gauge(r, 'ctxd_connections_unauthenticated', 'Open connections that have not sent a verified frame yet.', () => src.limits().unauthenticatedConnections);
    gauge(r, 'ctxd_replay_ids', 'Request ids remembered for replay detection, across keys.', () => src.limits().replayIds);
    gauge(r, 'ctxd_quarantined_records', 'Stored records refused at load (kept on disk, never served).', () => src.limits().quarantinedRecords);
    gauge(r, 'ctxd_connections_open', 'Open client connections.', () => src.server.connectionsOpen);
    gauge(r, 'ctxd_ready', '1 when the daemon is ready to serve (GET /health/ready is 200), else 0.', () => (src.ready() ? 1 : 0));
    new Gauge({
      name: 'ctxd_quota_usage_ratio_max',
      help: 'The highest share of its quota any tenant uses (0..1), by quota; 0 when no tenant has that quota.',
      labelNames: ['quota'],
      registers: [r],
      async collect() {
        // A scrape must answer while the store is away (it is how the outage is seen): the last values stay.
        const high = await src.quotaHighWater().catch(() => null);
        if (!high) return;
        this.set({ quota: 'max_contexts' }, high.contexts);
        this.set({ quota: 'max_text_bytes' }, high.textBytes);
      },
    });
    gauge(r, 'ctxd_worker_queue_depth', 'Texts waiting for the embedder, and tasks waiting for a worker thread.', () => src.text()?.queueSize ?? 0);
    new Gauge({
      name: 'ctxd_contexts',
      help: 'Live contexts, by level, across tenants.',
      labelNames: ['level'],
      registers: [r],
      async collect() {
        const store = src.store();
        const totals = { 1: 0, 2: 0, 3: 0 };
        if (store?.health().ok) {
          const now = Date.now();
          try {
            for (const t of await store.tenants()) {
              const s = await store.stats(t, now);
              totals[1] += s.perLevel[1];
              totals[2] += s.perLevel[2];
              totals[3] += s.perLevel[3];
            }
          } catch {
            return; // the store went away mid-scrape: the last values stay
          }
        }
        for (const level of [1, 2, 3] as const) this.set({ level: String(level) }, totals[level]);
      },
    });
  }

  /** Records one request's duration (seconds); children are cached per op. */
  observe(op: string, seconds: number): void {
    let child = this.byOp.get(op);
    if (!child) this.byOp.set(op, (child = this.durations.labels({ op })));
    child.observe(seconds);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
