/**
 * Garbage collection of expiring contexts. Each pass, per tenant: end idle
 * sessions' working memory (sessions.ts), promote to
 * L3 every L2 context retrieved at least `promote_after` times (instead of
 * letting it expire), then delete everything past its expiry. Work is done in
 * bounded batches with a turn of the event loop between them, so a large
 * collection does not stall requests.
 */
import type { EngineDeps } from './engine-deps.ts';
import { endIdleSessions } from './sessions.ts';

export interface GcPass {
  promoted: number;
  deleted: number;
  /** Idle sessions whose working memory was ended (sessions.ts). */
  sessionsEnded: number;
}

export interface GcTotals extends GcPass {
  passes: number;
}

const nextTurn = () => new Promise<void>((r) => setImmediate(r));
/** GC's reads are not queued behind a tenant's requests: a tenant keeping scans in flight delayed every tenant's pass. */
const BACKGROUND = { background: true } as const;

export async function collectGarbage(deps: EngineDeps): Promise<GcPass> {
  const { store, config } = deps;
  const batch = config.engine.gc_batch_size;
  const pass: GcPass = { promoted: 0, deleted: 0, sessionsEnded: 0 };
  const idle = deps.config.session.idle_ttl_s;
  // Promotion decides on access counts: write the pending ones first.
  await deps.access.flush();
  for (const tenant of await store.tenants()) {
    if (idle > 0) pass.sessionsEnded += await endIdleSessions(deps, tenant, idle * 1000, deps.config.session.on_idle);
    for (;;) {
      const due = await store.find(tenant, { levels: [2], minAccessCount: config.engine.promote_after }, batch, BACKGROUND);
      if (due.length === 0) break;
      await Promise.all(due.map((m) => store.patch(tenant, m.id, { level: 3, expiresAt: null })));
      pass.promoted += due.length;
      await nextTurn();
    }
    for (;;) {
      const now = deps.now();
      const expired = await store.find(tenant, { expiredBy: now }, batch, BACKGROUND);
      if (expired.length === 0) break;
      pass.deleted += await store.delete(tenant, expired.map((m) => m.id));
      await nextTurn();
    }
  }
  return pass;
}

/** Runs collectGarbage every `gc_interval_s`, one pass at a time. */
export class GarbageCollector {
  private readonly deps: EngineDeps;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  readonly totals: GcTotals = { passes: 0, promoted: 0, deleted: 0, sessionsEnded: 0 };

  constructor(deps: EngineDeps) {
    this.deps = deps;
  }

  start(): void {
    const ms = this.deps.config.engine.gc_interval_s * 1000;
    this.timer = setInterval(() => {
      if (!this.running) this.running = this.runOnce().then(() => {}).finally(() => (this.running = null));
    }, ms);
    this.timer.unref();
  }

  async runOnce(): Promise<GcPass> {
    try {
      const pass = await collectGarbage(this.deps);
      this.totals.passes++;
      this.totals.promoted += pass.promoted;
      this.totals.deleted += pass.deleted;
      this.totals.sessionsEnded += pass.sessionsEnded;
      return pass;
    } catch (e) {
      this.deps.onBackgroundError('gc', e);
      return { promoted: 0, deleted: 0, sessionsEnded: 0 };
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
