/**
 * Quotas and request limits of the API over a real Redis and the embedded S3
 * server: priority range, compute estimate, Keras size limits, queued units,
 * stored bytes, data set deletion, event streams per tenant, rate limit per key,
 * unknown query parameters, content types and Idempotency-Key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../services/core/keys.ts';
import { createTestStack, type TestStack } from '../../support/app.ts';

let stack: TestStack;

beforeAll(async () => {
  stack = await createTestStack({
    label: 'api-limits',
    env: {
      NIGHTSHIFT_TENANT_MAX_PRIORITY: 'globex:90',
      NIGHTSHIFT_MAX_QUEUED_UNITS: '12',
      NIGHTSHIFT_MAX_STORED_BYTES: '200',
      NIGHTSHIFT_MAX_EVENT_STREAMS: '2',
    },
    deps: { sseHeartbeatMs: 60_000 },
  });
});
afterAll(async () => {
  await stack?.close();
});

const spec = (over: Record<string, unknown> = {}) => ({
  dataset: { uri: 'builtin:make_regression?n_samples=100&n_features=4' },
  model: { layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 1 }] },
  training: { loss: 'mse', epochs: 5 },
  ...over,
});
const post = (url: string, payload: unknown, tenant = 'acme', headers: Record<string, string> = {}) =>
  stack.app.inject({ method: 'POST', url, headers: { ...stack.auth(tenant), ...headers }, payload: payload as object });
const upload = (csv: string, tenant = 'acme', query = '') =>
  stack.app.inject({ method: 'POST', url: `/v1/datasets${query}`, headers: { ...stack.auth(tenant), 'content-type': 'text/csv' }, payload: csv });

const keras = (layers: unknown[]) => ({ class_name: 'Sequential', config: { name: 'm', layers } });
const dense = (units: unknown) => ({ class_name: 'Dense', config: { units, activation: 'relu' } });

describe('priority', () => {
  it('refuses a priority above the tenant\'s allowed range, naming priority', async () => {
    const res = await post('/v1/jobs?dryRun=true', spec({ priority: 100 }));
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ field: 'priority' });
    expect(res.json().error.message).toMatch(/^priority: 100 is above the highest priority this tenant may use \(50\)/);
    expect((await post('/v1/jobs?dryRun=true', spec({ priority: 50 }))).statusCode).toBe(200);
  });

  it('lets an operator grant a tenant a higher range', async () => {
    expect((await post('/v1/jobs?dryRun=true', spec({ priority: 90 }), 'globex')).statusCode).toBe(200);
    expect((await post('/v1/jobs?dryRun=true', spec({ priority: 91 }), 'globex')).statusCode).toBe(400);
  });
});

describe('compute estimate', () => {
  it('dry runs report parameters x rows x epochs x units', async () => {
    const res = await post('/v1/jobs?dryRun=true', spec({ evaluation: { method: 'kfold', folds: 3 } }));
    expect(res.statusCode).toBe(200);
    // 4 inputs -> 8 -> 1: 4*8+8 + 8*1+1 = 49 parameters; 100 rows; 5 epochs; 3 folds
    expect(res.json().compute).toEqual({ parameters: 49, rows: 100, epochs: 5, units: 3, total: 49 * 100 * 5 * 3 });
  });

  it('refuses the finding\'s job (31 x 4096 units, 10,000 epochs, 100 folds x 9 repeats) with a clear 400', async () => {
    const huge = spec({
      model: { layers: [...Array.from({ length: 31 }, () => ({ type: 'dense', units: 4096 })), { type: 'dense', units: 1 }] },
      training: { loss: 'mse', epochs: 10_000, batchSize: 1 },
      evaluation: { method: 'kfold', folds: 100, repeats: 9 },
      final: { fit: true },
    });
    const res = await post('/v1/jobs?dryRun=true', huge);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.field).toBe('model');
    expect(res.json().error.message).toMatch(/parameter updates .* over the limit of 1\.00e\+15/);
  });
});

describe('model.keras limits', () => {
  it('refuses Dense units over the layers limit at submission', async () => {
    // the output layer fits the target, so nothing but the 1e9 units can refuse it (it was a 202)
    const res = await post('/v1/jobs', spec({ model: { keras: keras([dense(4), dense(1e9), dense(1)]) } }));
    expect(res.statusCode).toBe(400);
    expect(res.json().error.field).toBe('model.keras.config.layers.1.config.units');
  });

  it('refuses more layers than model.layers allows (200 x 5000 units was "valid")', async () => {
    const res = await post('/v1/jobs?dryRun=true', spec({ model: { keras: keras([...Array.from({ length: 199 }, () => dense(5000)), dense(1)]) } }));
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toMatch(/has 200 layers, over the limit of 32/);
  });

  it('answers a 100,000-deep model.keras with a 400, not a stack overflow', async () => {
    const n = 100_000;
    const deep = `${'{"a":'.repeat(n)}{}${'}'.repeat(n)}`;
    const body = JSON.stringify(spec({ model: { keras: { class_name: 'Sequential', config: 'DEEP' } } })).replace('"DEEP"', deep);
    const res = await stack.app.inject({ method: 'POST', url: '/v1/jobs', headers: { ...stack.auth('acme'), 'content-type': 'application/json' }, payload: body });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toMatch(/^model\.keras: is nested deeper than 32 levels/);
  });
});

describe('queued units per tenant', () => {
  it('refuses work over the quota with 429 quota_exceeded and creates nothing', async () => {
    const five = spec({ evaluation: { method: 'kfold', folds: 5 } });
    expect((await post('/v1/jobs', five, 'globex')).statusCode).toBe(202);
    expect((await post('/v1/jobs', five, 'globex')).statusCode).toBe(202);
    const third = await post('/v1/jobs', five, 'globex');
    expect(third.statusCode).toBe(429);
    expect(third.json().error.code).toBe('quota_exceeded');
    expect(third.json().error.message).toMatch(/has 5 training units and the tenant already has 10 queued or running; the limit is 12/);
    const list = await stack.app.inject({ url: '/v1/jobs?status=queued', headers: stack.auth('globex') });
    expect(list.json().items).toHaveLength(2);
    // another tenant is not affected
    expect((await post('/v1/jobs', five, 'acme')).statusCode).toBe(202);
  });

  it('counts a batch\'s units against the same quota, creating no batch and no job', async () => {
    const res = await post('/v1/batches', { name: 'over', base: spec({ evaluation: { method: 'kfold', folds: 2 } }), grid: { 'training.epochs': [1, 2] } }, 'globex');
    expect(res.statusCode).toBe(429);
    expect(res.json().error.message).toMatch(/has 4 training units and the tenant already has 10 queued or running/);
    expect((await stack.app.inject({ url: '/v1/batches', headers: stack.auth('globex') })).json().items).toEqual([]);
    expect((await stack.app.inject({ url: '/v1/jobs?status=queued', headers: stack.auth('globex') })).json().items).toHaveLength(2);
  });
});

describe('status filter', () => {
  it('reads the per-status index: a cancelled job leaves "queued" and appears under "cancelled"', async () => {
    const id = (await post('/v1/jobs', spec())).json().id;
    const queued = await stack.app.inject({ url: '/v1/jobs?status=queued&limit=200', headers: stack.auth('acme') });
    expect(queued.json().items.map((j: { id: string }) => j.id)).toContain(id);
    expect((await stack.app.inject({ method: 'DELETE', url: `/v1/jobs/${id}`, headers: stack.auth('acme') })).statusCode).toBe(200);
    const after = await stack.app.inject({ url: '/v1/jobs?status=queued&limit=200', headers: stack.auth('acme') });
    expect(after.json().items.map((j: { id: string }) => j.id)).not.toContain(id);
    const cancelled = await stack.app.inject({ url: '/v1/jobs?status=cancelled', headers: stack.auth('acme') });
    expect(cancelled.json().items.map((j: { id: string }) => j.id)).toEqual([id]);
    expect(await stack.redis.zscore(stack.store.keys.byStatus('cancelled', 'acme'), id)).not.toBeNull();
    expect(await stack.redis.zscore(stack.store.keys.byStatus('queued'), id)).toBeNull();
  });
});

describe('data sets: stored bytes and DELETE', () => {
  it('refuses an upload over the stored-bytes quota and frees the bytes when a data set is deleted', async () => {
    const a = 'x,y\n' + '1,2\n'.repeat(30); // 124 bytes
    const b = 'x,y\n' + '3,4\n'.repeat(30);
    const first = await upload(a, 'globex');
    expect(first.statusCode).toBe(201);
    const second = await upload(b, 'globex');
    expect(second.statusCode).toBe(429);
    expect(second.json().error.code).toBe('quota_exceeded');
    expect(await stack.artifacts.list('datasets/globex/')).toHaveLength(2); // a's file and its record copy, nothing of b
    // the same content again takes no more space
    expect((await upload(a, 'globex')).statusCode).toBe(201);
    const del = await stack.app.inject({ method: 'DELETE', url: `/v1/datasets/${first.json().id}`, headers: stack.auth('globex') });
    expect(del.statusCode).toBe(200);
    expect(await stack.store.storedBytes('globex')).toBe(124); // the second upload still holds the file
    expect((await upload(b, 'globex')).statusCode).toBe(429);
  });

  it('deletes the file with the last record, answers 404 afterwards and for other tenants', async () => {
    const up = (await upload('p,q\n5,6\n7,8\n', 'acme')).json();
    expect((await stack.app.inject({ method: 'DELETE', url: `/v1/datasets/${up.id}`, headers: stack.auth('globex') })).statusCode).toBe(404);
    expect((await stack.app.inject({ method: 'DELETE', url: `/v1/datasets/${up.id}`, headers: stack.auth('acme') })).statusCode).toBe(200);
    expect(await stack.artifacts.exists(keys.dataset('acme', up.sha256))).toBe(false);
    expect((await stack.app.inject({ url: `/v1/datasets/${up.id}`, headers: stack.auth('acme') })).statusCode).toBe(404);
    expect((await stack.app.inject({ method: 'DELETE', url: `/v1/datasets/${up.id}`, headers: stack.auth('acme') })).statusCode).toBe(404);
  });

  it('refuses to delete a data set a queued job uses (409), and allows it once the job is cancelled', async () => {
    const up = (await upload('a,b,c\n1,2,0\n2,3,1\n3,4,0\n4,5,1\n', 'acme')).json();
    const job = await post('/v1/jobs', spec({ dataset: { uri: up.uri } }));
    expect(job.statusCode).toBe(202);
    const refused = await stack.app.inject({ method: 'DELETE', url: `/v1/datasets/${up.id}`, headers: stack.auth('acme') });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error.message).toContain(job.json().id);
    await stack.app.inject({ method: 'DELETE', url: `/v1/jobs/${job.json().id}`, headers: stack.auth('acme') });
    expect((await stack.app.inject({ method: 'DELETE', url: `/v1/datasets/${up.id}`, headers: stack.auth('acme') })).statusCode).toBe(200);
  });
});

describe('query parameters and content types on mutating routes', () => {
  it('refuses ?dryrun=true (lower case) instead of submitting real work', async () => {
    const before = (await stack.app.inject({ url: '/v1/jobs?limit=200', headers: stack.auth('acme') })).json().items.length;
    const res = await post('/v1/jobs?dryrun=true', spec());
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ field: 'dryrun' });
    expect(res.json().error.message).toMatch(/did you mean dryRun\?/);
    expect((await stack.app.inject({ url: '/v1/jobs?limit=200', headers: stack.auth('acme') })).json().items.length).toBe(before);
  });

  it('refuses unknown parameters on DELETE and on the upload route', async () => {
    expect((await stack.app.inject({ method: 'DELETE', url: '/v1/jobs/job_x?force=1', headers: stack.auth('acme') })).statusCode).toBe(400);
    expect((await upload('1,2\n', 'acme', '?headers=true')).statusCode).toBe(400);
  });

  it('answers 415 for a POST without a content type, with or without a body', async () => {
    // no body and no Content-Type was a 400 "body: must be object"
    const empty = await stack.app.inject({ method: 'POST', url: '/v1/jobs', headers: stack.auth('acme') });
    expect(empty.json().error.code).toBe('unsupported_media_type');
    expect(empty.statusCode).toBe(415);
    const res = await stack.app.inject({ method: 'POST', url: '/v1/jobs', headers: stack.auth('acme'), payload: Buffer.from(JSON.stringify(spec())) });
    expect(res.statusCode).toBe(415);
    expect(res.json().error.code).toBe('unsupported_media_type');
  });

  it('says what is wrong with valid JSON that has a __proto__ key', async () => {
    const body = JSON.stringify(spec()).replace(/^\{/, '{"__proto__":{"x":1},');
    const res = await stack.app.inject({ method: 'POST', url: '/v1/jobs', headers: { ...stack.auth('acme'), 'content-type': 'application/json' }, payload: body });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toMatch(/valid JSON but has a "__proto__"/);
  });

  it('bounds earlyStopping.minDelta', async () => {
    const res = await post('/v1/jobs?dryRun=true', spec({ training: { loss: 'mse', epochs: 5, earlyStopping: { monitor: 'loss', minDelta: 1e300 } } }));
    expect(res.statusCode).toBe(400);
    expect(res.json().error.field).toBe('training.earlyStopping.minDelta');
  });
});

describe('event streams per tenant', () => {
  it('refuses a stream over the tenant\'s limit with 429 and accepts one again after a client leaves', async () => {
    if (!stack.app.server.listening) await stack.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = stack.app.server.address() as { port: number };
    const id = (await post('/v1/jobs', spec())).json().id;
    const url = `http://127.0.0.1:${port}/v1/jobs/${id}/events`;
    const open = async (tenant = 'acme') => {
      const ac = new AbortController();
      const res = await fetch(url, { headers: stack.auth(tenant), signal: ac.signal });
      if (res.status === 200) await res.body!.getReader().read();
      return { res, ac };
    };
    const a = await open();
    const b = await open();
    expect([a.res.status, b.res.status]).toEqual([200, 200]);
    const c = await open();
    expect(c.res.status).toBe(429);
    expect((await c.res.json()).error.code).toBe('quota_exceeded');
    // admin streams do not count against acme
    const admin = await open('admin');
    expect(admin.res.status).toBe(200);
    a.ac.abort();
    let d = await open();
    for (let i = 0; i < 50 && d.res.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 20));
      d = await open();
    }
    expect(d.res.status).toBe(200);
    for (const s of [b, d, admin]) s.ac.abort();
  });
});

describe('Idempotency-Key', () => {
  it('answers a retried POST /v1/jobs with the first answer and creates nothing new', async () => {
    const h = { 'idempotency-key': 'retry-me-1' };
    const first = await post('/v1/jobs', spec(), 'acme', h);
    expect(first.statusCode).toBe(202);
    const again = await post('/v1/jobs', spec(), 'acme', h);
    expect(again.statusCode).toBe(202);
    expect(again.json()).toEqual(first.json());
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.headers.location).toBe(first.headers.location);
    const ids = (await stack.app.inject({ url: '/v1/jobs?limit=200', headers: stack.auth('acme') })).json().items.map((j: { id: string }) => j.id);
    expect(ids.filter((id: string) => id === first.json().id)).toHaveLength(1);
    const queuedUnits = await stack.store.activeUnits('acme');
    await post('/v1/jobs', spec(), 'acme', h);
    expect(await stack.store.activeUnits('acme')).toBe(queuedUnits);
  });

  it('refuses the same key for a different request (422), keys are per tenant, failures are not kept', async () => {
    const h = { 'idempotency-key': 'retry-me-2' };
    expect((await post('/v1/jobs', spec(), 'acme', h)).statusCode).toBe(202);
    const other = await post('/v1/jobs', spec({ name: 'different' }), 'acme', h);
    expect(other.statusCode).toBe(422);
    expect(other.json().error.code).toBe('idempotency_mismatch');
    expect((await post('/v1/jobs', spec(), 'globex', h)).statusCode).toBe(202);
    const bad = { 'idempotency-key': 'retry-me-3' };
    expect((await post('/v1/jobs', spec({ priority: 99 }), 'acme', bad)).statusCode).toBe(400);
    expect((await post('/v1/jobs', spec({ priority: 99 }), 'acme', bad)).statusCode).toBe(400);
    expect((await post('/v1/jobs', spec({ priority: 99 }), 'acme', { 'idempotency-key': 'x'.repeat(300) })).statusCode).toBe(400);
  });

  it('replays a data set upload too (one record, one answer)', async () => {
    const h = { ...stack.auth('acme'), 'content-type': 'text/csv', 'idempotency-key': 'upload-1' };
    const a = await stack.app.inject({ method: 'POST', url: '/v1/datasets', headers: h, payload: 'u,v\n1,1\n' });
    const b = await stack.app.inject({ method: 'POST', url: '/v1/datasets', headers: h, payload: 'u,v\n1,1\n' });
    expect(a.statusCode).toBe(201);
    expect(b.json().id).toBe(a.json().id);
  });
});
