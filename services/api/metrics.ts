/**
 * Prometheus metrics: process defaults, HTTP requests by route pattern (not raw
 * URL, so ids do not explode the label set), jobs submitted, and the state of the
 * queues computed on each scrape from counters and indexes that already exist (no
 * scan of all jobs or units): BullMQ jobs per queue and state, jobs per status,
 * Redis memory, and the age of the oldest training unit still waiting. One registry
 * per app so several apps in one process (tests) do not collide. Units per resource
 * class are the provisioner's gauge (nightshift_provisioner_units), counted every pass.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { JOB_STATUSES } from '../core/job.ts';
import type { Queues } from '../platform/queue.ts';
import type { Store } from '../platform/store.ts';

/** What the state gauges read. */
export interface StateSource {
  store: Store;
  queues: Queues;
  now?: () => number;
}

export function createMetrics(state?: StateSource) {
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
  if (state) stateGauges(registry, state);
  return { registry, requests, duration, jobsSubmitted };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** BullMQ states reported per queue ("waiting" includes units waiting by priority) */
const QUEUE_STATES = ['waiting', 'active', 'delayed', 'waiting-children', 'failed', 'completed'] as const;

/** Oldest non-terminal jobs looked at per status index when finding the oldest waiting unit. */
const OLDEST_PAGE = 50;
const OLDEST_MAX = 1_000;

export interface PendingCandidate {
  id: string;
  /** ms */
  createdAt: number;
  unitsTotal: number;
  unitsDone: number;
  unitsFailed: number;
}

/**
 * Pure: the creation time of the oldest job (candidates oldest first) that still has a
 * unit neither finished, failed for good, nor running now; undefined when none has.
 */
export function oldestWithPending(cands: PendingCandidate[], activeByJob: ReadonlyMap<string, number>): number | undefined {
  for (const c of cands) {
    if (c.unitsTotal - c.unitsDone - c.unitsFailed - (activeByJob.get(c.id) ?? 0) > 0) return c.createdAt;
  }
  return undefined;
}

/** Units running now per job (unit ids are `<jobId>.<unit>`). */
export function activeUnitsByJob(unitIds: string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const u of unitIds) {
    const dot = u.indexOf('.');
    const j = dot > 0 ? u.slice(0, dot) : u;
    out.set(j, (out.get(j) ?? 0) + 1);
  }
  return out;
}

/**
 * The age of the oldest waiting unit, counted from its job's submission: the oldest
 * queued or running job with a unit not yet started (or handed back). Reads the oldest
 * entries of two status indexes and the (small) list of running units.
 */
export async function oldestPendingUnitAgeS(s: StateSource): Promise<number> {
  const { store, queues } = s;
  const now = (s.now ?? Date.now)();
  const active = activeUnitsByJob(await queues.units.getRanges(['active'], 0, -1));
  let oldest: number | undefined;
  for (const status of ['queued', 'running'] as const) {
    for (let offset = 0; offset < OLDEST_MAX; offset += OLDEST_PAGE) {
      const page = await store.redis.zrange(store.keys.byStatus(status), offset, offset + OLDEST_PAGE - 1, 'WITHSCORES');
      if (page.length === 0) break;
      const ids = page.filter((_, i) => i % 2 === 0);
      if (oldest !== undefined && Number(page[1]) >= oldest) break;
      const pipe = store.redis.pipeline();
      for (const id of ids) pipe.hmget(store.keys.job(id), 'unitsTotal', 'unitsDone', 'unitsFailed');
      const res = (await pipe.exec()) ?? [];
      const cands = ids.map((id, i) => {
        const [t, d, f] = ((res[i]?.[1] ?? []) as Array<string | null>).map((x) => Number(x ?? 0));
        return { id, createdAt: Number(page[2 * i + 1]), unitsTotal: t, unitsDone: d, unitsFailed: f };
      });
      const found = oldestWithPending(cands, active);
      if (found !== undefined) {
        oldest = oldest === undefined ? found : Math.min(oldest, found);
        break;
      }
    }
  }
  return oldest === undefined ? 0 : Math.max(0, (now - oldest) / 1000);
}

function stateGauges(registry: Registry, s: StateSource): void {
  const registers = [registry];
  const { store, queues } = s;
  new Gauge({
    name: 'nightshift_queue_jobs',
    help: 'BullMQ jobs per queue (units: training units; jobs: the per-job aggregation) and state',
    labelNames: ['queue', 'state'] as const,
    registers,
    async collect() {
      for (const q of [queues.units, queues.jobs]) {
        const c = await q.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'waiting-children', 'failed', 'completed');
        for (const st of QUEUE_STATES) this.set({ queue: q.name, state: st }, (c[st] ?? 0) + (st === 'waiting' ? c.prioritized ?? 0 : 0));
      }
    },
  });
  new Gauge({
    name: 'nightshift_jobs',
    help: 'Jobs in Redis per status (finished jobs leave after NIGHTSHIFT_RETENTION_DAYS)',
    labelNames: ['status'] as const,
    registers,
    async collect() {
      const pipe = store.redis.pipeline();
      for (const st of JOB_STATUSES) pipe.zcard(store.keys.byStatus(st));
      const res = (await pipe.exec()) ?? [];
      JOB_STATUSES.forEach((st, i) => this.set({ status: st }, Number(res[i]?.[1] ?? 0)));
    },
  });
  new Gauge({
    name: 'nightshift_redis_used_memory_bytes',
    help: 'Redis used_memory (INFO memory): every client of that Redis, not only nightshift',
    registers,
    async collect() {
      const m = /used_memory:(\d+)/.exec(await store.redis.info('memory'));
      if (m) this.set(Number(m[1]));
    },
  });
  new Gauge({
    name: 'nightshift_oldest_pending_unit_age_seconds',
    help: 'Age of the oldest training unit waiting to run, counted from its job\'s submission (0: none waiting)',
    registers,
    async collect() {
      this.set(await oldestPendingUnitAgeS(s));
    },
  });
}

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
