/** What the provisioner plans from: pending and running units per resource class, on real Redis/BullMQ. */
import { Worker } from 'bullmq';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createQueues, DEMAND_RESCAN_MS, demandJobsKey, enqueueJob, unitDemand, unitDemandByJob, type Queues } from '../../services/platform/queue.ts';
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

  // a job whose last unit finished leaves the register (the count stays O(jobs))
  const reg = demandJobsKey(prefix);
  expect((await redis.hkeys(reg)).sort()).toEqual(['job_b']);
});

it('does not count units whose notBefore window or retry backoff has not come, counts them once they are queued', async () => {
  await enqueueJob(q, { jobId: 'job_d', tenant: 't', units: units(2), resourceClass: 'cpu', priority: 50, maxAttempts: 2, delayMs: 60_000 });
  expect((await unitDemandByJob(q)).get('job_d')).toEqual({ resourceClass: 'cpu', pending: 0, running: 0 });
  await (await q.units.getJob('job_d.r0-p0-f0'))!.promote();
  expect((await unitDemandByJob(q)).get('job_d')).toEqual({ resourceClass: 'cpu', pending: 1, running: 0 });

  // a failed attempt waits out its backoff in the delayed set: not pending, not running
  const w = new Worker(q.units.name, null, { connection: redis, prefix });
  let taken = await w.getNextJob('tok');
  while (taken && taken.data.jobId !== 'job_d') {
    await taken.moveToCompleted('done', 'tok', false);
    taken = await w.getNextJob('tok');
  }
  expect(taken?.id).toBe('job_d.r0-p0-f0');
  expect((await unitDemandByJob(q)).get('job_d')).toEqual({ resourceClass: 'cpu', pending: 0, running: 1 });
  await taken!.moveToFailed(new Error('spot interruption'), 'tok', false);
  expect(await taken!.getState()).toBe('delayed');
  expect((await unitDemandByJob(q)).get('job_d')).toEqual({ resourceClass: 'cpu', pending: 0, running: 0 });
  await w.close();

  // both units removed (a cancel): the job leaves the count and the register
  for (const k of ['r0-p0-f0', 'r0-p0-f1']) await (await q.units.getJob(`job_d.${k}`))!.remove();
  expect((await unitDemandByJob(q)).has('job_d')).toBe(false);
  expect(await redis.hexists(demandJobsKey(prefix), 'job_d')).toBe(0);
});

it('finds jobs queued without a register entry (an earlier version, a lost write) when a provisioner starts and at each rescan', async () => {
  await enqueueJob(q, { jobId: 'job_e', tenant: 't', units: units(3), resourceClass: 'gpu', priority: 50, maxAttempts: 1 });
  await redis.hdel(demandJobsKey(prefix), 'job_e');
  // the same Queues counted before: no rescan until DEMAND_RESCAN_MS has passed
  expect((await unitDemandByJob(q)).has('job_e')).toBe(false);
  expect((await unitDemandByJob(q, Date.now() + DEMAND_RESCAN_MS)).get('job_e')).toEqual({ resourceClass: 'gpu', pending: 3, running: 0 });

  // a provisioner that starts (new Queues) rescans on its first count
  await redis.hdel(demandJobsKey(prefix), 'job_e');
  const fresh = createQueues(redis, prefix);
  expect((await unitDemandByJob(fresh)).get('job_e')).toEqual({ resourceClass: 'gpu', pending: 3, running: 0 });
  await fresh.close();
  for (const k of ['r0-p0-f0', 'r0-p0-f1', 'r0-p0-f2']) await (await q.units.getJob(`job_e.${k}`))!.remove();
});
