/** What the provisioner plans from: pending and running units per resource class, on real Redis/BullMQ. */
import { Worker } from 'bullmq';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createQueues, enqueueJob, unitDemand, type Queues } from '../../services/platform/queue.ts';
import { connectRedis, type Redis } from '../../services/platform/redis.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../../support/redis.ts';

const prefix = uniquePrefix('demand');
let redis: Redis;
let q: Queues;
beforeAll(() => {
  redis = connectRedis(TEST_REDIS_URL, { forBullWorker: true });
  q = createQueues(redis, prefix);
});
afterAll(async () => {
  await q.close();
  redis.disconnect();
  await cleanupPrefix(prefix);
});

const units = (n: number) => Array.from({ length: n }, (_, i) => ({ kind: 'eval' as const, run: 0, repeat: 0, fold: i, key: `r0-p0-f${i}` }));

it('counts pending and running units per class, and forgets jobs that left the queue', async () => {
  await enqueueJob(q, { jobId: 'job_a', tenant: 't', units: units(3), resourceClass: 'gpu', priority: 50, maxAttempts: 1 });
  await enqueueJob(q, { jobId: 'job_b', tenant: 't', units: units(2), resourceClass: 'gpu/spot=require', priority: 90, maxAttempts: 1 });
  expect(Object.fromEntries(await unitDemand(q))).toEqual({ gpu: { pending: 3, running: 0 }, 'gpu/spot=require': { pending: 2, running: 0 } });

  // a worker takes one unit (the higher priority job's first): it is running now
  const w = new Worker(q.units.name, null, { connection: redis, prefix });
  const taken = await w.getNextJob('tok');
  expect(taken?.data.resourceClass).toBe('gpu/spot=require');
  expect(Object.fromEntries(await unitDemand(q))).toEqual({ gpu: { pending: 3, running: 0 }, 'gpu/spot=require': { pending: 1, running: 1 } });
  await taken!.moveToCompleted('done', 'tok', false);
  await w.close();

  for (const k of ['r0-p0-f0', 'r0-p0-f1', 'r0-p0-f2']) await (await q.units.getJob(`job_a.${k}`))?.remove();
  expect(Object.fromEntries(await unitDemand(q))).toEqual({ 'gpu/spot=require': { pending: 1, running: 0 } });

  // units without a priority wait in BullMQ's plain list: counted the same
  for (const k of ['u0', 'u1']) await q.units.add('unit', { jobId: 'job_c', tenant: 't', unit: units(1)[0], resourceClass: 'cpu' }, { jobId: `job_c.${k}` });
  expect(Object.fromEntries(await unitDemand(q))).toEqual({ 'gpu/spot=require': { pending: 1, running: 0 }, cpu: { pending: 2, running: 0 } });
});
