/**
 * A job's parent (the aggregate step) whose worker died mid-step is run again by the
 * aggregate worker the provisioner runs (startAggregateWorker), with no instance and no
 * trainer worker left: the job completes instead of staying running for ever. Real Redis,
 * BullMQ flows, the embedded S3 server; the unit's result is written as a worker writes it.
 */
import { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUES, parentJobId } from '../../services/core/catalog.ts';
import type { UnitResult } from '../../services/core/job.ts';
import { startAggregateWorker } from '../../services/platform/aggregate.ts';
import { connectRedis } from '../../services/platform/redis.ts';
import { createTestStack, type TestStack } from '../../support/app.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await createTestStack({ label: 'agg-recovery' });
});
afterAll(async () => {
  await stack?.close();
});

const SPEC = {
  name: 'orphan',
  dataset: { uri: 'builtin:make_regression?n_samples=60&n_features=3&random_state=1' },
  model: { layers: [{ type: 'dense', units: 4, activation: 'relu' }, { type: 'dense', units: 1 }] },
  training: { loss: 'mse', epochs: 2 },
  evaluation: { method: 'holdout', testSize: 0.25 },
};

describe('a parent whose worker died', () => {
  it('is found stalled and run by the provisioner\'s aggregate worker: the job completes', { timeout: 60_000 }, async () => {
    const conn = () => connectRedis(stack.config.redisUrl, { forBullWorker: true, name: 'test-agg-recovery' });
    const res = await stack.app.inject({ method: 'POST', url: '/v1/jobs', headers: stack.auth('acme'), payload: SPEC });
    expect(res.statusCode).toBe(202);
    const jobId = res.json().id as string;

    // a trainer worker finishes the job's one unit, as unit-processor.ts records it
    const unitRedis = conn();
    const units = new Worker(QUEUES.units, async (job) => {
      const r: UnitResult = { key: job.data.unit.key, kind: 'eval', run: 0, repeat: 0, fold: 0, score: 0.5, epochs: 2, trainRows: 45, testRows: 15, durationMs: 10, backend: 'cpu', engine: 'fused', worker: 'w' };
      await stack.store.setStatus(jobId, 'running');
      await stack.store.unitDone(jobId, r);
    }, { connection: unitRedis, prefix: stack.prefix });
    // ... and its aggregate step starts on a worker that then dies: it never returns and its lock is not renewed
    const dyingRedis = conn();
    let taken!: () => void;
    const took = new Promise<void>((r) => (taken = r));
    const dying = new Worker(QUEUES.jobs, () => {
      taken();
      return new Promise(() => {});
    }, { connection: dyingRedis, prefix: stack.prefix, lockDuration: 1_000, stalledInterval: 500 });
    await took;
    await units.close();
    await dying.close(true);
    dyingRedis.disconnect();
    unitRedis.disconnect();
    expect(await stack.store.getStatus(jobId)).toBe('running');
    expect(await stack.queues.jobs.getJobState(parentJobId(jobId))).toBe('active');

    // no instance, no trainer worker: the provisioner's aggregate worker alone
    const aggRedis = conn();
    const aggregates = startAggregateWorker({ store: stack.store, artifacts: stack.artifacts, logger: { info: () => {}, warn: () => {} }, connection: aggRedis, prefix: stack.prefix, lockMs: 1_000 });
    try {
      const until = Date.now() + 30_000;
      while ((await stack.store.getStatus(jobId)) !== 'completed' && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
      const job = (await stack.app.inject({ url: `/v1/jobs/${jobId}`, headers: stack.auth('acme') })).json();
      expect(job.status).toBe('completed');
      expect(job.result.scores).toEqual([0.5]);
      expect(await stack.artifacts.getJson(`jobs/${jobId}/summary.json`)).toMatchObject({ n: 1, scores: [0.5] });
    } finally {
      await aggregates.close();
      aggRedis.disconnect();
    }
  });
});
