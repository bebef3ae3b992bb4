/**
 * Prometheus metrics: process defaults, HTTP requests by route pattern (not raw
 * URL, so ids do not explode the label set) and jobs submitted. One registry per
 * app so several apps in one process (tests) do not collide.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'nightshift_api_' });
  const requests = new Counter({
    name: 'nightshift_http_requests_total',
    help: 'HTTP requests answered',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'nightshift_http_request_duration_seconds',
    help: 'HTTP request duration',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const jobsSubmitted = new Counter({
    name: 'nightshift_jobs_submitted_total',
    help: 'jobs accepted by POST /v1/jobs',
    registers: [registry],
  });
  return { registry, requests, duration, jobsSubmitted };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** `extra`: registries of other parts running in this process (the provisioner), served on the same /metrics. */
export function registerMetrics(app: FastifyInstance, m: Metrics, extra: Registry[] = [], guard?: (req: FastifyRequest) => Promise<void>): void {
  const all = extra.length ? Registry.merge([m.registry, ...extra]) : m.registry;
  app.addHook('onResponse', async (req, reply) => {
    const labels = { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) };
    m.requests.inc(labels);
    m.duration.observe(labels, reply.elapsedTime / 1000);
  });
  app.get('/metrics', { schema: { hide: true }, ...(guard ? { onRequest: guard } : {}) }, async (_req, reply) => {
    reply.type(all.contentType);
    return all.metrics();
  });
}
