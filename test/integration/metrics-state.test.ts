/**
 * /metrics on real Redis and BullMQ: queue depth per queue and state, jobs per
 * status, Redis memory and the oldest waiting unit's age move as jobs are queued,
 * start and finish.
 */
import { Worker } from 'bullmq';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { QUEUES } from '../../services/core/catalog.ts';
import type { JobSpec } from '../../services/core/spec.ts';
import { enqueueJob } from '../../services/platform/queue.ts';
import { connectRedis, type Redis } from '../../services/platform/redis.ts';
import { createTestStack, type TestStack } from '../../support/app.ts';

let s: TestStack;
let bull: Redis;
let clock = Date.now();
beforeAll(async () => {
  s = await createTestStack({ label: 'metrics', deps: { now: () => new Date(clock) } });
  bull = connectRedis(s.config.redisUrl, { forBullWorker: true });
});
afterAll(async () => {
  bull.disconnect();
  await s.close();
});

async function scrape(): Promise<Map<string, number>> {
  const res = await s.app.inject({ method: 'GET', url: '/metrics', headers: s.auth('admin') });
  expect(res.statusCode).toBe(200);
  const out = new Map<string, number>();
  for (const line of res.body.split('\n')) {
    const m = /^(nightshift_(?:queue_jobs|jobs|redis_used_memory_bytes|oldest_pending_unit_age_seconds)(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}
const units = (n: number) => Array.from({ length: n }, (_, i) => ({ kind: 'eval' as const, run: 0, repeat: 0, fold: i, key: `r0-p0-f${i}` }));

async function submit(id: string, createdAt: number, n: number): Promise<void> {
  await s.store.createJob({ id, name: id, tenant: 'acme', createdAt: new Date(createdAt).toISOString(), spec: { name: id } as unknown as JobSpec, unitsTotal: n, resourceClass: 'cpu' });
  await enqueueJob(s.queues, { jobId: id, tenant: 'acme', units: units(n), resourceClass: 'cpu', priority: 50, maxAttempts: 1 });
}

it('the state gauges follow jobs from queued to finished', async () => {
  const empty = await scrape();
  expect(empty.get('nightshift_queue_jobs{queue="units",state="waiting"}')).toBe(0);
  expect(empty.get('nightshift_jobs{status="queued"}')).toBe(0);
  expect(empty.get('nightshift_oldest_pending_unit_age_seconds')).toBe(0);
  expect(empty.get('nightshift_redis_used_memory_bytes')).toBeGreaterThan(0);

  const t0 = clock;
  await submit('job_m_old', t0 - 120_000, 2);
  await submit('job_m_new', t0 - 10_000, 3);
  let m = await scrape();
  expect(m.get('nightshift_queue_jobs{queue="units",state="waiting"}')).toBe(5);
  expect(m.get('nightshift_queue_jobs{queue="jobs",state="waiting-children"}')).toBe(2);
  expect(m.get('nightshift_jobs{status="queued"}')).toBe(2);
  expect(m.get('nightshift_oldest_pending_unit_age_seconds')).toBe(120);

  // both units of the old job start: the oldest waiting unit is now the newer job's
  const w = new Worker(QUEUES.units, null, { connection: bull, prefix: s.prefix });
  // same priority: BullMQ hands out the older job's units first
  const taken = [await w.getNextJob('tok'), await w.getNextJob('tok')].filter((j) => j !== undefined);
  expect(taken.map((j) => j.data.jobId)).toEqual(['job_m_old', 'job_m_old']);
  await s.store.setStatus('job_m_old', 'running');
  m = await scrape();
  expect(m.get('nightshift_queue_jobs{queue="units",state="active"}')).toBe(2);
  expect(m.get('nightshift_queue_jobs{queue="units",state="waiting"}')).toBe(3);
  expect(m.get('nightshift_jobs{status="running"}')).toBe(1);
  expect(m.get('nightshift_jobs{status="queued"}')).toBe(1);
  expect(m.get('nightshift_oldest_pending_unit_age_seconds')).toBe(10);

  // the clock moves: so does the age
  clock += 5_000;
  expect((await scrape()).get('nightshift_oldest_pending_unit_age_seconds')).toBe(15);

  // every unit finishes, both jobs complete
  for (;;) {
    const j = await w.getNextJob('tok');
    if (!j) break;
    taken.push(j);
  }
  expect((await scrape()).get('nightshift_oldest_pending_unit_age_seconds')).toBe(0);
  for (const j of taken) {
    await s.store.unitDone(j.data.jobId, { key: j.data.unit.key, kind: 'eval', run: 0, repeat: 0, fold: 0, score: 1, epochs: 1, trainRows: 1, testRows: 1, durationMs: 1, backend: 'cpu', engine: 'fused', worker: 'w' });
    await j.moveToCompleted('ok', 'tok', false);
  }
  await w.close();
  for (const id of ['job_m_old', 'job_m_new']) await s.store.setStatus(id, 'completed');
  m = await scrape();
  expect(m.get('nightshift_queue_jobs{queue="units",state="completed"}')).toBe(5);
  expect(m.get('nightshift_queue_jobs{queue="units",state="waiting"}')).toBe(0);
  expect(m.get('nightshift_queue_jobs{queue="units",state="active"}')).toBe(0);
  expect(m.get('nightshift_queue_jobs{queue="jobs",state="waiting"}')).toBe(2);
  expect(m.get('nightshift_jobs{status="completed"}')).toBe(2);
  expect(m.get('nightshift_jobs{status="running"}')).toBe(0);
  expect(m.get('nightshift_oldest_pending_unit_age_seconds')).toBe(0);
  // /metrics stays admin-only
  expect((await s.app.inject({ method: 'GET', url: '/metrics', headers: s.auth('acme') })).statusCode).toBe(403);
}, 60_000);
