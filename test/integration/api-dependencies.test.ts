/**
 * Dependencies failing for real: a Redis server of this test's own is stopped and
 * started again, and the embedded S3 server is closed. The API answers 503 with
 * Retry-After and the error envelope, acknowledges nothing it did not store,
 * leaves no object behind for a failed upload, and recovers when Redis is back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Readable } from 'node:stream';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { freePort } from '../../services/platform/ports.ts';
import { reconnectDelayMs } from '../../services/platform/redis.ts';
import { createSummarizer } from '../../services/api/services/summarize.ts';
import { createTestStack, type TestStack } from '../../support/app.ts';


async function startRedis(port: number): Promise<ChildProcess> {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const probe = new Redis({ port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => undefined);
    const up = await probe.connect().then(() => probe.ping(), () => undefined);
    probe.disconnect();
    if (up === 'PONG') return proc;
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill('SIGKILL');
  throw new Error('redis-server did not start');
}

const stop = (proc: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (proc.exitCode !== null) return resolve();
    proc.once('exit', () => resolve());
    proc.kill('SIGKILL');
  });

const waitFor = async (cond: () => boolean, ms = 10_000): Promise<void> => {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
};

const spec = {
  dataset: { uri: 'builtin:make_regression?n_samples=50&n_features=3' },
  model: { layers: [{ type: 'dense', units: 1 }] },
  training: { loss: 'mse', epochs: 1 },
};

let redisProc: ChildProcess | undefined;
let stack: TestStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
  if (redisProc) await stop(redisProc);
  redisProc = undefined;
});
afterAll(async () => {
  if (redisProc) await stop(redisProc);
});

describe('Redis unavailable', { timeout: 60_000 }, () => {
  it('answers 503 with Retry-After and the envelope on every route, stores nothing, and recovers when Redis is back', async () => {
    const port = await freePort();
    redisProc = await startRedis(port);
    stack = await createTestStack({ label: 'deps', env: { REDIS_URL: `redis://127.0.0.1:${port}` } });
    expect((await stack.app.inject({ url: '/v1/jobs', headers: stack.auth('acme') })).statusCode).toBe(200);

    await stop(redisProc);
    await waitFor(() => stack!.redis.status !== 'ready');
    for (const [method, url] of [['GET', '/v1/jobs'], ['GET', '/v1/jobs/job_x'], ['POST', '/v1/jobs'], ['DELETE', '/v1/datasets/ds_x']] as const) {
      const res = await stack.app.inject({ method, url, headers: stack.auth('acme'), ...(method === 'POST' ? { payload: spec } : {}) });
      expect(res.statusCode, `${method} ${url}`).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(res.json().error.code).toBe('unavailable');
    }
    // an upload during the outage: 503, and no object left in the bucket
    const up = await stack.app.inject({ method: 'POST', url: '/v1/datasets', headers: { ...stack.auth('acme'), 'content-type': 'text/csv' }, payload: '1,2\n3,4\n' });
    expect(up.statusCode).toBe(503);
    expect(up.headers['retry-after']).toBe('5');
    expect(await stack.artifacts.list('datasets/')).toEqual([]);
    const health = await stack.app.inject({ url: '/healthz' });
    expect(health.statusCode).toBe(503);

    redisProc = await startRedis(port);
    await waitFor(() => stack!.redis.status === 'ready', 15_000);
    const list = await stack.app.inject({ url: '/v1/jobs', headers: stack.auth('acme') });
    expect(list.statusCode).toBe(200);
    expect(list.json().items).toEqual([]); // the POST during the outage created nothing
  });

  it('an upload during which Redis goes down answers 503 and leaves no object in S3', async () => {
    const port = await freePort();
    redisProc = await startRedis(port);
    const summarize = createSummarizer();
    const proc = redisProc;
    let written = 0;
    stack = await createTestStack({
      label: 'deps-upload',
      env: { REDIS_URL: `redis://127.0.0.1:${port}` },
      // Redis dies while the body streams in (a multipart upload open), after the request passed the gate
      deps: { summarize: async (header) => {
        const session = await summarize(header);
        return { ...session, write: async (chunk) => {
          written += chunk.length;
          if (written > 9 * 1024 * 1024 && proc.exitCode === null) await stop(proc);
          await session.write(chunk);
        } };
      } },
    });
    const rows = Array.from({ length: 1_000_000 }, (_, i) => `${i},${i % 7},${i % 2}`).join('\n');
    const csv = Buffer.from(`${rows}\n`);
    expect(csv.length).toBeGreaterThan(9 * 1024 * 1024);
    const res = await stack.app.inject({ method: 'POST', url: '/v1/datasets', headers: { ...stack.auth('acme'), 'content-type': 'text/csv' }, payload: Readable.from([csv.subarray(0, 5e6), csv.subarray(5e6, 10e6), csv.subarray(10e6)]) });
    expect(proc.signalCode).toBe('SIGKILL'); // Redis was down before the upload ended
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(await stack.artifacts.list('datasets/')).toEqual([]);
    // back up, so the stack (its BullMQ queues) can close
    redisProc = await startRedis(port);
    await waitFor(() => stack!.redis.status === 'ready', 15_000);
  });
});

describe('S3 unavailable', () => {
  it('answers 503 with Retry-After for uploads and artifact reads', async () => {
    stack = await createTestStack({ label: 'deps-s3' });
    await stack.s3!.close();
    const up = await stack.app.inject({ method: 'POST', url: '/v1/datasets', headers: { ...stack.auth('acme'), 'content-type': 'text/csv' }, payload: '1,2\n3,4\n' });
    expect(up.statusCode).toBe(503);
    expect(up.headers['retry-after']).toBe('5');
    expect(up.json().error.code).toBe('unavailable');
    expect(await stack.store.storedBytes('acme')).toBe(0);
    // a job on a builtin data set needs no artifact store to be accepted: Redis holds its record and spec
    const job = await stack.app.inject({ method: 'POST', url: '/v1/jobs', headers: stack.auth('acme'), payload: spec });
    expect(job.statusCode, job.body).toBe(202);
    expect(await stack.store.getStatus(job.json().id)).toBe('queued');
  });
});

describe('reconnect backoff', () => {
  it.each([
    [1, 0, 80], [1, 1, 100], [2, 1, 200], [4, 1, 800], [6, 0.5, 2_880], [7, 1, 5_000], [50, 0, 4_000], [50, 1, 5_000],
  ])('attempt %i with jitter %f waits %i ms', (attempt, r, want) => {
    expect(reconnectDelayMs(attempt, () => r)).toBe(want);
  });
});
