/**
 * Retention on real Redis, real BullMQ and a real S3-protocol server: finished jobs
 * older than the retention leave Redis entirely (record, unit results, indexes, BullMQ
 * jobs), their archive copy answers GET /v1/jobs/:id with archived: true, and the
 * S3 index lists them. Younger, unfinished and batch jobs stay.
 */
import { Worker, UnrecoverableError } from 'bullmq';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { QUEUES } from '../../services/core/catalog.ts';
import type { JobSpec } from '../../services/core/spec.ts';
import { demandJobsKey, enqueueJob } from '../../services/platform/queue.ts';
import { connectRedis, type Redis } from '../../services/platform/redis.ts';
import { createRetention, listArchivedJobs } from '../../services/platform/retention.ts';
import type { JobRecord } from '../../services/platform/store.ts';
import { createTestStack, type TestStack } from '../../support/app.ts';
import { waitFor } from '../../support/cloud-sim.ts';

const DAY = 86_400_000;
let s: TestStack;
let bull: Redis;
let workers: Worker[] = [];

beforeAll(async () => {
  s = await createTestStack({ label: 'retention' });
  bull = connectRedis(s.config.redisUrl, { forBullWorker: true });
  // a worker that finishes every unit at once (unit f1 of job "failing" fails for good), and the aggregator
  workers = [
    new Worker(QUEUES.units, async (job) => {
      const { jobId, unit } = job.data as { jobId: string; unit: { key: string } };
      if (jobId.endsWith('failing') && unit.key.endsWith('f1')) {
        await s.store.unitFailed(jobId);
        throw new UnrecoverableError('bad unit');
      }
      await s.store.unitDone(jobId, { key: unit.key, kind: 'eval', run: 0, repeat: 0, fold: 0, score: 0.5, epochs: 1, trainRows: 1, testRows: 1, durationMs: 1, worker: 'w' } as never);
      return 'ok';
    }, { connection: bull, prefix: s.prefix }),
    new Worker(QUEUES.jobs, async (job) => {
      const { jobId } = job.data as { jobId: string };
      const done = (await s.store.unitResults(jobId)).length;
      const rec = await s.store.getRecord(jobId);
      await s.store.setStatus(jobId, done === rec!.unitsTotal ? 'completed' : 'failed', done === rec!.unitsTotal ? { result: { metric: 'loss', scores: [0.5], mean: 0.5, std: 0, stderr: 0, ci95: [0.5, 0.5] } } : { error: { code: 'unit_failed', message: 'a unit failed' } });
      return 'ok';
    }, { connection: bull, prefix: s.prefix }),
  ];
  for (const w of workers) w.on('error', () => {});
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.close()));
  bull.disconnect();
  await s.close();
});

const units = (n: number) => Array.from({ length: n }, (_, i) => ({ kind: 'eval' as const, run: 0, repeat: 0, fold: i, key: `r0-p0-f${i}` }));

async function submit(id: string, tenant: string, o: { batchId?: string; run?: boolean } = {}): Promise<void> {
  const rec: JobRecord = {
    id, name: id, tenant, createdAt: new Date().toISOString(), spec: { name: id } as unknown as JobSpec, unitsTotal: 3, resourceClass: 'cpu',
    ...(o.batchId ? { batchId: o.batchId } : {}),
  };
  await s.store.createJob(rec);
  if (o.run !== false) await enqueueJob(s.queues, { jobId: id, tenant, units: units(3), resourceClass: 'cpu', priority: 50, maxAttempts: 1 });
}

/** every Redis key under the test prefix that names the job */
async function keysOf(id: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await s.redis.scan(cursor, 'MATCH', `${s.prefix}:*`, 'COUNT', 1000);
    cursor = next;
    out.push(...found.filter((k) => k.includes(id)));
  } while (cursor !== '0');
  return out;
}
async function indexed(id: string): Promise<boolean> {
  const keys = [s.store.keys.allJobs, s.store.keys.tenantJobs('acme'), s.store.keys.tenantJobs('globex')];
  for (const st of ['completed', 'failed', 'running', 'queued']) keys.push(s.store.keys.byStatus(st), s.store.keys.byStatus(st, 'acme'), s.store.keys.byStatus(st, 'globex'));
  for (const k of keys) if ((await s.redis.zscore(k, id)) !== null) return true;
  return false;
}

it('trims finished jobs past the retention, keeps the rest, and answers the trimmed ones from the archive', async () => {
  await submit('job_ret_done', 'acme');
  await submit('job_ret_failing', 'acme');
  await submit('job_ret_batch', 'acme', { batchId: 'bat_ret' });
  await submit('job_ret_globex', 'globex');
  await submit('job_ret_waiting', 'acme', { run: false });
  await waitFor(async () => {
    const st = await Promise.all(['job_ret_done', 'job_ret_failing', 'job_ret_batch', 'job_ret_globex'].map((id) => s.store.getStatus(id)));
    return st.every((x) => x === 'completed' || x === 'failed');
  }, 20_000, 'the jobs finish');
  expect(await s.store.getStatus('job_ret_failing')).toBe('failed');
  const before = await s.store.getJob('job_ret_done');
  expect(before?.status).toBe('completed');
  // BullMQ keeps its finished jobs for now (removeOnComplete/removeOnFail by age)
  expect((await keysOf('job_ret_done')).length).toBeGreaterThan(2);
  // no provisioner runs here: the demand register still names the finished jobs
  expect(await s.redis.hexists(demandJobsKey(s.prefix), 'job_ret_done')).toBe(1);

  // "now" is 29 days later: nothing is old enough
  const at = (days: number) => () => Date.now() + days * DAY;
  const early = await createRetention({ store: s.store, queues: s.queues, artifacts: s.artifacts, days: 30, now: at(29) }).sweep();
  expect(early).toMatchObject({ ran: true, trimmed: 0 });
  expect(await s.store.getJob('job_ret_done')).toBeDefined();
  // retention off: nothing happens even later
  expect(await createRetention({ store: s.store, queues: s.queues, artifacts: s.artifacts, days: 0, now: at(400) }).sweep()).toEqual({ scanned: 0, trimmed: 0, ran: false });

  // 31 days later, with a page size of 1 so the walk pages over kept entries
  const r = await createRetention({ store: s.store, queues: s.queues, artifacts: s.artifacts, days: 30, now: at(31), pageSize: 1 }).sweep();
  expect(r).toMatchObject({ ran: true, trimmed: 3 });
  for (const id of ['job_ret_done', 'job_ret_failing', 'job_ret_globex']) {
    expect(await keysOf(id), id).toEqual([]);
    expect(await indexed(id), id).toBe(false);
    expect(await s.redis.hexists(demandJobsKey(s.prefix), id), id).toBe(0);
  }
  // kept: the batch's job and the unfinished one, with their records and indexes
  for (const id of ['job_ret_batch', 'job_ret_waiting']) {
    expect(await s.store.getJob(id), id).toBeDefined();
    expect(await indexed(id), id).toBe(true);
  }

  // the API answers a trimmed job from the archive, for its tenant only
  const res = await s.app.inject({ method: 'GET', url: '/v1/jobs/job_ret_done', headers: s.auth('acme') });
  expect(res.statusCode).toBe(200);
  const body = res.json();
  expect(body).toMatchObject({ id: 'job_ret_done', tenant: 'acme', status: 'completed', archived: true, result: { mean: 0.5 }, progress: { unitsDone: 3, unitsTotal: 3 } });
  expect(body.finishedAt).toBe(before!.finishedAt);
  expect((await s.app.inject({ method: 'GET', url: '/v1/jobs/job_ret_done', headers: s.auth('globex') })).statusCode).toBe(404);
  expect((await s.app.inject({ method: 'GET', url: '/v1/jobs/job_ret_done', headers: s.auth('admin') })).statusCode).toBe(200);
  expect((await s.app.inject({ method: 'GET', url: '/v1/jobs/job_nothing_here', headers: s.auth('acme') })).statusCode).toBe(404);
  // the job's files stay reachable through the API (its history is read from S3)
  expect((await s.app.inject({ method: 'GET', url: '/v1/jobs/job_ret_done/history', headers: s.auth('acme') })).statusCode).toBe(200);
  expect((await s.app.inject({ method: 'GET', url: '/v1/jobs/job_ret_done/history', headers: s.auth('globex') })).statusCode).toBe(404);
  // a live job answers as before, without the archive mark
  const live = (await s.app.inject({ method: 'GET', url: '/v1/jobs/job_ret_batch', headers: s.auth('acme') })).json();
  expect(live.archived).toBeUndefined();
  // the listing no longer holds it
  const list = (await s.app.inject({ method: 'GET', url: '/v1/jobs?limit=50', headers: s.auth('acme') })).json();
  expect(list.items.map((j: { id: string }) => j.id).sort()).toEqual(['job_ret_batch', 'job_ret_waiting']);

  // the S3 index lists each tenant's archived jobs
  expect((await listArchivedJobs(s.artifacts, 'acme')).map((j) => j.id).sort()).toEqual(['job_ret_done', 'job_ret_failing']);
  expect((await listArchivedJobs(s.artifacts, 'globex')).map((j) => [j.id, j.status])).toEqual([['job_ret_globex', 'completed']]);

  // a second sweep finds nothing more; two at once: one sweeps, the other stands aside
  const both = await Promise.all([0, 1].map(() => createRetention({ store: s.store, queues: s.queues, artifacts: s.artifacts, days: 30, now: at(31) }).sweep()));
  expect(both.filter((b) => b.ran)).toHaveLength(1);
  expect(both.reduce((n, b) => n + b.trimmed, 0)).toBe(0);
}, 60_000);
