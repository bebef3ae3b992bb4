/**
 * The batch supervisor over real Redis and BullMQ (no workers): projections and
 * `atRisk` as the API shows them, the slots a deadline batch asks of its class, the
 * window opening (scheduled -> queued, delayed units moved to the queue) and the
 * report written when a batch ends.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { unitJobId } from '../../services/core/catalog.ts';
import { createBatchStore } from '../../services/platform/batches.ts';
import { createBatchSupervisor } from '../../services/provisioner/batch-supervisor.ts';
import { createTestStack, type TestStack } from '../../support/app.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await createTestStack({ label: 'supervisor' });
});
afterAll(async () => {
  await stack?.close();
});

const base = (epochs: number) => ({
  dataset: { uri: 'builtin:make_regression?n_samples=60&n_features=3&random_state=1' },
  model: { layers: [{ type: 'dense', units: 1 }] },
  training: { loss: 'mse', epochs },
  evaluation: { method: 'kfold', folds: 5 },
});
const quiet = { info() {}, warn() {} };
const fleet = (maxInstances: number) => ({ live: {}, slots: () => 1, maxInstances, bootSeconds: 5 });

it('projects each deadline batch: on time with enough instances, atRisk when the cap is too low', async () => {
  const sup = createBatchSupervisor({ store: stack.store, batches: createBatchStore(stack.redis, stack.prefix, stack.store), queues: stack.queues, artifacts: stack.artifacts, logger: quiet });
  const headers = stack.auth('acme');
  // 4 jobs x 5 folds = 20 units; estimated 5 + 0.1 x 100 = 15 s each
  const res = await stack.app.inject({ method: 'POST', url: '/v1/batches', headers, payload: { name: 'tight', base: base(100), grid: { 'training.batchSize': [8, 16, 32, 64] }, schedule: { deadline: new Date(Date.now() + 60_000).toISOString() } } });
  expect(res.statusCode, res.body).toBe(201);
  const id = res.json().id;

  const needs = await sup.tick(Date.now(), fleet(10));
  // 60 s - 5 s boot = 3 waves of 15 s: ceil(20 / 3) = 7 instances
  expect(needs.any).toEqual({ pending: 20, slots: 7 });
  let b = (await stack.app.inject({ url: `/v1/batches/${id}`, headers })).json();
  expect(b.atRisk).toBe(false);
  expect(b.projection).toMatchObject({ instancesNeeded: 7, unitSeconds: 15, basis: 'estimated' });

  await sup.tick(Date.now(), fleet(2));
  b = (await stack.app.inject({ url: `/v1/batches/${id}`, headers })).json();
  expect(b.atRisk).toBe(true);
  // 2 instances: 10 waves of 15 s after 5 s of boot
  expect(Date.parse(b.projection.projectedFinish) - Date.parse(b.projection.at)).toBe(155_000);
});

it('opens the window: scheduled jobs become queued and their delayed units move to the queue', async () => {
  const sup = createBatchSupervisor({ store: stack.store, batches: createBatchStore(stack.redis, stack.prefix, stack.store), queues: stack.queues, artifacts: stack.artifacts, logger: quiet });
  const headers = stack.auth('globex');
  const res = await stack.app.inject({ method: 'POST', url: '/v1/batches', headers, payload: { name: 'soon', base: base(1), grid: { 'training.epochs': [1] }, schedule: { notBefore: new Date(Date.now() + 1_500).toISOString() } } });
  const { id, jobIds } = res.json();
  await sup.tick(Date.now(), fleet(2));
  expect((await stack.store.getJob(jobIds[0]))!.status).toBe('scheduled');
  await new Promise((r) => setTimeout(r, 1_600));
  await sup.tick(Date.now(), fleet(2));
  expect((await stack.store.getJob(jobIds[0]))!.status).toBe('queued');
  const unit = await stack.queues.units.getJob(unitJobId(jobIds[0], 'r0-p0-f4'));
  expect(await unit!.getState()).toMatch(/waiting|prioritized/);
  expect((await stack.app.inject({ url: `/v1/batches/${id}`, headers })).json().status).toBe('queued');

  // it ends (cancelled): the next pass writes the report and the batch leaves the active set
  await stack.app.inject({ method: 'DELETE', url: `/v1/batches/${id}`, headers });
  const store = createBatchStore(stack.redis, stack.prefix, stack.store);
  expect(await store.active()).toContain(id);
  await sup.tick(Date.now(), fleet(2));
  expect(await store.active()).not.toContain(id);
  expect((await stack.artifacts.get(`batches/${id}/report.md`))?.toString('utf8')).toContain('- status: cancelled');
});
