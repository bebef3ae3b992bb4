/**
 * Which s3:// objects a tenant may submit, over the API with real Redis and the
 * embedded S3 server: its own datasets/<tenant>/ area and what the operator granted
 * (NIGHTSHIFT_S3_SOURCES); anything else answers exactly like a missing object.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../services/core/keys.ts';
import { createTestStack, type TestStack } from '../../support/app.ts';

let stack: TestStack;
let bucket: string;
let globexUpload: string; // s3:// URI of globex's uploaded CSV

const CSV = 'x1,x2,label\n1,2,secret-label-a\n3,4,secret-label-b\n5,6,secret-label-a\n7,8,secret-label-b\n';
const spec = (uri: string) => ({
  dataset: { uri, header: true },
  model: { layers: [{ type: 'dense', units: 2, activation: 'softmax' }] },
  training: { loss: 'sparseCategoricalCrossentropy', epochs: 1 },
});
const submit = (tenant: string, uri: string, dryRun = true) =>
  stack.app.inject({ method: 'POST', url: `/v1/jobs${dryRun ? '?dryRun=true' : ''}`, headers: { ...stack.auth(tenant), 'content-type': 'application/json' }, payload: spec(uri) });

beforeAll(async () => {
  bucket = `nstest-dsrc-${randomBytes(5).toString('hex')}`;
  stack = await createTestStack({ label: 'api-dsrc', env: { NIGHTSHIFT_S3_BUCKET: bucket, NIGHTSHIFT_S3_SOURCES: `acme:s3://${bucket}/shared/` } });
  const up = await stack.app.inject({ method: 'POST', url: '/v1/datasets?header=true', headers: { ...stack.auth('globex'), 'content-type': 'text/csv' }, payload: CSV });
  expect(up.statusCode).toBe(201);
  globexUpload = `s3://${bucket}/${keys.dataset('globex', up.json().sha256)}`;
  await stack.artifacts.put('datasets/acme/inbox/mine.csv', CSV, 'text/csv');
  await stack.artifacts.put('shared/common.csv', CSV, 'text/csv');
  await stack.artifacts.put('private/ops.csv', CSV, 'text/csv');
});
afterAll(async () => {
  await stack?.close();
});

/** The answer with the URI itself taken out, to compare the refusals of different URIs. */
const shape = (res: { statusCode: number; json(): any }, uri: string) => ({
  status: res.statusCode,
  code: res.json().error?.code,
  message: String(res.json().error?.message).replace(JSON.stringify(uri), '<uri>'),
});

describe('s3:// data sets at submission', () => {
  it('a tenant may name objects in its own datasets/<tenant>/ area and in a granted prefix', async () => {
    for (const uri of [`s3://${bucket}/datasets/acme/inbox/mine.csv`, `s3://${bucket}/shared/common.csv`]) {
      const res = await submit('acme', uri);
      expect(res.statusCode, `${uri}: ${res.body}`).toBe(200);
      expect(res.json().valid).toBe(true);
    }
  });

  it("another tenant's upload, an ungranted prefix, traversal and a missing object all get one and the same answer", async () => {
    const missing = `s3://${bucket}/datasets/acme/inbox/nope.csv`;
    const expected = shape(await submit('acme', missing), missing);
    expect(expected.status).toBe(400);
    expect(expected.code).toBe('dataset_not_found');
    expect(expected.message).toMatch(/^dataset\.uri: /);
    const refused = [
      globexUpload, // the cross-tenant read
      `s3://${bucket}/datasets/acme/../globex/${globexUpload.split('/').pop()}`,
      `s3://${bucket}/private/ops.csv`, // exists, not granted
      `s3://${bucket}/datasets/globex/nope.csv`, // missing and not yours
      `s3://some-other-bucket/datasets/acme/mine.csv`,
    ];
    for (const uri of refused) {
      expect(shape(await submit('acme', uri), uri), uri).toEqual(expected);
    }
    // the grant is acme's alone
    const shared = `s3://${bucket}/shared/common.csv`;
    expect(shape(await submit('globex', shared), shared)).toEqual(expected);
  });

  it('a real submission of a foreign object is refused too, and nothing is queued', async () => {
    const res = await submit('acme', globexUpload, false);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('dataset_not_found');
    expect(res.body).not.toContain('secret-label');
    const list = await stack.app.inject({ method: 'GET', url: '/v1/jobs', headers: stack.auth('acme') });
    expect(list.json().items).toHaveLength(0);
  });

  it('the owner can still name its own upload by s3:// URI', async () => {
    const res = await submit('globex', globexUpload);
    expect(res.statusCode, res.body).toBe(200);
  });
});

describe('builtin: names that are properties of every object', () => {
  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty'])('builtin:%s is an unknown generator (400), and so is it as a parameter', async (name) => {
    const gen = await submit('acme', `builtin:${name}?n_samples=10`);
    expect(gen.statusCode, gen.body).toBe(400);
    expect(gen.json().error.message).toMatch(/^dataset\.uri: unknown generator/);
    const param = await submit('acme', `builtin:make_regression?${name}=1`);
    expect(param.statusCode, param.body).toBe(400);
    expect(param.json().error.message).toMatch(/^dataset\.uri: make_regression: unknown parameter/);
  });
});
