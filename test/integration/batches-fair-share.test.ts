/**
 * Two tenants' batches through the real queue: a real BullMQ worker takes units in
 * the order the queue serves them; the small batch submitted after the big one is
 * not starved, and a higher-priority batch overtakes both.
 */
import { Worker } from 'bullmq';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { QUEUES } from '../../services/core/catalog.ts';
import { connectRedis } from '../../services/platform/redis.ts';
import { createTestStack, type TestStack } from '../../support/app.ts';

let stack: TestStack;
beforeAll(async () => {
  // acme may use priorities up to 90 (tenants get 50 unless the operator grants more)
  stack = await createTestStack({ label: 'fair-share', env: { NIGHTSHIFT_TENANT_MAX_PRIORITY: 'acme:90' } });
});
afterAll(async () => {
  await stack?.close();
});

const base = {
  dataset: { uri: 'builtin:make_regression?n_samples=60&n_features=3&random_state=1' },
  model: { layers: [{ type: 'dense', units: 1 }] },
  training: { loss: 'mse', epochs: 1 },
  evaluation: { method: 'kfold', folds: 3 },
};

it("a tenant's small batch runs next to the first units of another's big one; a higher priority goes first", async () => {
  const big = await stack.app.inject({ method: 'POST', url: '/v1/batches', headers: stack.auth('acme'), payload: { name: 'big', base, grid: { 'training.epochs': Array.from({ length: 10 }, (_, i) => i + 1) } } });
  expect(big.statusCode, big.body).toBe(201);
  const small = await stack.app.inject({ method: 'POST', url: '/v1/batches', headers: stack.auth('globex'), payload: { name: 'small', base, grid: { 'training.epochs': [1] } } });
  expect(small.statusCode, small.body).toBe(201);
  const urgent = await stack.app.inject({ method: 'POST', url: '/v1/batches', headers: stack.auth('acme'), payload: { name: 'urgent', base, grid: { 'training.epochs': [2] }, priority: 90 } });
  expect(urgent.statusCode, urgent.body).toBe(201);

  const order: string[] = [];
  const connection = connectRedis(stack.config.redisUrl, { forBullWorker: true, name: 'fair-share-worker' });
  const urgentJob = urgent.json().jobIds[0] as string;
  const worker = new Worker(QUEUES.units, async (job) => {
    order.push(job.data.jobId === urgentJob ? 'urgent' : job.data.tenant);
  }, { connection, prefix: stack.prefix, concurrency: 1, autorun: false });
  worker.on('error', () => {});
  void worker.run();
  const end = Date.now() + 30_000;
  while (order.length < 36 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  await worker.close();
  connection.disconnect();

  expect(order).toHaveLength(36);
  expect(order.slice(0, 3)).toEqual(['urgent', 'urgent', 'urgent']);
  // globex's 3 units interleave with acme's first three, instead of waiting for all 30
  expect(order.slice(3, 9).sort()).toEqual(['acme', 'acme', 'acme', 'globex', 'globex', 'globex']);
  expect(order.slice(9).every((t) => t === 'acme')).toBe(true);
});
