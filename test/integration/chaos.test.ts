/**
 * Chaos on the local stack. The API and the provisioner run as separate processes
 * (services/api/main.ts, services/provisioner/main.ts) over their own redis-server
 * (AOF, fsync always; the shared Redis is untouched) and an S3-protocol server; the
 * provisioner's local instances are worker processes. While a batch of 100 training
 * units runs, a seeded script SIGKILLs the API, the provisioner and random workers at
 * random moments and starts them again, and kills and restarts Redis once. Then:
 * every job ended completed, or failed with a reason; each unit's result is recorded
 * once (one result file per planned unit, unitsDone = unitsTotal, one score per
 * evaluation unit); the API agrees with the artifact store; no worker or trainer
 * process of this stack is left once the fleet has gone idle.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveJobSpec } from '../../services/core/job-defaults.ts';
import { planUnits } from '../../services/core/units.ts';
import { keys } from '../../services/core/keys.ts';
import { s3ArtifactStore, type S3Options } from '../../services/platform/artifacts.ts';
import { startEmbeddedS3, type EmbeddedS3 } from '../../services/platform/embedded-s3.ts';
import { Proc, freePort, sleep, trainerChildPids, tsxProc, workerPids } from '../support/procs.ts';

const KEY = `chaos-key-${randomBytes(6).toString('hex')}`;
const ADMIN = `${KEY}-admin`;
const SEED = 7;
const TERMINAL = new Set(['completed', 'failed', 'cancelled', 'budget_exhausted', 'deadline_missed']);

const spec = (name: string, folds: number, finalFit: boolean, seed: number) => ({
  name,
  dataset: { uri: `builtin:make_classification?n_samples=100&n_features=6&n_informative=3&n_redundant=0&random_state=${seed}`, target: [-1] },
  model: { layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 1, activation: 'sigmoid' }] },
  training: { loss: 'binaryCrossentropy', optimizer: { name: 'adam', learningRate: 0.01 }, metrics: ['accuracy'], epochs: 20, batchSize: 8, engine: 'fused', checkpointEvery: 5 },
  evaluation: { method: 'kfold', folds, stratify: true, seed },
  final: { fit: finalFit },
  maxAttempts: 10,
  seed,
});
// one batch: 4 jobs (a grid over the split seed) x 25 folds = 100 units
const BATCH = {
  name: 'chaos-sweep',
  base: spec('chaos', 25, false, 1),
  grid: { 'evaluation.seed': [1, 2, 3, 4] },
};

let dir: string;
let prefix: string;
let s3: EmbeddedS3;
let redisPort: number;
let apiUrl = '';
let redis: Proc;
let api: Proc;
let provisioner: Proc;
let watch: Redis;
let s3opts: S3Options;
let passed = false;

const figures = { apiKills: 0, provisionerKills: 0, workerKills: 0, redisRestarts: 0, units: 0, outcomes: {} as Record<string, number>, seconds: 0 };

async function call(method: string, p: string, body?: unknown, key = KEY): Promise<{ status: number; body: any }> {
  const r = await fetch(`${apiUrl}${p}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : undefined };
}

/** Calls the API until it answers (it may be down, restarting, or waiting on Redis). */
async function callUntilAnswered(method: string, p: string, body?: unknown, key = KEY, timeoutMs = 60_000): Promise<{ status: number; body: any }> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await call(method, p, body, key);
      if (r.status < 500) return r;
    } catch {
      // not listening (killed, restarting)
    }
    if (Date.now() > end) throw new Error(`${method} ${p}: the API did not answer within ${timeoutMs} ms`);
    await sleep(300);
  }
}

async function startRedis(): Promise<void> {
  redis.start();
  const probe = new Redis({ port: redisPort, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  const end = Date.now() + 20_000;
  for (;;) {
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') break;
    } catch {
      // loading the AOF or not listening yet
    }
    probe.disconnect();
    if (Date.now() > end) throw new Error('redis-server did not start');
    await sleep(100);
  }
  probe.disconnect();
}

async function startApi(): Promise<void> {
  api.start();
  apiUrl = (await api.waitFor(/listening on (http:\/\/\S+)/))[1];
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ns-chaos-'));
  prefix = `nstest-chaos-${randomBytes(4).toString('hex')}`;
  s3 = await startEmbeddedS3({ directory: path.join(dir, 's3') });
  redisPort = await freePort();
  redis = new Proc('redis', 'redis-server', ['--bind', '127.0.0.1', '--port', String(redisPort), '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''], process.env, path.join(dir, 'redis.log'));
  await startRedis();
  const env = {
    ...process.env,
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    NIGHTSHIFT_PREFIX: prefix,
    NIGHTSHIFT_DATA_DIR: dir,
    NIGHTSHIFT_S3_BUCKET: `chaos-${randomBytes(4).toString('hex')}`,
    AWS_ENDPOINT_URL: s3.endpoint,
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    AWS_REGION: 'us-east-1',
    NIGHTSHIFT_API_KEYS: `chaos:${KEY}`,
    NIGHTSHIFT_ADMIN_KEYS: ADMIN,
    NIGHTSHIFT_COMPUTE: 'local',
    NIGHTSHIFT_MAX_INSTANCES: '2',
    NIGHTSHIFT_IDLE_TIMEOUT_S: '3',
    NIGHTSHIFT_BOOT_TIMEOUT_S: '60',
    NIGHTSHIFT_RECONCILE_MS: '400',
    NIGHTSHIFT_UNIT_LOCK_MS: '3000',
    PORT: '0', // a free port; the API prints where it listens
    NIGHTSHIFT_PROVISIONER_PORT: '0', // the provisioner's health listener too
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
  };
  s3opts = { bucket: env.NIGHTSHIFT_S3_BUCKET, region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, ...s3.credentials };
  // infra/ creates the bucket in production; the API and the provisioner only use it
  await s3ArtifactStore(s3opts).ensureBucket();
  api = tsxProc('api', 'services/api/main.ts', env, path.join(dir, 'api.log'));
  provisioner = tsxProc('provisioner', 'services/provisioner/main.ts', env, path.join(dir, 'provisioner.log'));
  await startApi();
  provisioner.start();
  watch = new Redis({ port: redisPort, host: '127.0.0.1', maxRetriesPerRequest: 1 });
  watch.on('error', () => {});
});

afterAll(async () => {
  for (const p of [api, provisioner]) await p?.stop('SIGTERM').catch(() => undefined);
  // anything of this stack still alive is a leak the test reports; end it so it does not outlive the run
  for (const pid of [...workerPids(prefix ?? '-'), ...trainerChildPids(prefix ?? '-')]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  watch?.disconnect();
  await redis?.stop('SIGKILL');
  await s3?.close();
  console.log(`chaos: ${JSON.stringify(figures)}`);
  // the process logs stay for a failed run (the failure message names the directory)
  if (dir && passed) rmSync(dir, { recursive: true, force: true });
});

async function unitsDone(ids: string[]): Promise<number> {
  let n = 0;
  for (const id of ids) n += Number((await watch.hget(`${prefix}:job:${id}`, 'unitsDone').catch(() => 0)) ?? 0);
  return n;
}

async function statuses(ids: string[]): Promise<string[]> {
  return Promise.all(ids.map(async (id) => (await watch.hget(`${prefix}:job:${id}`, 'status').catch(() => null)) ?? 'unknown'));
}

describe('chaos on the local stack', () => {
  it('every job ends with each unit counted once while the API, the provisioner, workers and Redis are killed', async () => {
    const started = Date.now();
    const sub = await callUntilAnswered('POST', '/v1/batches', BATCH);
    expect(sub.status, JSON.stringify(sub.body)).toBe(201);
    const batchId: string = sub.body.id;
    const ids: string[] = sub.body.jobIds;
    expect(ids).toHaveLength(4);
    const planned = new Map<string, string[]>();
    for (const id of ids) {
      const rec = (await callUntilAnswered('GET', `/v1/jobs/${id}/artifacts/spec.json`)).body;
      planned.set(id, planUnits(resolveJobSpec(rec)).map((u) => u.key));
    }
    figures.units = [...planned.values()].reduce((a, u) => a + u.length, 0);
    expect(figures.units).toBeGreaterThanOrEqual(100);

    // The script: nine faults at seeded points of progress (so a fast or a slow machine sees all
    // of them), each after a seeded delay, every kind early on; and Redis killed and restarted once,
    // when a third of the units are done, well before the end (a fault placed near the end can find
    // the work already finished on a fast run, and then tests nothing).
    const first = fc.sample(fc.shuffledSubarray(['api', 'provisioner', 'worker'] as const, { minLength: 3 }), { seed: SEED, numRuns: 1 })[0];
    const more = fc.sample(fc.constantFrom('api', 'provisioner', 'worker', 'worker'), { seed: SEED + 1, numRuns: 6 });
    const kinds: Array<'api' | 'provisioner' | 'worker' | 'redis'> = [...first, ...more];
    const at = fc.sample(fc.double({ min: 0.02, max: 0.7, noNaN: true }), { seed: SEED, numRuns: kinds.length }).sort((a, b) => a - b);
    const REDIS_AT = 1 / 3;
    const redisSlot = at.findIndex((a) => a > REDIS_AT);
    kinds.splice(redisSlot < 0 ? kinds.length : redisSlot, 0, 'redis');
    at.splice(redisSlot < 0 ? at.length : redisSlot, 0, REDIS_AT);
    const pauses = fc.sample(fc.tuple(fc.integer({ min: 0, max: 1_000 }), fc.integer({ min: 200, max: 1_500 })), { seed: SEED, numRuns: kinds.length });
    let next = 0;
    // about two minutes on an idle 2-core machine; room for a loaded one
    const deadline = Date.now() + 420_000;
    for (;;) {
      if ((await statuses(ids)).every((s) => TERMINAL.has(s))) break;
      const done = await unitsDone(ids);
      if (Date.now() > deadline) throw new Error(`jobs not finished in time: ${done}/${figures.units} units, statuses ${(await statuses(ids)).join(',')}; logs in ${dir}`);
      if (next >= kinds.length || done < at[next] * figures.units) {
        await sleep(200);
        continue;
      }
      const [delayMs, downMs] = pauses[next];
      const what = kinds[next++];
      await sleep(delayMs);
      if (what === 'redis') {
        await redis.stop('SIGKILL');
        await sleep(downMs);
        await startRedis();
        figures.redisRestarts++;
      } else if (what === 'api') {
        await api.stop('SIGKILL');
        figures.apiKills++;
        await sleep(downMs);
        await startApi();
      } else if (what === 'provisioner') {
        await provisioner.stop('SIGKILL');
        figures.provisionerKills++;
        await sleep(downMs);
        provisioner.start();
      } else {
        const pids = workerPids(prefix);
        if (!pids.length) {
          next--; // no worker up right now (a provisioner restart): try again shortly
          continue;
        }
        process.kill(pids[Math.floor(delayMs) % pids.length], 'SIGKILL');
        figures.workerKills++;
      }
    }
    figures.seconds = Math.round((Date.now() - started) / 1000);
    // the script did what it says (a run that finished before any fault tests nothing)
    expect(figures.apiKills).toBeGreaterThanOrEqual(1);
    expect(figures.provisionerKills).toBeGreaterThanOrEqual(1);
    expect(figures.workerKills).toBeGreaterThanOrEqual(1);
    expect(figures.redisRestarts).toBe(1);

    const artifacts = s3ArtifactStore(s3opts);
    for (const id of ids) {
      const job = (await callUntilAnswered('GET', `/v1/jobs/${id}`)).body;
      figures.outcomes[job.status] = (figures.outcomes[job.status] ?? 0) + 1;
      expect(['completed', 'failed'], `${id}: ${JSON.stringify(job)}`).toContain(job.status);
      if (job.status === 'failed') {
        expect(job.error?.code, `${id} failed without a reason`).toEqual(expect.any(String));
        expect(job.error?.message).toEqual(expect.any(String));
        continue;
      }
      const units = planned.get(id)!;
      // each unit's result once: one entry per planned unit in the job's unit table, counted once
      expect(job.progress.unitsDone).toBe(units.length);
      expect(job.progress.unitsTotal).toBe(units.length);
      expect(Object.keys(await watch.hgetall(`${prefix}:job:${id}:units`)).sort()).toEqual([...units].sort());
      const evalUnits = units.filter((u) => u !== 'final');
      expect(job.result.scores).toHaveLength(evalUnits.length);
      // the artifact store holds one result per unit and the API serves what it holds
      const files = await artifacts.list(keys.jobPrefix(id));
      expect(files.filter((k) => k.endsWith('/result.json')).sort()).toEqual(units.map((u) => keys.unitResult(id, u)).sort());
      expect(await artifacts.list(keys.checkpointPrefix(id))).toEqual([]);
      const summary = await artifacts.getJson<{ scores: number[]; mean: number }>(keys.summary(id));
      expect(summary?.scores).toEqual(job.result.scores);
      expect(summary?.mean).toBe(job.result.mean);
      const served = await callUntilAnswered('GET', `/v1/jobs/${id}/artifacts/summary.json`);
      expect(served.body).toEqual(summary);
      if (units.includes('final')) expect(files).toContain(keys.modelJson(id));
    }

    const batch = (await callUntilAnswered('GET', `/v1/batches/${batchId}`)).body;
    expect(batch.counts.completed ?? 0).toBe(figures.outcomes.completed ?? 0);
    if (!figures.outcomes.failed) expect(batch.status, JSON.stringify(batch)).toBe('completed');

    // the fleet goes idle and ends: no worker or trainer process of this stack is left
    const idleBy = Date.now() + 60_000;
    while ((workerPids(prefix).length || trainerChildPids(prefix).length) && Date.now() < idleBy) await sleep(500);
    expect(workerPids(prefix), 'worker processes left running').toEqual([]);
    expect(trainerChildPids(prefix), 'trainer processes left running').toEqual([]);
    // and the provisioner's records say so (it notices an exit on its next pass)
    let live: Array<{ id: string; state: string }> = [];
    const recordedBy = Date.now() + 30_000;
    do {
      const fleet = (await callUntilAnswered('GET', '/v1/instances', undefined, ADMIN)).body as Array<{ id: string; state: string }>;
      expect(fleet.length).toBeGreaterThan(0);
      live = fleet.filter((i) => i.state !== 'terminated');
      if (live.length) await sleep(500);
    } while (live.length && Date.now() < recordedBy);
    expect(live, 'instances the provisioner still counts as live').toEqual([]);
    passed = true;
  }, 540_000);
});

