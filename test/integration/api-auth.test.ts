/**
 * Authentication, open routes (health, metrics, docs) and request ids, over a real
 * Redis and the embedded S3 server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../services/api/app.ts';
import { createTestStack, TEST_KEYS, type TestStack } from '../../support/app.ts';

let stack: TestStack;

beforeAll(async () => {
  stack = await createTestStack({ label: 'api-auth' });
});
afterAll(async () => {
  await stack?.close();
});

describe('bearer keys', () => {
  it('answers 401 with WWW-Authenticate when the key is missing', async () => {
    const res = await stack.app.inject({ method: 'GET', url: '/v1/jobs' });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(res.json().error.code).toBe('unauthorized');
  });

  it.each([
    ['an unknown key', 'Bearer not-a-key-at-all'],
    ['a prefix of a valid key', `Bearer ${TEST_KEYS.acme.slice(0, -1)}`],
    ['another scheme', `Basic ${Buffer.from(`acme:${TEST_KEYS.acme}`).toString('base64')}`],
    ['an empty bearer', 'Bearer '],
  ])('answers 401 for %s', async (_what, authorization) => {
    const res = await stack.app.inject({ method: 'GET', url: '/v1/jobs', headers: { authorization } });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ error: { code: 'unauthorized', message: expect.stringMatching(/key/) } });
  });

  it('accepts tenant and admin keys', async () => {
    expect((await stack.app.inject({ url: '/v1/jobs', headers: stack.auth('acme') })).statusCode).toBe(200);
    expect((await stack.app.inject({ url: '/v1/jobs', headers: stack.auth('admin') })).statusCode).toBe(200);
  });

  it('checks the key before validating the request', async () => {
    const res = await stack.app.inject({ method: 'POST', url: '/v1/jobs', payload: { nonsense: true } });
    expect(res.statusCode).toBe(401);
  });
});

describe('open routes', () => {
  it('GET /healthz answers ok when Redis and S3 answer', async () => {
    const res = await stack.app.inject({ url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ok: true });
  });

  it('GET /healthz answers 503 naming what is down', async () => {
    const broken = { ...stack.artifacts, ping: async () => { throw new Error('connect ECONNREFUSED'); } };
    const app = await buildApp({ config: stack.config, store: stack.store, queues: stack.queues, artifacts: broken, logger: false });
    try {
      const res = await app.inject({ url: '/healthz' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toEqual({ ok: false, redis: true, s3: false });
    } finally {
      await app.close();
    }
  });

  it('GET /docs serves the UI and /docs/json the OpenAPI document with the job routes', async () => {
    const html = await stack.app.inject({ url: '/docs' });
    expect(html.statusCode).toBe(200);
    expect(html.headers['content-type']).toMatch(/text\/html/);
    expect(html.body).toMatch(/swagger/i);
    const doc = (await stack.app.inject({ url: '/docs/json' })).json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/jobs', '/v1/jobs/{id}', '/v1/jobs/{id}/predict', '/v1/datasets', '/healthz']));
    expect(doc.paths['/v1/jobs'].post.requestBody.content['application/json'].schema.properties.training).toBeDefined();
    expect(doc.paths['/v1/jobs'].post.responses['400'].content['application/json'].schema.$ref).toBe('#/components/schemas/Error');
    expect(doc.paths['/v1/datasets'].post.requestBody.content['text/csv']).toBeDefined();
    expect(doc.components.securitySchemes.bearer.scheme).toBe('bearer');
  });

  it('GET /metrics answers admin keys only: 401 without a key, 403 for a tenant key', async () => {
    const none = await stack.app.inject({ url: '/metrics' });
    expect(none.statusCode).toBe(401);
    expect(none.json().error.code).toBe('unauthorized');
    const tenant = await stack.app.inject({ url: '/metrics', headers: stack.auth('acme') });
    expect(tenant.statusCode).toBe(403);
    expect(tenant.body).not.toMatch(/nightshift_http_requests_total/);
  });

  it('GET /metrics exposes request counters to an admin key', async () => {
    const scrape = async () => {
      const res = await stack.app.inject({ url: '/metrics', headers: stack.auth('admin') });
      expect(res.statusCode).toBe(200);
      const count = (re: RegExp) => Number(re.exec(res.body)?.[1] ?? 0);
      return {
        listed: count(/^nightshift_http_requests_total\{method="GET",route="\/v1\/jobs",status="200"\} (\d+)$/m),
        submitted: count(/^nightshift_jobs_submitted_total (\d+)$/m),
      };
    };
    const before = await scrape();
    await stack.app.inject({ url: '/v1/jobs', headers: stack.auth('acme') });
    const spec = {
      dataset: { uri: 'builtin:make_regression?n_samples=20&n_features=2' },
      model: { layers: [{ type: 'dense', units: 1 }] },
      training: { loss: 'mse', epochs: 1 },
    };
    expect((await stack.app.inject({ method: 'POST', url: '/v1/jobs?dryRun=true', headers: stack.auth('acme'), payload: spec })).statusCode).toBe(200);
    expect((await stack.app.inject({ method: 'POST', url: '/v1/jobs', headers: stack.auth('acme'), payload: spec })).statusCode).toBe(202);
    const after = await scrape();
    expect(after.listed).toBe(before.listed + 1);
    // a dry run is not a submission
    expect(after.submitted).toBe(before.submitted + 1);
  });

  it('unknown routes answer 404 not_found', async () => {
    const res = await stack.app.inject({ url: '/v2/nothing' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('not_found');
  });
});

describe('internal errors', () => {
  it('answers 500 internal without the cause', async () => {
    const store = { ...stack.store, listJobs: async () => { throw new Error('connect ECONNREFUSED 10.0.0.7:6379 secret-host'); } } as typeof stack.store;
    const app = await buildApp({ config: stack.config, store, queues: stack.queues, artifacts: stack.artifacts, logger: false });
    try {
      const res = await app.inject({ url: '/v1/jobs', headers: stack.auth('acme') });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toEqual({ error: { code: 'internal', message: 'internal error' } });
    } finally {
      await app.close();
    }
  });
});

describe('request ids', () => {
  it('echoes a given x-request-id and makes one otherwise', async () => {
    const given = await stack.app.inject({ url: '/healthz', headers: { 'x-request-id': 'abc-123' } });
    expect(given.headers['x-request-id']).toBe('abc-123');
    const made = await stack.app.inject({ url: '/healthz' });
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});
