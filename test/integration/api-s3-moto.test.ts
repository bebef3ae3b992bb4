/**
 * The API against the moto server (the AWS emulator inside LocalStack): dataset
 * upload and artifact download go through the same S3 client as on AWS.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../services/core/keys.ts';
import { EMULATOR_CREDENTIALS, startAwsEmulator, type AwsEmulator } from '../support/moto.ts';
import { createTestStack, type TestStack } from '../../support/app.ts';

let aws: AwsEmulator;
let stack: TestStack;

beforeAll(async () => {
  aws = await startAwsEmulator();
  // createTestStack creates the bucket (ensureBucket)
  stack = await createTestStack({ label: 'api-moto', s3: { endpoint: aws.endpoint, ...EMULATOR_CREDENTIALS } });
});
afterAll(async () => {
  await stack?.close();
  await aws?.stop();
});

describe('API over moto S3', () => {
  it('stores an uploaded CSV content-addressed and serves a job\'s artifacts', async () => {
    const csv = 'a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n';
    const sha256 = createHash('sha256').update(csv).digest('hex');
    const up = await stack.app.inject({ method: 'POST', url: '/v1/datasets?header=true', headers: { ...stack.auth('acme'), 'content-type': 'text/csv' }, payload: csv });
    expect(up.statusCode, up.body).toBe(201);
    expect(up.json()).toMatchObject({ rows: 4, columns: 3, bytes: csv.length, sha256 });
    expect((await stack.artifacts.get(keys.dataset('acme', sha256)))?.toString()).toBe(csv);
    expect(await stack.artifacts.exists(keys.datasetMeta('acme', up.json().id))).toBe(true);

    const spec = {
      dataset: { uri: up.json().uri, header: true, target: [-1] },
      model: { layers: [{ type: 'dense', units: 1, activation: 'sigmoid' }] },
      training: { loss: 'binaryCrossentropy', epochs: 1 },
      evaluation: { method: 'kfold', folds: 2, stratify: true },
    };
    const sub = await stack.app.inject({ method: 'POST', url: '/v1/jobs', headers: stack.auth('acme'), payload: spec });
    expect(sub.statusCode, sub.body).toBe(202);
    const id = sub.json().id;

    const weights = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await stack.artifacts.put(keys.modelWeights(id), weights);
    const bin = await stack.app.inject({ url: `/v1/jobs/${id}/artifacts/weights.bin`, headers: stack.auth('acme') });
    expect(bin.statusCode).toBe(200);
    expect(bin.headers['content-type']).toBe('application/octet-stream');
    expect(Buffer.compare(bin.rawPayload, weights)).toBe(0);

    const specFile = await stack.app.inject({ url: `/v1/jobs/${id}/artifacts/spec.json`, headers: stack.auth('acme') });
    expect(specFile.json()).toEqual(spec);
    // before the job's results are written the record answers (no redirect); then the file in S3 does
    const early = await stack.app.inject({ url: `/v1/jobs/${id}/artifacts/spec.json?redirect=true`, headers: stack.auth('acme') });
    expect(early.statusCode).toBe(200);
    expect(early.json()).toEqual(spec);
    await stack.artifacts.putJson(keys.jobFile(id, 'spec.json'), spec);
    const redirect = await stack.app.inject({ url: `/v1/jobs/${id}/artifacts/spec.json?redirect=true`, headers: stack.auth('acme') });
    expect(redirect.statusCode).toBe(302);
    expect(await (await fetch(redirect.headers.location as string)).json()).toEqual(spec);

    const other = await stack.app.inject({ url: `/v1/jobs/${id}/artifacts/spec.json`, headers: stack.auth('globex') });
    expect(other.statusCode).toBe(404);
  });

  it('reports S3 health through the emulator', async () => {
    const res = await stack.app.inject({ url: '/healthz' });
    expect(res.json()).toEqual({ ok: true });
  });
});
