/**
 * The side HTTP server (fastify) for Kubernetes probes and Prometheus. It
 * never serves context data: only liveness, readiness, component health and
 * metrics.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics/metrics.ts';

/** Liveness: the process answers; never depends on the store or the embedder (a dependency's outage must not restart pods). */
export const LIVENESS_PATHS = ['/health/live', '/health/liveness'] as const;
/** Readiness: the daemon can serve (PROTOCOL-independent; the k8s manifests probe these, test/unit/k8s-manifests.test.ts). */
export const READINESS_PATHS = ['/health/ready', '/health/readiness'] as const;

export interface ComponentHealth {
  readonly ok: boolean;
  readonly [detail: string]: unknown;
}

export interface HealthReport {
  readonly ready: boolean;
  /** Why not ready (empty when ready). */
  readonly reason: string;
  readonly components: Record<string, ComponentHealth>;
}

export interface SideServerDeps {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly health: () => HealthReport;
  /** Each dependency's state with a measured round trip (GET /health/deps). */
  readonly dependencies: () => Promise<Record<string, ComponentHealth>>;
  readonly version: string;
  readonly startedAt: number;
}

export class SideServer {
  private readonly app: FastifyInstance;

  constructor(deps: SideServerDeps) {
    // Request lines are info-level: a warn-level child keeps probe and scrape traffic out of the logs.
    const app: FastifyInstance = Fastify({ loggerInstance: deps.log.child({ component: 'http' }, { level: 'warn' }) as FastifyBaseLogger });
    // The design's names (/health/liveness, /health/readiness) and the short ones answer alike.
    for (const path of LIVENESS_PATHS) app.get(path, async () => ({ status: 'live' }));
    for (const path of READINESS_PATHS) {
      app.get(path, async (_req, reply) => {
        const h = deps.health();
        return h.ready ? { status: 'ready' } : reply.code(503).send({ status: 'not ready', reason: h.reason });
      });
    }
    app.get('/health/deps', async (_req, reply) => {
      const components = await deps.dependencies();
      const ok = Object.values(components).every((c) => c.ok);
      return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'degraded', components });
    });
    app.get('/health', async (_req, reply) => {
      const h = deps.health();
      return reply.code(h.ready ? 200 : 503).send({
        status: h.ready ? 'ok' : 'not ready',
        reason: h.reason || undefined,
        version: deps.version,
        uptime_s: Math.round((Date.now() - deps.startedAt) / 1000),
        components: h.components,
      });
    });
    app.get('/metrics', async (_req, reply) => reply.type(deps.metrics.contentType).send(await deps.metrics.text()));
    this.app = app;
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    await this.app.listen({ host, port });
    return this.app.server.address() as AddressInfo;
  }

  close(): Promise<void> {
    return this.app.close();
  }
}
