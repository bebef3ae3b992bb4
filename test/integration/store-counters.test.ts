/**
 * The per-tenant unit counters (quota and fair-share backlog) over real Redis: every
 * change of a job's status or unit counts keeps them equal to a recount over the
 * tenant's jobs, and a missing counter is recounted from the indexes. The job's
 * aggregate step writes spec.json and leaves nothing counted.
 */
import type { Job as BullJob } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryArtifactStore } from '../../services/core/artifacts.ts';
import { newId } from '../../services/core/ids.ts';
import type { UnitResult } from '../../services/core/job.ts';
import { keys } from '../../services/core/keys.ts';
import type { JobSpec } from '../../services/core/spec.ts';
import { connectRedis, type Redis } from '../../services/platform/redis.ts';
import { createStore, type JobRecord, type Store } from '../../services/platform/store.ts';
import { createAggregateProcessor } from '../../services/platform/aggregate.ts';
import { TEST_REDIS_URL, cleanupPrefix, uniquePrefix } from '../../support/redis.ts';

const SPEC = {
  dataset: { uri: 'builtin:make_regression?n_samples=50&n_features=3' },
  model: { layers: [{ type: 'dense', units: 1 }] },
  training: { loss: 'mse', epochs: 1 },
  evaluation: { method: 'kfold', folds: 2 },
} as unknown as JobSpec;

let redis: Redis;
let store: Store;
const prefix = uniquePrefix('counters');

beforeAll(() => {
  redis = connectRedis(TEST_REDIS_URL, { name: 'test-counters', autoPipeline: true });
  store = createStore(redis, prefix);
});
afterAll(async () => {
  redis.disconnect();
  await cleanupPrefix(prefix);
});

const record = (tenant: string, unitsTotal: number): JobRecord => ({
  id: newId('job'), name: 'c', tenant, createdAt: new Date().toISOString(), spec: SPEC, unitsTotal, resourceClass: 'cpu',
});
const result = (key: string, fold: number): UnitResult => ({
  key, kind: 'eval', run: 0, repeat: 0, fold, score: 1, epochs: 1, trainRows: 25, testRows: 25, durationMs: 5, backend: 'cpu', engine: 'fused', worker: 'w',
});

/** What the counters must equal: the same sums read job by job. */
async function recount(tenant: string): Promise<{ active: number; backlog: number }> {
  let active = 0;
  let backlog = 0;
  for (const st of ['queued', 'scheduled', 'running']) {
    for (const id of await redis.zrange(store.keys.byStatus(st, tenant), 0, -1)) {
      const [t, d, f] = (await redis.hmget(store.keys.job(id), 'unitsTotal', 'unitsDone', 'unitsFailed')).map((x) => Number(x ?? 0));
      active += Math.max(0, t - d - f);
      backlog += Math.max(0, t - d);
    }
  }
  return { active, backlog };
}

describe('per-tenant unit counters', () => {
  it('follow creation, units done (once), units failed, terminal statuses and a reopened budget', async () => {
    const tenant = 'acme';
    const a = record(tenant, 3);
    const b = record(tenant, 4);
    const c = record(tenant, 2);
    const steps: Array<[string, () => Promise<unknown>, { active: number; backlog: number }]> = [
      ['nothing yet', async () => undefined, { active: 0, backlog: 0 }],
      ['job a queued', () => store.createJob(a), { active: 3, backlog: 3 }],
      ['jobs b and c (a batch, scheduled)', () => store.createJobs([b, c], 'scheduled'), { active: 9, backlog: 9 }],
      ['a runs', () => store.setStatus(a.id, 'running'), { active: 9, backlog: 9 }],
      ['a unit of a done', () => store.unitDone(a.id, result('f0', 0)), { active: 8, backlog: 8 }],
      ['the same unit reported again', () => store.unitDone(a.id, result('f0', 0)), { active: 8, backlog: 8 }],
      ['a unit of a failed', () => store.unitFailed(a.id), { active: 7, backlog: 8 }],
      ['a completes with a unit left', () => store.setStatus(a.id, 'completed'), { active: 6, backlog: 6 }],
      ['a unit of finished a reported late', () => store.unitDone(a.id, result('f1', 1)), { active: 6, backlog: 6 }],
      ['b out of budget', () => store.setStatus(b.id, 'budget_exhausted'), { active: 2, backlog: 2 }],
      ['b reopened', () => store.reopenFromBudget(b.id), { active: 6, backlog: 6 }],
      ['c cancelled', () => store.setStatus(c.id, 'cancelled'), { active: 4, backlog: 4 }],
      ['c cancelled again (terminal stays)', () => store.setStatus(c.id, 'cancelled'), { active: 4, backlog: 4 }],
    ];
    for (const [what, act, want] of steps) {
      await act();
      expect(await store.tenantUnits(tenant), what).toEqual(want);
      expect(await recount(tenant), what).toEqual(want);
      expect(await store.activeUnits(tenant), what).toBe(want.active);
      expect(await store.tenantBacklog(tenant), what).toBe(want.backlog);
    }
    // another tenant's counters are its own
    expect(await store.tenantUnits('globex')).toEqual({ active: 0, backlog: 0 });
  });

  it('are recounted from the indexes when missing (jobs stored before the counters existed)', async () => {
    const tenant = 'initech';
    const a = record(tenant, 5);
    const b = record(tenant, 3);
    await store.createJobs([a, b]);
    await store.unitDone(a.id, result('f0', 0));
    await store.unitFailed(b.id);
    await redis.del(store.keys.countersBase + tenant);
    expect(await store.tenantUnits(tenant)).toEqual({ active: 6, backlog: 7 });
    // and kept from then on
    await store.createJob(record(tenant, 2));
    expect(await store.tenantUnits(tenant)).toEqual(await recount(tenant));
    expect(await store.activeUnits(tenant)).toBe(8);
  });
});

describe('the aggregate step', () => {
  it('writes spec.json with the results and leaves none of the job\'s units counted', async () => {
    const tenant = 'hooli';
    const artifacts = memoryArtifactStore();
    const rec = record(tenant, 2);
    await store.createJob(rec);
    await store.setStatus(rec.id, 'running');
    await store.unitDone(rec.id, result('r0-p0-f0', 0));
    await store.unitDone(rec.id, result('r0-p0-f1', 1));
    expect(await artifacts.exists(keys.jobFile(rec.id, 'spec.json'))).toBe(false);
    const aggregate = createAggregateProcessor({ store, artifacts, logger: { info: () => undefined, warn: () => undefined } });
    expect(await aggregate({ data: { jobId: rec.id, tenant } } as unknown as BullJob)).toEqual({ status: 'completed' });
    expect(await artifacts.getJson(keys.jobFile(rec.id, 'spec.json'))).toEqual(SPEC);
    expect(await store.getStatus(rec.id)).toBe('completed');
    expect(await store.tenantUnits(tenant)).toEqual({ active: 0, backlog: 0 });
  });
});
