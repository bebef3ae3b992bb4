/**
 * The production entry points as real processes: the API (services/api/main.ts) and the
 * provisioner (services/provisioner/main.ts) start from the environment, answer their
 * health checks, and exit 0 on SIGTERM; the worker (workers/trainer/main.ts) launched for
 * a GPU it cannot use stops before taking a unit. Real Redis, the embedded S3 server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedS3, type EmbeddedS3 } from '../../services/platform/embedded-s3.ts';
import { freePort } from '../../services/platform/ports.ts';
import { REPO_ROOT } from '../../services/provisioner/worker-process.ts';
import { waitFor } from '../../support/cloud-sim.ts';
import { connectRedis } from '../../services/platform/redis.ts';
import { createFleetStore } from '../../services/platform/fleet-store.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../../support/redis.ts';
import { Worker } from 'bullmq';
import { loadConfig } from '../../services/core/config.ts';
import { QUEUES } from '../../services/core/catalog.ts';
import type { UnitResult } from '../../services/core/job.ts';
import type { JobSpec } from '../../services/core/spec.ts';
import { planUnits } from '../../services/core/units.ts';
import { resolveJobSpec } from '../../services/core/job-defaults.ts';
import { s3ArtifactStore, s3Options } from '../../services/platform/artifacts.ts';
import { createQueues, enqueueJob } from '../../services/platform/queue.ts';
import { createStore } from '../../services/platform/store.ts';

let s3: EmbeddedS3;
let dir: string;
const prefix = uniquePrefix('entry');

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'nightshift-entry-'));
  s3 = await startEmbeddedS3({ directory: dir });
});
afterAll(async () => {
  await s3?.close();
  rmSync(dir, { recursive: true, force: true });
  await cleanupPrefix(prefix);
});

function start(entry: string, env: Record<string, string>): { proc: ChildProcess; exit: Promise<number | null>; out: () => string } {
  let out = '';
  const proc = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '', REDIS_URL: TEST_REDIS_URL, NIGHTSHIFT_PREFIX: prefix, AWS_ENDPOINT_URL: s3.endpoint, AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
      NIGHTSHIFT_S3_BUCKET: 'nightshift-entry', NIGHTSHIFT_API_KEYS: 'acme:acme-key-0123456789', LOG_LEVEL: 'warn', ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exit = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, exit, out: () => out };
}

const healthy = async (url: string) => fetch(url).then((r) => r.ok, () => false);

describe('production entry points', () => {
  it('the API serves /healthz and stops with exit 0 on SIGTERM', async () => {
    const port = await freePort(0);
    const api = start('services/api/main.ts', { PORT: String(port), HOST: '127.0.0.1' });
    try {
      await waitFor(() => healthy(`http://127.0.0.1:${port}/healthz`), 60_000, 'the API answering /healthz');
      const r = await fetch(`http://127.0.0.1:${port}/v1/jobs`, { headers: { authorization: 'Bearer acme-key-0123456789' } });
      expect(r.status).toBe(200);
      api.proc.kill('SIGTERM');
      expect(await api.exit, api.out()).toBe(0);
    } finally {
      api.proc.kill('SIGKILL');
    }
  }, 90_000);

  it('the provisioner reconciles, serves /healthz and /metrics, and stops with exit 0 on SIGTERM', async () => {
    const port = await freePort(0);
    const prov = start('services/provisioner/main.ts', { NIGHTSHIFT_PROVISIONER_PORT: String(port), HOST: '127.0.0.1', NIGHTSHIFT_MAX_INSTANCES: '0', NIGHTSHIFT_RECONCILE_MS: '200' });
    try {
      await waitFor(() => healthy(`http://127.0.0.1:${port}/healthz`), 60_000, 'the provisioner answering /healthz');
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(/nightshift_provisioner_reconcile_seconds_count \d+/);
      prov.proc.kill('SIGTERM');
      expect(await prov.exit, prov.out()).toBe(0);
    } finally {
      prov.proc.kill('SIGKILL');
    }
  }, 90_000);

  it('the provisioner finishes a job whose units are done while no instance runs (the aggregate step runs there too)', async () => {
    const port = await freePort(0);
    const prov = start('services/provisioner/main.ts', { NIGHTSHIFT_PROVISIONER_PORT: String(port), HOST: '127.0.0.1', NIGHTSHIFT_MAX_INSTANCES: '0', NIGHTSHIFT_RECONCILE_MS: '200' });
    const artifacts = s3ArtifactStore(s3Options(loadConfig({ AWS_ENDPOINT_URL: s3.endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey, NIGHTSHIFT_S3_BUCKET: 'nightshift-entry' })));
    await artifacts.ensureBucket();
    const redis = connectRedis(TEST_REDIS_URL, { name: 'test-entry-aggregate' });
    const bull = connectRedis(TEST_REDIS_URL, { forBullWorker: true, name: 'test-entry-units' });
    const queues = createQueues(bull, prefix);
    const store = createStore(redis, prefix);
    // a trainer's unit processor stands in for the instance that ran the one unit; no aggregate worker but the provisioner's
    const units = new Worker(QUEUES.units, async (job) => {
      const r: UnitResult = { key: job.data.unit.key, kind: 'eval', run: 0, repeat: 0, fold: 0, score: 0.25, epochs: 1, trainRows: 30, testRows: 10, durationMs: 5, backend: 'cpu', engine: 'fused', worker: 'w' };
      await store.setStatus(job.data.jobId, 'running');
      await store.unitDone(job.data.jobId, r);
    }, { connection: bull, prefix });
    try {
      await waitFor(() => healthy(`http://127.0.0.1:${port}/healthz`), 60_000, 'the provisioner answering /healthz');
      const spec = { name: 'finished-by-provisioner', dataset: { uri: 'builtin:make_regression?n_samples=40&n_features=3' }, model: { layers: [{ type: 'dense', units: 1 }] }, training: { loss: 'mse', epochs: 1 }, evaluation: { method: 'holdout' } } as unknown as JobSpec;
      const id = `job_entry${Date.now().toString(36)}`;
      const unitList = planUnits(resolveJobSpec(spec));
      await store.createJob({ id, name: 'finished-by-provisioner', tenant: 'acme', createdAt: new Date().toISOString(), spec, unitsTotal: unitList.length, resourceClass: 'cpu' });
      await enqueueJob(queues, { jobId: id, tenant: 'acme', units: unitList, resourceClass: 'cpu', priority: 50, maxAttempts: 1 });
      await waitFor(async () => (await store.getStatus(id)) === 'completed', 30_000, 'the job completed by the provisioner');
      expect((await store.getJob(id))!.result).toMatchObject({ scores: [0.25] });
      expect(await artifacts.getJson(`jobs/${id}/summary.json`)).toMatchObject({ n: 1 });
      prov.proc.kill('SIGTERM');
      expect(await prov.exit, prov.out()).toBe(0);
    } finally {
      prov.proc.kill('SIGKILL');
      await units.close();
      await queues.close();
      bull.disconnect();
      redis.disconnect();
      artifacts.client.destroy();
    }
  }, 90_000);

  it('a worker launched for a GPU that nvidia-smi cannot see reports it, asks for a power-off and takes no unit (exit 3)', async () => {
    // a broken driver, the one fault this machine cannot produce for real: an nvidia-smi that fails
    const bin = path.join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(path.join(bin, 'nvidia-smi'), '#!/bin/sh\necho "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver." >&2\nexit 9\n', { mode: 0o755 });
    const marker = path.join(dir, 'poweroff');
    const w = start('workers/trainer/main.ts', {
      PATH: `${bin}:${process.env.PATH ?? ''}`, NIGHTSHIFT_ACCELERATOR: 'gpu', NIGHTSHIFT_INSTANCE_ID: 'i-nogpu', NIGHTSHIFT_IMDS_ENDPOINT: 'off',
      NIGHTSHIFT_SHUTDOWN_COMMAND: `touch '${marker}'`,
    });
    expect(await w.exit, w.out()).toBe(3);
    await waitFor(() => existsSync(marker), 5_000, 'the power-off request');
    const redis = connectRedis(TEST_REDIS_URL);
    try {
      const failures = await createFleetStore(redis, prefix).gpuFailures();
      expect(failures).toEqual([{ instanceId: 'i-nogpu', at: expect.any(Number), reason: expect.stringMatching(/^no_driver: nvidia-smi failed: .*NVIDIA-SMI has failed/) }]);
    } finally {
      redis.disconnect();
    }
  }, 60_000);

  it('a bad setting stops the API with exit 2 and names the variable', async () => {
    const api = start('services/api/main.ts', { NIGHTSHIFT_EC2_ALLOWED_TYPES: 'x9.mega' });
    expect(await api.exit).toBe(2);
    expect(api.out()).toMatch(/NIGHTSHIFT_EC2_ALLOWED_TYPES/);
  }, 60_000);
});
