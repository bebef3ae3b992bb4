/**
 * The whole product through HTTP, as a user meets it: the local stack with real
 * Redis, the embedded S3 server, the provisioner's local provider and worker
 * processes that run the real trainer.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../services/api/app.ts';
import { loadConfig } from '../../services/core/config.ts';
import { s3ArtifactStore } from '../../services/platform/artifacts.ts';
import { createQueues } from '../../services/platform/queue.ts';
import { connectRedis } from '../../services/platform/redis.ts';
import { createStore } from '../../services/platform/store.ts';
import { TEST_REDIS_URL } from '../../support/redis.ts';
import { isDone, startE2EStack, trainerPids, type E2EStack } from '../support/stack.ts';
import { pimaLikeCsv, saturatingSpec } from '../support/pima-like.ts';

const TUTORIAL_ROW = [-0.99859353, 2.19284309, -0.42632938, -0.21043258, -0.76409478, 0.38773181, -0.99874473, -1.1567218, 0.3437602, -0.17309765];

/** A job that trains in well under a second: work for the local provider. */
const TINY_JOB = {
  dataset: { uri: 'builtin:make_regression?n_samples=100&n_features=3&n_informative=2&random_state=1' },
  model: { layers: [{ type: 'dense', units: 1 }] },
  training: { loss: 'mse', epochs: 5 },
  evaluation: { method: 'kfold', folds: 2 },
};

let s: E2EStack;
beforeAll(async () => {
  s = await startE2EStack('e2e');
}, 60_000);
afterAll(async () => {
  await s?.close();
});

describe('the tutorial multi-output regression over HTTP', () => {
  it('trains with a holdout and a final fit: 100 epochs of history, a TF.js model, predict answers three numbers', async () => {
    const spec = JSON.parse(readFileSync('examples/regression-holdout.json', 'utf8'));
    const sub = await s.call('POST', '/v1/jobs', spec);
    expect(sub.status).toBe(202);
    const job = await s.waitFor(sub.body.id, isDone, 180_000);
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    expect(job.progress).toMatchObject({ unitsDone: 2, unitsTotal: 2 });
    expect(job.result.metric).toBe('mae');
    expect(job.result.scores).toHaveLength(1);
    expect(job.result.mean).toBeGreaterThan(0);
    expect(job.result.mean).toBeLessThan(60); // an untrained model is ~100 off on these targets

    const h = await s.call('GET', `/v1/jobs/${job.id}/history`);
    expect(h.status).toBe(200);
    expect(h.body.units).toHaveLength(1);
    expect(h.body.units[0].epochs).toHaveLength(100);
    expect(h.body.final.epochs).toHaveLength(100);
    const first = h.body.final.epochs[0];
    const last = h.body.final.epochs[99];
    expect(last.epoch).toBe(100);
    expect(last.loss).toBeLessThan(first.loss);

    const model = await s.call('GET', `/v1/jobs/${job.id}/artifacts/model.json`);
    expect(model.status).toBe(200);
    expect(model.body.format).toBe('layers-model');
    expect(model.body.modelTopology).toBeTruthy();
    const specs = model.body.weightsManifest[0].weights as Array<{ shape: number[] }>;
    const floats = specs.reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1), 0);
    expect(floats).toBe(10 * 20 + 20 + 20 * 3 + 3);
    const weights = await fetch(`${s.url}/v1/jobs/${job.id}/artifacts/weights.bin`, { headers: { authorization: `Bearer ${s.key}` } });
    expect((await weights.arrayBuffer()).byteLength).toBe(floats * 4);

    const p = await s.call('POST', `/v1/jobs/${job.id}/predict`, { rows: [TUTORIAL_ROW] });
    expect(p.status).toBe(200);
    expect(p.body.predictions).toHaveLength(1);
    expect(p.body.predictions[0]).toHaveLength(3);
    for (const v of p.body.predictions[0]) expect(Number.isFinite(v)).toBe(true);
    expect(p.body.labels).toBeUndefined();

    const wrong = await s.call('POST', `/v1/jobs/${job.id}/predict`, { rows: [[1, 2, 3]] });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.message).toContain('rows.0');
  }, 240_000); // its waits, not the suite default, bound it (a loaded machine trains slower)
});

describe('classification with string labels', () => {
  it('stratified k-fold units fan out over both workers; predict answers the original labels', async () => {
    const csv = readFileSync('examples/data/mammography.csv');
    const up = await s.call('POST', '/v1/datasets?name=mammo&header=false', csv, 'text/csv');
    expect(up.status).toBe(201);
    expect(up.body).toMatchObject({ rows: 11183, columns: 7 });
    const spec = {
      name: 'mammo-5fold',
      dataset: { uri: 'dataset:mammo' },
      model: { layers: [{ type: 'dense', units: 50, activation: 'relu', kernelInitializer: 'he_normal' }, { type: 'dense', units: 1, activation: 'sigmoid' }] },
      training: { loss: 'binaryCrossentropy', metrics: ['accuracy'], epochs: 80, batchSize: 32 },
      evaluation: { method: 'kfold', folds: 6, stratify: true, seed: 1 },
      final: { fit: true },
    };
    const sub = await s.call('POST', '/v1/jobs', spec);
    expect(sub.status).toBe(202);
    const job = await s.waitFor(sub.body.id, isDone, 240_000);
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    expect(job.result.metric).toBe('accuracy');
    expect(job.result.scores).toHaveLength(6);
    expect(job.result.mean).toBeGreaterThan(0.975);
    expect(job.result.ci95[0]).toBeLessThanOrEqual(job.result.mean);
    expect(job.result.ci95[1]).toBeGreaterThanOrEqual(job.result.mean);

    const summary = (await s.call('GET', `/v1/jobs/${job.id}/artifacts/summary.json`)).body;
    expect(summary.units.filter((u: any) => u.kind === 'eval')).toHaveLength(6);
    // every fold kept the class ratio: 260 positives over 6 folds -> 43 or 44 in each test fold
    for (const u of summary.units.filter((x: any) => x.kind === 'eval')) expect([1863, 1864]).toContain(u.testRows);
    expect(new Set(summary.units.map((u: any) => u.instanceId)).size).toBeGreaterThan(1);

    const p = await s.call('POST', `/v1/jobs/${job.id}/predict`, { rows: [[0.23001961, 5.0725783, -0.27606055, 0.83244412, -0.37786573, 0.4803223]] });
    expect(p.status).toBe(200);
    expect(p.body.labels).toEqual(['-1']);
    expect(p.body.predictions[0][0]).toBeLessThan(0.5);
  }, 300_000);
});

describe('other UCI-style data sets work unchanged', () => {
  /** Iris-shaped: a header, four measurements, three string classes in the last column. */
  function irisLike(): string {
    const centers: Record<string, number[]> = { 'Iris-setosa': [5.0, 3.4, 1.5, 0.2], 'Iris-versicolor': [5.9, 2.8, 4.3, 1.3], 'Iris-virginica': [6.6, 3.0, 5.6, 2.0] };
    let seed = 11;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5) * 0.6;
    const lines = ['sepal_length,sepal_width,petal_length,petal_width,class'];
    for (let i = 0; i < 50; i++) for (const [label, c] of Object.entries(centers)) lines.push([...c.map((v) => (v + rnd()).toFixed(1)), label].join(','));
    return lines.join('\n') + '\n';
  }

  it.each([
    ['categoricalCrossentropy', 'one-hot targets'],
    ['sparseCategoricalCrossentropy', 'class-index targets'],
  ])('three string classes with %s (%s): stratified k-fold, final model answers the class names', async (loss) => {
    const up = await s.call('POST', '/v1/datasets?name=iris-like&header=true', irisLike(), 'text/csv');
    expect(up.status).toBe(201);
    expect(up.body).toMatchObject({ rows: 150, columns: 5 });
    const sub = await s.call('POST', '/v1/jobs', {
      // the spec may repeat the upload's header flag or leave it to the upload
      dataset: { uri: up.body.uri, ...(loss === 'categoricalCrossentropy' ? { header: true } : {}) },
      preprocess: { standardize: true },
      model: { layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
      training: { loss, metrics: ['accuracy'], epochs: 60, batchSize: 8 },
      evaluation: { method: 'kfold', folds: 5, stratify: true, seed: 2 },
      final: { fit: true },
    });
    expect(sub.status, JSON.stringify(sub.body)).toBe(202);
    const job = await s.waitFor(sub.body.id, isDone, 120_000);
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    expect(job.result.mean).toBeGreaterThan(0.9);
    const p = await s.call('POST', `/v1/jobs/${job.id}/predict`, { rows: [[5.0, 3.4, 1.5, 0.2], [6.6, 3.0, 5.6, 2.0]] });
    expect(p.status).toBe(200);
    expect(p.body.labels).toEqual(['Iris-setosa', 'Iris-virginica']);
    expect(p.body.predictions[0]).toHaveLength(3);
  }, 180_000);
});

describe('data sets already in S3', () => {
  it("s3://<bucket>/datasets/<tenant>/key.csv trains like an upload; a missing one is refused at submission", async () => {
    const bucket = s3ArtifactStore(s.config.s3);
    const rows = Array.from({ length: 120 }, (_, i) => `${(i % 7) / 7},${(i % 5) / 5},${i % 2 === 0 ? 'yes' : 'no'}`);
    await bucket.put('datasets/e2e/inbox/parity.csv', `a,b,label\n${rows.join('\n')}\n`, 'text/csv');
    const ok = await s.call('POST', '/v1/jobs', {
      dataset: { uri: `s3://${s.config.s3.bucket}/datasets/e2e/inbox/parity.csv`, header: true },
      model: { layers: [{ type: 'dense', units: 4, activation: 'relu' }, { type: 'dense', units: 1, activation: 'sigmoid' }] },
      training: { loss: 'binaryCrossentropy', metrics: ['accuracy'], epochs: 5 },
      evaluation: { method: 'holdout', testSize: 0.25, stratify: true },
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(202);
    const done = await s.waitFor(ok.body.id, isDone, 60_000);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.result.scores).toHaveLength(1);

    const missing = await s.call('POST', '/v1/jobs', {
      dataset: { uri: `s3://${s.config.s3.bucket}/datasets/e2e/inbox/nope.csv` },
      model: { layers: [{ type: 'dense', units: 1 }] },
      training: { loss: 'mse', epochs: 1 },
    });
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe('dataset_not_found');
    expect(missing.body.error.message).toContain('nope.csv');
  });

  it("the worker checks the tenant's sources again: a foreign object that reached the queue fails the job unread", async () => {
    // another tenant's file, in the artifact bucket the workers can read
    const bucket = s3ArtifactStore(s.config.s3);
    await bucket.put('datasets/other/secret.csv', 'x,label\n1,top-secret-a\n2,top-secret-b\n3,top-secret-a\n4,top-secret-b\n', 'text/csv');
    // an API that grants tenant e2e the whole bucket (misconfigured, or compromised) queues the job;
    // the stack's workers hold the real policy
    const config = loadConfig({ ...process.env, REDIS_URL: TEST_REDIS_URL, NIGHTSHIFT_PREFIX: s.prefix, NIGHTSHIFT_API_KEYS: `e2e:${s.key}`,
      NIGHTSHIFT_S3_BUCKET: s.config.s3.bucket, AWS_ENDPOINT_URL: s.config.s3.endpoint ?? '', AWS_ACCESS_KEY_ID: s.config.s3.accessKeyId ?? '',
      AWS_SECRET_ACCESS_KEY: s.config.s3.secretAccessKey ?? '', NIGHTSHIFT_S3_SOURCES: `e2e:s3://${s.config.s3.bucket}`, LOG_LEVEL: 'silent' });
    const redis = connectRedis(config.redisUrl, { name: 'e2e-permissive-api' });
    const bull = connectRedis(config.redisUrl, { forBullWorker: true, name: 'e2e-permissive-queues' });
    const queues = createQueues(bull, s.prefix);
    const app = await buildApp({ config, store: createStore(redis, s.prefix), queues, artifacts: bucket, logger: false });
    try {
      const sub = await app.inject({ method: 'POST', url: '/v1/jobs', headers: { authorization: `Bearer ${s.key}`, 'content-type': 'application/json' },
        payload: { dataset: { uri: `s3://${s.config.s3.bucket}/datasets/other/secret.csv`, header: true }, model: { layers: [{ type: 'dense', units: 2, activation: 'softmax' }] },
          training: { loss: 'sparseCategoricalCrossentropy', epochs: 1 }, final: { fit: true } } });
      expect(sub.statusCode, sub.body).toBe(202);
      const failed = await s.waitFor(sub.json().id, isDone, 60_000);
      expect(failed.status).toBe('failed');
      expect(failed.error.code).toBe('dataset_not_found');
      expect(JSON.stringify(failed)).not.toContain('top-secret');
      const meta = await s.call('GET', `/v1/jobs/${failed.id}/artifacts/meta.json`);
      expect(meta.status).toBe(404);
    } finally {
      await app.close();
      await queues.close();
      redis.disconnect();
      bull.disconnect();
    }
  });
});

describe('work that cannot train fails once, with a clear error', () => {
  it('a non-numeric feature fails the job with non_numeric_feature and is not retried', async () => {
    const csv = 'a,1.0,x\nb,2.0,y\n0.5,3.0,x\n1.5,4.0,y\n';
    const up = await s.call('POST', '/v1/datasets?name=bad-features', csv, 'text/csv');
    expect(up.status).toBe(201);
    const sub = await s.call('POST', '/v1/jobs', {
      dataset: { uri: up.body.uri },
      model: { layers: [{ type: 'dense', units: 2, activation: 'softmax' }] },
      training: { loss: 'sparseCategoricalCrossentropy', epochs: 2 },
      maxAttempts: 3,
    });
    expect(sub.status).toBe(202);
    const job = await s.waitFor(sub.body.id, isDone, 60_000);
    expect(job.status).toBe('failed');
    expect(job.error.code).toBe('non_numeric_feature');
    expect(job.error.message).toMatch(/row 1/);
    expect(job.progress.unitsFailed).toBe(1);
  });

  it('an unscaled, saturating model completes with its training-health warnings in the API and in `nightshift status`', async () => {
    const up = await s.call('POST', '/v1/datasets?name=pima-like', pimaLikeCsv(), 'text/csv');
    expect(up.status).toBe(201);
    const sub = await s.call('POST', '/v1/jobs', saturatingSpec(up.body.uri));
    expect(sub.status).toBe(202);
    const job = await s.waitFor(sub.body.id, isDone, 60_000);
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    expect(job.engine).toBe('fused');
    expect(job.engineReason).toBe('training.engine is "fused"');
    expect(job.result.interval).toMatchObject({ method: 'none', df: 0 });
    const codes = job.warnings.map((w: { code: string }) => w.code);
    expect(codes).toEqual(expect.arrayContaining(['loss_flat', 'constant_class']));
    const cls = job.warnings.find((w: { code: string }) => w.code === 'constant_class');
    expect(cls.unit).toBe('r0-p0-f0');
    expect(cls.message).toMatch(/same class .* features are unscaled .* try preprocess\.standardize/);

    const out = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(process.execPath, ['bin/nightshift.js', '--url', s.url, '--key', s.key, 'status', job.id], { env: { ...process.env, NO_COLOR: '1' }, timeout: 20_000 }, (err, stdout) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout: String(stdout) }));
    });
    expect(out.code, out.stdout).toBe(0);
    expect(out.stdout).toMatch(/^warnings\s+\d+$/m);
    expect(out.stdout).toMatch(/^ {2}! r0-p0-f0 constant_class: the model predicts the same class/m);
  });

  it('a loss that becomes NaN fails with training_diverged', async () => {
    const sub = await s.call('POST', '/v1/jobs', {
      dataset: { uri: 'builtin:make_regression?n_samples=200&n_features=5&n_informative=3&random_state=1', target: [-1] },
      model: { layers: [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 1 }] },
      training: { loss: 'mse', epochs: 50, optimizer: { name: 'sgd', learningRate: 10 } },
    });
    const job = await s.waitFor(sub.body.id, isDone, 60_000);
    expect(job.status).toBe('failed');
    expect(job.error.code).toBe('training_diverged');
  });
});

describe('a unit that fails is retried on its own', () => {
  it('killing a trainer process mid-unit: that unit is retried (resuming its checkpoint), the others are not redone', async () => {
    const sub = await s.call('POST', '/v1/jobs', {
      name: 'retry-one',
      dataset: { uri: 'builtin:make_classification?n_samples=6000&n_features=20&n_informative=10&random_state=4' },
      model: { layers: [{ type: 'dense', units: 64, activation: 'relu' }, { type: 'dense', units: 1, activation: 'sigmoid' }] },
      training: { loss: 'binaryCrossentropy', metrics: ['accuracy'], epochs: 150, checkpointEvery: 5, engine: 'fused' },
      evaluation: { method: 'kfold', folds: 3, seed: 1 },
      maxAttempts: 3,
    });
    expect(sub.status).toBe(202);
    await s.waitFor(sub.body.id, (j) => (j.progress.epoch ?? 0) >= 20, 60_000);
    // kill one of this stack's trainer processes hard
    const pids = trainerPids(s.prefix);
    expect(pids.length).toBeGreaterThan(0);
    process.kill(pids[0], 'SIGKILL');
    const job = await s.waitFor(sub.body.id, isDone, 120_000);
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    expect(job.progress).toMatchObject({ unitsDone: 3, unitsTotal: 3 });
    const summary = (await s.call('GET', `/v1/jobs/${job.id}/artifacts/summary.json`)).body;
    expect(summary.units).toHaveLength(3);
    // exactly one unit came back from a checkpoint; the others ran once, start to finish
    expect(summary.units.filter((u: any) => u.resumedFromEpoch > 0)).toHaveLength(1);
    for (const u of summary.units) expect(u.epochs).toBe(150);
  }, 240_000);
});

describe('cancellation', () => {
  it('DELETE stops a running job: no unit finishes after it, the status stays cancelled', async () => {
    const sub = await s.call('POST', '/v1/jobs', {
      name: 'long',
      dataset: { uri: 'builtin:make_classification?n_samples=20000&n_features=20&n_informative=10&random_state=3' },
      model: { layers: [{ type: 'dense', units: 64, activation: 'relu' }, { type: 'dense', units: 1, activation: 'sigmoid' }] },
      training: { loss: 'binaryCrossentropy', epochs: 5000, engine: 'fused' },
      evaluation: { method: 'kfold', folds: 4 },
    });
    const running = await s.waitFor(sub.body.id, (j) => j.status === 'running' && (j.progress.epoch ?? 0) >= 2, 60_000);
    expect(running.progress.unitsDone).toBe(0);
    const del = await s.call('DELETE', `/v1/jobs/${sub.body.id}`);
    expect(del.status).toBe(200);
    expect(del.body.status).toBe('cancelled');
    const again = await s.call('DELETE', `/v1/jobs/${sub.body.id}`);
    expect(again.status).toBe(409);
    await new Promise((r) => setTimeout(r, 3_000));
    const after = (await s.call('GET', `/v1/jobs/${sub.body.id}`)).body;
    expect(after.status).toBe('cancelled');
    expect(after.progress.unitsDone).toBe(0);
    // the workers were freed: a small job runs to completion right after
    const next = await s.call('POST', '/v1/jobs', TINY_JOB);
    const done = await s.waitFor(next.body.id, isDone, 30_000);
    expect(done.status).toBe('completed');
  });
});

describe('the fleet', () => {
  beforeAll(async () => {
    // work for the local provider, so the fleet has instances whatever ran before
    const sub = await s.call('POST', '/v1/jobs', TINY_JOB);
    await s.waitFor(sub.body.id, isDone, 60_000);
  }, 90_000);

  it('GET /v1/instances shows the local instances to admin keys only', async () => {
    const tenant = await s.call('GET', '/v1/instances');
    expect(tenant.status).toBe(403);
    const r = await fetch(`${s.url}/v1/instances`, { headers: { authorization: `Bearer ${s.key}-admin` } });
    expect(r.status).toBe(200);
    const list = (await r.json()) as any[];
    expect(list.length).toBeGreaterThanOrEqual(1);
    expect(list.filter((i) => i.state !== 'terminated').length).toBeLessThanOrEqual(2);
    for (const i of list) {
      expect(i).toMatchObject({ provider: 'local', type: 'local', market: 'on-demand' });
      expect(Date.parse(i.launchedAt)).toBeGreaterThan(0);
      expect(i.costUsd).toBeGreaterThanOrEqual(0);
    }
  });

  it('/metrics carries the provisioner\'s decisions next to the API\'s requests', async () => {
    expect((await fetch(`${s.url}/metrics`)).status).toBe(401);
    const text = await (await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${s.key}-admin` } })).text();
    expect(text).toMatch(/nightshift_provisioner_reconciles_total\{result="ok"\} [1-9]/);
    expect(text).toMatch(/nightshift_provisioner_instances_launched_total\{[^}]*\} [1-9]/);
    expect(text).toContain('nightshift_http_requests_total');
  });
});
