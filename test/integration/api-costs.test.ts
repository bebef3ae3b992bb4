/**
 * Cost routes over a real Redis: fleet records and unit spans as the provisioner and
 * the workers write them, read back through GET /v1/costs, Job.cost, /v1/instances,
 * the dry-run estimate and /healthz.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeKey } from '../../services/core/budget.ts';
import { createMeter } from '../../services/platform/meter.ts';
import { createFleetStore } from '../../services/platform/fleet-store.ts';
import { createTestStack, type TestStack } from '../../support/app.ts';
import { smallRegressionSpec } from '../../support/specs.ts';

const T = Date.parse('2026-11-27T23:00:00Z');
const NOW = new Date('2026-11-28T12:00:00Z');
let stack: TestStack;
let acmeJob: string;
let globexJob: string;

const spec = () => smallRegressionSpec();
const get = (url: string, tenant = 'admin') => stack.app.inject({ url, headers: stack.auth(tenant) });

beforeAll(async () => {
  stack = await createTestStack({
    label: 'api-costs',
    env: { NIGHTSHIFT_BUDGET_USD: '10', NIGHTSHIFT_TENANT_BUDGETS: 'acme:2', NIGHTSHIFT_LOCAL_HOURLY_USD: '3.6' },
    deps: { now: () => NOW },
  });
  const submit = async (tenant: string) => {
    const r = await stack.app.inject({ method: 'POST', url: '/v1/jobs', headers: stack.auth(tenant), payload: spec() });
    expect(r.statusCode, r.body).toBe(202);
    return r.json().id as string;
  };
  acmeJob = await submit('acme');
  globexJob = await submit('globex');
  const fleet = createFleetStore(stack.redis, stack.prefix);
  const meter = createMeter(stack.redis, stack.prefix);
  // i-a: 1000 s at 3.60 USD/h = 1.00 USD, launched for acme's job; acme ran 600 s on it, globex 200 s
  const a = { id: 'i-a', provider: 'ec2', resourceClass: 'gpu', type: 'p3.2xlarge', market: 'on-demand' as const, hourlyUsd: 3.6, onDemandUsd: 3.6, launchedAt: T, slots: 1, demand: [{ jobId: acmeJob, tenant: 'acme', units: 4 }] };
  await fleet.putInstance(a);
  await meter.causedBy(stack.redis.multi(), ['i-a'], [acmeJob]).exec();
  const s1 = { instanceId: 'i-a', jobId: acmeJob, tenant: 'acme', unit: 'r0-p0-f0', start: T };
  const s2 = { instanceId: 'i-a', jobId: globexJob, tenant: 'globex', unit: 'r0-p0-f0', start: T + 600_000 };
  await meter.unitStarted(s1);
  await meter.unitEnded(s1, T + 600_000);
  await meter.unitStarted(s2);
  await meter.unitEnded(s2, T + 800_000);
  await fleet.retire(a, T + 1_000_000, 'idle');
  // i-b: a spot instance of the next UTC day that nobody used: 1 h at 0.90 (on-demand 3.06)
  const b = { id: 'i-b', provider: 'ec2', resourceClass: 'gpu', type: 'p3.2xlarge', market: 'spot' as const, hourlyUsd: 0.9, onDemandUsd: 3.06, launchedAt: T + 7_200_000, slots: 1 };
  await fleet.putInstance(b);
  await fleet.retire(b, T + 10_800_000, 'idle');
});
afterAll(async () => {
  await stack?.close();
});

describe('GET /v1/costs', () => {
  it('by day (admin): every instance, idle and spot savings, groups add up to the total', async () => {
    const r = await get('/v1/costs?groupBy=day');
    expect(r.statusCode, r.body).toBe(200);
    const c = r.json();
    expect(c.groups.map((g: { key: string; usd: number }) => [g.key, g.usd])).toEqual([['2026-11-27', 1], ['2026-11-28', 0.9]]);
    expect(c.totalUsd).toBeCloseTo(1.9, 6);
    expect(c.idleUsd).toBeCloseTo(0.2 + 0.9, 6);
    expect(c.unattributedUsd).toBeCloseTo(0.9, 6);
    expect(c.spotSavingsUsd).toBeCloseTo(2.16, 6);
    expect(c.budgets.global).toEqual({ limitUsd: 10, spentUsd: 1.9, leftUsd: 8.1 });
  });

  it('by job: idle goes to the job whose demand launched the instance', async () => {
    const c = (await get('/v1/costs?groupBy=job')).json();
    const by = Object.fromEntries(c.groups.map((g: { key: string; usd: number }) => [g.key, g.usd]));
    expect(by).toEqual({ [acmeJob]: 0.8, [globexJob]: 0.2, '(unattributed)': 0.9 });
  });

  it('a tenant sees only its own jobs\' share and its own budget', async () => {
    const c = (await get('/v1/costs?groupBy=job', 'acme')).json();
    expect(c.groups.map((g: { key: string }) => g.key)).toEqual([acmeJob]);
    expect(c.totalUsd).toBeCloseTo(0.8, 6);
    expect(c.budgets).toEqual({ tenant: { tenant: 'acme', limitUsd: 2, spentUsd: 0.8, leftUsd: 1.2 } });
  });

  it('from/to select by launch time', async () => {
    const c = (await get('/v1/costs?groupBy=instanceType&from=2026-11-28')).json();
    expect(c.groups).toEqual([{ key: 'p3.2xlarge', usd: 0.9, instanceSeconds: 3600, idleUsd: 0.9, spotSavingsUsd: 2.16 }]);
    expect(c.from).toBe('2026-11-28T00:00:00.000Z');
  });

  it.each([
    ['/v1/costs?groupBy=week', 'groupBy'],
    ['/v1/costs?from=yesterday', 'from'],
    ['/v1/costs?from=2026-11-28&to=2026-11-01', 'to'],
  ])('%s -> 400 naming %s', async (url, field) => {
    const r = await get(url);
    expect(r.statusCode).toBe(400);
    expect(r.json().error.message).toContain(field);
  });

  it('needs a key', async () => {
    expect((await stack.app.inject({ url: '/v1/costs' })).statusCode).toBe(401);
  });
});

describe('cost on jobs and instances', () => {
  it('GET /v1/jobs/:id carries usd, instance-seconds, idle share and spot savings', async () => {
    const j = (await get(`/v1/jobs/${acmeJob}`, 'acme')).json();
    expect(j.cost.usd).toBeCloseTo(0.8, 6);
    expect(j.cost.idleUsd).toBeCloseTo(0.2, 6);
    expect(j.cost.instanceSeconds).toBeCloseTo(800, 3);
    expect(j.cost.spotSavingsUsd).toBe(0);
  });

  it('listed jobs carry their cost too, and the jobs add up with the unattributed rest', async () => {
    const items = (await get('/v1/jobs')).json().items as Array<{ id: string; cost: { usd: number } }>;
    const sum = items.reduce((s, j) => s + j.cost.usd, 0);
    const total = (await get('/v1/costs')).json();
    expect(sum + total.unattributedUsd).toBeCloseTo(total.totalUsd, 6);
  });

  it('/v1/instances: hourlyUsd and costUsd with the billing minimum', async () => {
    const list = (await get('/v1/instances')).json() as Array<{ id: string; hourlyUsd: number; costUsd: number }>;
    expect(list.map((i) => [i.id, i.hourlyUsd, i.costUsd])).toEqual([['i-a', 3.6, 1], ['i-b', 0.9, 0.9]]);
  });
});

describe('dry-run estimate', () => {
  it('without measurements: the one-minute minimum per unit at the local price', async () => {
    const r = await stack.app.inject({ method: 'POST', url: '/v1/jobs?dryRun=true', headers: stack.auth('acme'), payload: { ...spec(), name: 'other', model: { layers: [{ type: 'dense', units: 7 }, { type: 'dense', units: 1 }] } } });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().estimate).toMatchObject({ units: 4, unitSeconds: 60, hourlyOnDemandUsd: 3.6, onDemandUsd: 0.24, spotUsd: null });
  });

  it('learns from measured epochs of the same shape', async () => {
    await createMeter(stack.redis, stack.prefix).recordDuration(shapeKey(spec()), 400, 4); // 100 s per epoch
    const r = await stack.app.inject({ method: 'POST', url: '/v1/jobs?dryRun=true', headers: stack.auth('acme'), payload: spec() });
    // 4 units x 2 epochs x 100 s x 3.60 USD/h
    expect(r.json().estimate).toMatchObject({ units: 4, unitSeconds: 200, onDemandUsd: 0.8 });
    expect(r.json().estimate.basis).toMatch(/1 earlier unit/);
  });
});

describe('/healthz', () => {
  it('names blocked classes and why', async () => {
    const fleet = createFleetStore(stack.redis, stack.prefix);
    await fleet.putHold('gpu', { failures: 1, notBefore: NOW.getTime() + 60_000, reason: 'no_image', message: 'blocked after 1 failed launch: no AMI', blocked: true });
    const h = (await stack.app.inject({ url: '/healthz' })).json();
    expect(h.fleet.holds).toEqual([{ resourceClass: 'gpu', reason: 'no_image', message: 'blocked after 1 failed launch: no AMI', blocked: true, until: new Date(NOW.getTime() + 60_000).toISOString() }]);
    await fleet.putHold('gpu', undefined);
    expect((await stack.app.inject({ url: '/healthz' })).json()).toEqual({ ok: true });
  });
});

describe('budgets API', () => {
  const send = (method: 'PUT' | 'DELETE', url: string, payload?: object, tenant = 'admin') =>
    stack.app.inject({ method, url, headers: stack.auth(tenant), ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}) });

  it('GET: admin sees the global budget and every tenant\'s, a tenant its own; the environment is the default', async () => {
    const admin = await get('/v1/budgets');
    expect(admin.statusCode, admin.body).toBe(200);
    expect(admin.json()).toEqual({
      month: '2026-11',
      global: { limitUsd: 10, spentUsd: 1.9, leftUsd: 8.1, source: 'env' },
      tenants: [{ tenant: 'acme', limitUsd: 2, spentUsd: 0.8, leftUsd: 1.2, source: 'env' }],
    });
    expect((await get('/v1/budgets', 'acme')).json()).toEqual({ month: '2026-11', global: null, tenants: [{ tenant: 'acme', limitUsd: 2, spentUsd: 0.8, leftUsd: 1.2, source: 'env' }] });
    expect((await get('/v1/budgets', 'globex')).json()).toEqual({ month: '2026-11', global: null, tenants: [] });
  });

  it('PUT and DELETE change them at once, for the API and the cost report (admin keys only)', async () => {
    const r = await send('PUT', '/v1/budgets/tenants/globex', { limitUsd: 0.5 });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().tenants).toContainEqual({ tenant: 'globex', limitUsd: 0.5, spentUsd: 0.2, leftUsd: 0.3, source: 'api' });
    expect((await get('/v1/costs', 'globex')).json().budgets).toEqual({ tenant: { tenant: 'globex', limitUsd: 0.5, spentUsd: 0.2, leftUsd: 0.3 } });
    expect((await send('PUT', '/v1/budgets/global', { limitUsd: 1 })).json().global).toEqual({ limitUsd: 1, spentUsd: 1.9, leftUsd: 0, source: 'api' });

    // cleared: no budget, though NIGHTSHIFT_TENANT_BUDGETS names one
    const cleared = await send('DELETE', '/v1/budgets/tenants/acme');
    expect(cleared.statusCode, cleared.body).toBe(200);
    expect(cleared.json().tenants.map((t: { tenant: string }) => t.tenant)).toEqual(['globex']);
    expect((await get('/v1/costs', 'acme')).json().budgets).toEqual({});
    expect((await send('DELETE', '/v1/budgets/global')).json().global).toBeNull();

    expect((await send('PUT', '/v1/budgets/global', { limitUsd: 10 }, 'acme')).statusCode).toBe(403);
    expect((await send('DELETE', '/v1/budgets/tenants/acme', undefined, 'acme')).statusCode).toBe(403);
    await send('PUT', '/v1/budgets/global', { limitUsd: 10 });
    await send('PUT', '/v1/budgets/tenants/acme', { limitUsd: 2 });
    await send('DELETE', '/v1/budgets/tenants/globex');
  });

  it.each([
    ['/v1/budgets/global', { limitUsd: -1 }, 'limitUsd'],
    ['/v1/budgets/global', { limitUsd: 2e9 }, 'limitUsd'],
    ['/v1/budgets/global', { limitUsd: 'ten' }, 'limitUsd'],
    ['/v1/budgets/global', { limitUsd: null }, 'limitUsd'],
    ['/v1/budgets/global', {}, 'limitUsd'],
    ['/v1/budgets/global', { limitUsd: 5, extra: 1 }, 'extra'],
    ['/v1/budgets/tenants/a%20b', { limitUsd: 5 }, 'tenant'],
  ])('PUT %s %j -> 400 naming %s', async (url, payload, field) => {
    const r = await send('PUT', url, payload);
    expect(r.statusCode, r.body).toBe(400);
    expect(r.json().error.message).toContain(field);
  });

  it('NaN and Infinity are not JSON: the body is refused with a 400', async () => {
    const r = await stack.app.inject({ method: 'PUT', url: '/v1/budgets/global', headers: { ...stack.auth('admin'), 'content-type': 'application/json' }, payload: '{"limitUsd": NaN}' });
    expect(r.statusCode).toBe(400);
  });
});
