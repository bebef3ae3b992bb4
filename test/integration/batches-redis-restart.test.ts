/**
 * A Redis restart (its own redis-server with AOF, stopped and started again on the
 * same files) loses no batch: the record, its jobs' statuses, finished unit results
 * and the delayed units of a scheduled batch are all there afterwards, and the API
 * answers from them without being restarted itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { unitJobId } from '../../services/core/catalog.ts';
import { pingRedis } from '../../services/platform/redis.ts';
import { createTestStack, type TestStack } from '../../support/app.ts';

let dir: string;
let port: number;
let redis: ChildProcess | undefined;
let stack: TestStack;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

async function startRedis(): Promise<void> {
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''], { stdio: 'ignore' });
  const end = Date.now() + 10_000;
  while (!(await pingRedis(`redis://127.0.0.1:${port}`, 500))) {
    if (Date.now() > end) throw new Error('redis-server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopRedis(): Promise<void> {
  const r = redis;
  if (!r || r.exitCode !== null) return;
  const exited = new Promise((resolve) => r.once('exit', resolve));
  r.kill('SIGTERM'); // redis-server flushes its AOF and exits
  await exited;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ns-redis-restart-'));
  port = await freePort();
  await startRedis();
  stack = await createTestStack({ label: 'redis-restart', env: { REDIS_URL: `redis://127.0.0.1:${port}` } });
}, 30_000);
afterAll(async () => {
  await stack?.close();
  await stopRedis();
  rmSync(dir, { recursive: true, force: true });
});

const base = {
  dataset: { uri: 'builtin:make_regression?n_samples=60&n_features=3&random_state=1' },
  model: { layers: [{ type: 'dense', units: 1 }] },
  training: { loss: 'mse', epochs: 1 },
  evaluation: { method: 'kfold', folds: 3 },
};

it('a scheduled batch and a partly done one are intact after Redis restarts', async () => {
  const headers = stack.auth('acme');
  const later = await stack.app.inject({ method: 'POST', url: '/v1/batches', headers, payload: { name: 'later', base, grid: { 'training.epochs': [1, 2] }, schedule: { notBefore: new Date(Date.now() + 600_000).toISOString() } } });
  const now = await stack.app.inject({ method: 'POST', url: '/v1/batches', headers, payload: { name: 'now', base, grid: { 'training.epochs': [1, 2] } } });
  expect(later.statusCode).toBe(201);
  expect(now.statusCode).toBe(201);
  const running = now.json().jobIds[0];
  await stack.store.setStatus(running, 'running');
  await stack.store.unitDone(running, { key: 'r0-p0-f0', kind: 'eval', run: 0, repeat: 0, fold: 0, score: 3.5, epochs: 1, trainRows: 40, testRows: 20, durationMs: 10, backend: 'cpu', engine: 'fused', worker: 'w' });
  const before = [(await stack.app.inject({ url: `/v1/batches/${later.json().id}`, headers })).json(), (await stack.app.inject({ url: `/v1/batches/${now.json().id}`, headers })).json()];

  await stopRedis();
  await startRedis();
  // the API's connections come back by themselves
  const end = Date.now() + 20_000;
  let after: any[] = [];
  for (;;) {
    const a = await stack.app.inject({ url: `/v1/batches/${later.json().id}`, headers });
    const b = await stack.app.inject({ url: `/v1/batches/${now.json().id}`, headers });
    if (a.statusCode === 200 && b.statusCode === 200) {
      after = [a.json(), b.json()];
      break;
    }
    if (Date.now() > end) throw new Error(`the API did not answer after the restart: ${a.statusCode} ${a.body}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(after).toEqual(before);
  expect(after[0]).toMatchObject({ status: 'scheduled', counts: { scheduled: 2 } });
  expect(after[1]).toMatchObject({ status: 'running', progress: { unitsDone: 1, unitsTotal: 6 } });
  const unit = await stack.queues.units.getJob(unitJobId(later.json().jobIds[1], 'r0-p0-f2'));
  expect(await unit!.getState()).toBe('delayed');
}, 60_000);
