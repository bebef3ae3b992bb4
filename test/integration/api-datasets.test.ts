/** POST /v1/datasets over a real Redis and the embedded S3 server. */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../services/core/keys.ts';
import { createTestStack, type TestStack } from '../../support/app.ts';

let stack: TestStack;

beforeAll(async () => {
  stack = await createTestStack({ label: 'api-datasets' });
});
afterAll(async () => {
  await stack?.close();
});

const upload = (csv: string | Buffer, query = '', tenant = 'acme', contentType = 'text/csv') =>
  stack.app.inject({ method: 'POST', url: `/v1/datasets${query}`, headers: { ...stack.auth(tenant), 'content-type': contentType }, payload: csv });

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

describe('POST /v1/datasets', () => {
  it('counts rows without the header row and stores the bytes content-addressed', async () => {
    const csv = 'x1,x2,x3,label\n1,2,3,a\n4,5,6,b\n7,8,9,a\n';
    const res = await upload(csv, '?header=true&name=tiny');
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toMatchObject({ rows: 3, columns: 4, bytes: Buffer.byteLength(csv), sha256: sha(csv), uri: `dataset:${body.id}`, name: 'tiny', header: true });
    expect(body.id).toMatch(/^ds_/);
    const stored = await stack.artifacts.get(keys.dataset('acme', sha(csv)));
    expect(stored?.toString()).toBe(csv);
    const rec = await stack.store.getDataset('acme', body.id);
    expect(rec).toMatchObject({ tenant: 'acme', rows: 3, columns: 4, key: keys.dataset('acme', sha(csv)) });
    expect(rec?.summary.classCounts?.[3]).toEqual({ a: 2, b: 1 });
  });

  it('counts every line as a row without a header (the default), CRLF and a trailing blank line included', async () => {
    const csv = '0.5,1,-1\r\n0.25,2,1\r\n\r\n';
    const res = await upload(Buffer.from(csv), '', 'acme', 'application/octet-stream');
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ rows: 2, columns: 3, bytes: Buffer.byteLength(csv), sha256: sha(csv), header: false });
  });

  it('can be read back by its owner only', async () => {
    const up = (await upload('1,2\n3,4\n')).json();
    const mine = await stack.app.inject({ url: `/v1/datasets/${up.id}`, headers: stack.auth('acme') });
    expect(mine.statusCode).toBe(200);
    expect(mine.json()).toMatchObject({ id: up.id, rows: 2, columns: 2, sha256: up.sha256 });
    const theirs = await stack.app.inject({ url: `/v1/datasets/${up.id}`, headers: stack.auth('globex') });
    expect(theirs.statusCode).toBe(404);
    expect(theirs.json().error.code).toBe('not_found');
  });

  it('makes the upload name usable as dataset:<name> in a job spec', async () => {
    await upload('1,2,0\n2,3,1\n3,4,0\n4,5,1\n', '?name=four-rows');
    const spec = {
      dataset: { uri: 'dataset:four-rows', target: [5] },
      model: { layers: [{ type: 'dense', units: 1 }] },
      training: { loss: 'mse', epochs: 1 },
    };
    const res = await stack.app.inject({ method: 'POST', url: '/v1/jobs?dryRun=true', headers: stack.auth('acme'), payload: spec });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toBe('dataset.target.0: column 5 is out of range: the data set has 3 columns');
  });

  it('rejects a ragged CSV naming the line', async () => {
    const res = await upload('1,2,3\n4,5,6\n7,8\n');
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('ragged_csv');
    expect(res.json().error.message).toMatch(/^line 3: expected 3 columns, found 2/);
  });

  it('rejects an empty body naming line 1', async () => {
    const res = await upload('');
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toMatch(/^line 1: /);
  });

  it('rejects a header without data rows', async () => {
    const res = await upload('a,b\n', '?header=true');
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('dataset_invalid');
  });

  it('answers 415 for JSON and 400 for a bad header flag or name', async () => {
    const json = await stack.app.inject({ method: 'POST', url: '/v1/datasets', headers: stack.auth('acme'), payload: { rows: [[1, 2]] } });
    expect(json.statusCode).toBe(415);
    expect(json.json().error.code).toBe('unsupported_media_type');
    const flag = await upload('1,2\n', '?header=yes please');
    expect(flag.statusCode).toBe(400);
    expect(flag.json().error.message).toMatch(/^header: /);
    const name = await upload('1,2\n', `?name=${encodeURIComponent('a/b')}`);
    expect(name.statusCode).toBe(400);
    expect(name.json().error.message).toMatch(/^name: /);
  });

  it('replays the first answer to a retried upload with the same Idempotency-Key', async () => {
    const csv = '5,6\n7,8\n';
    const send = () => stack.app.inject({ method: 'POST', url: '/v1/datasets?name=idem', headers: { ...stack.auth('acme'), 'content-type': 'text/csv', 'idempotency-key': 'upload-1' }, payload: csv });
    const first = await send();
    expect(first.statusCode).toBe(201);
    const again = await send();
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json().id).toBe(first.json().id);
    expect((await stack.store.listDatasets('acme')).filter((d) => d.name === 'idem')).toHaveLength(1);
  });

  it('requires a key', async () => {
    const res = await stack.app.inject({ method: 'POST', url: '/v1/datasets', headers: { 'content-type': 'text/csv' }, payload: '1,2\n' });
    expect(res.statusCode).toBe(401);
  });
});

describe('data set summaries', () => {
  it('stores a bounded record for a column of unique strings (the record was as large as the data)', async () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => `${i % 7},user-${i}-${'z'.repeat(40)},${i % 2}`);
    const body = rows.join('\n') + '\n';
    const res = await upload(body);
    expect(res.statusCode).toBe(201);
    expect(res.json().rows).toBe(20_000);
    const id = res.json().id;
    const len = await stack.redis.strlen(stack.store.keys.dataset('acme', id));
    expect(len).toBeGreaterThan(0);
    expect(len).toBeLessThan(body.length / 100);
    const rec = await stack.store.getDataset('acme', id);
    expect(Object.keys(rec!.summary.classCounts![1]!)).toHaveLength(50);
    expect(rec!.summary.other![1]).toBe(20_000 - 50);
    expect(rec!.summary.classCounts![2]).toEqual({ 0: 10_000, 1: 10_000 });
  });
});
