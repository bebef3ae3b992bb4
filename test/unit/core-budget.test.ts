import { describe, expect, it } from 'vitest';
import { checkBudgetUsd, effectiveBudgets, estimateUnitSeconds, gateDemand, monthlyScopes, parseTenantBudgets, shapeKey, type BudgetScope, type PendingWork } from '../../services/core/budget.ts';
import { ON_DEMAND_USD, INSTANCE_TYPES, gpusOfType, onDemandQuote, UNKNOWN_TYPE_USD } from '../../services/core/prices.ts';

const w = (jobId: string, pending: number, unitUsd: number, o: Partial<PendingWork> = {}): PendingWork => ({ jobId, tenant: 'alice', resourceClass: 'gpu', pending, running: 0, unitUsd, ...o });
const g = (limitUsd: number, spentUsd: number): BudgetScope => ({ kind: 'global', key: '', limitUsd, spentUsd });
const t = (key: string, limitUsd: number, spentUsd: number): BudgetScope => ({ kind: 'tenant', key, limitUsd, spentUsd });
const b = (key: string, limitUsd: number, spentUsd: number): BudgetScope => ({ kind: 'batch', key, limitUsd, spentUsd });

describe('budget gate', () => {
  it.each([
    ['no budgets: everything admitted', [w('a', 5, 1)], [], 5, []],
    ['global room for 3 of 5 units', [w('a', 5, 1)], [g(10, 7)], 3, [['a', 'global', false]]],
    ['global spent: nothing, job exhausted', [w('a', 5, 1)], [g(10, 10)], 0, [['a', 'global', true]]],
    ['left below one unit: exhausted', [w('a', 2, 1)], [g(10, 9.5)], 0, [['a', 'global', true]]],
    ['exactly one unit left', [w('a', 2, 1)], [g(10, 9)], 1, [['a', 'global', false]]],
    ['tenant budget holds only that tenant', [w('a', 2, 1), w('b', 2, 1, { tenant: 'bob' })], [t('alice', 5, 5)], 2, [['a', 'tenant', true]]],
    ['the first job in order takes the room', [w('a', 3, 1), w('b', 3, 1)], [g(4, 0)], 4, [['b', 'global', false]]],
    ['batch budget', [w('a', 4, 2, { batchId: 'B' })], [b('B', 5, 0)], 2, [['a', 'batch', false]]],
    ['the strictest scope wins', [w('a', 4, 1, { batchId: 'B' })], [g(100, 0), t('alice', 3, 0), b('B', 10, 0)], 3, [['a', 'tenant', false]]],
    ['running units are never held', [w('a', 0, 1, { running: 2 })], [g(1, 5)], 0, []],
  ] as const)('%s', (_n, work, scopes, admitted, held) => {
    const r = gateDemand(work.map((x) => ({ ...x })), scopes.map((s) => ({ ...s })));
    expect(r.admitted.gpu?.pending ?? 0).toBe(admitted);
    expect(r.held.map((h) => [h.jobId, h.scope.kind, h.exhausted])).toEqual(held);
  });

  it('the message names the budget and what is left', () => {
    const r = gateDemand([w('a', 1, 1)], [t('alice', 5, 5)]);
    expect(r.held[0].message).toMatch(/tenant alice's monthly budget of 5\.00 USD: 5\.00 USD spent, 0\.00 USD left, .*; raise the budget \(nightshift budget set USD --tenant alice\) to resume$/);
  });

  it('running units count in demand', () => {
    expect(gateDemand([w('a', 1, 1, { running: 3 })], [g(0, 0)]).admitted.gpu).toEqual({ pending: 0, running: 3 });
  });
});

describe('unit duration estimate', () => {
  it.each([
    ['no measurement: the fallback', [], 100, 60, 60],
    ['one unit: 2 s/epoch x 100', [{ seconds: 20, epochs: 10 }], 100, 60, 200],
    ['median of per-epoch rates', [{ seconds: 10, epochs: 10 }, { seconds: 30, epochs: 10 }, { seconds: 1000, epochs: 10 }], 10, 60, 30],
    ['even count: mean of the middle two', [{ seconds: 10, epochs: 10 }, { seconds: 30, epochs: 10 }], 10, 60, 20],
    ['zero-epoch rows are ignored', [{ seconds: 10, epochs: 0 }], 10, 60, 60],
  ] as const)('%s', (_n, m, epochs, fb, expected) => {
    expect(estimateUnitSeconds([...m], epochs, fb)).toBeCloseTo(expected, 9);
  });
  it('shape keys ignore the epoch count and see the model', () => {
    const base = { model: { layers: [{ type: 'dense', units: 5 }] }, dataset: { uri: 'dataset:x' }, training: { batchSize: 32, epochs: 10 } };
    expect(shapeKey({ ...base, training: { batchSize: 32, epochs: 500 } } as never)).toBe(shapeKey(base));
    expect(shapeKey({ ...base, model: { layers: [{ type: 'dense', units: 6 }] } })).not.toBe(shapeKey(base));
  });
});

describe('NIGHTSHIFT_TENANT_BUDGETS', () => {
  it('parses tenant:usd pairs', () => {
    expect([...parseTenantBudgets('alice:50, bob:12.5')]).toEqual([['alice', 50], ['bob', 12.5]]);
    expect(parseTenantBudgets('').size).toBe(0);
  });
  it.each(['alice', 'alice:', ':5', 'alice:-1', 'alice:ten', 'a b:5'])('rejects "%s"', (raw) => {
    expect(() => parseTenantBudgets(raw)).toThrow(/tenant:usd/);
  });
});

describe('price catalog', () => {
  it('prices every type it describes, and describes every type it prices', () => {
    expect(Object.keys(INSTANCE_TYPES).sort()).toEqual(Object.keys(ON_DEMAND_USD).sort());
  });
  it.each([
    ['p3.2xlarge', 'us-east-1', 3.06, 'catalog'],
    ['p3.2xlarge', 'eu-west-1', 3.305, 'catalog'],
    ['g5.xlarge', 'us-west-2', 1.006, 'catalog'],
    ['g6.xlarge', 'ap-south-1', 0.8048, 'catalog-us-east-1'],
    ['z9.mega', 'us-east-1', UNKNOWN_TYPE_USD, 'unknown-type'],
  ])('%s in %s = %f (%s)', (type, region, usd, source) => {
    expect(onDemandQuote(type, region)).toEqual({ usd, source });
  });
  it('a Pricing API refresh wins over the catalog', () => {
    expect(onDemandQuote('p3.2xlarge', 'us-east-1', new Map([['us-east-1/p3.2xlarge', 2.5]]))).toEqual({ usd: 2.5, source: 'pricing-api' });
  });
  it.each([
    ['p3.2xlarge', 1], ['p3.8xlarge', 4], ['p3dn.24xlarge', 8], ['p4d.24xlarge', 8], ['g4dn.12xlarge', 4], ['g5.48xlarge', 8], ['g6.xlarge', 1], ['c6i.xlarge', 0], ['unknown.type', undefined],
  ])('GPUs of %s = %s', (type, gpus) => {
    expect(gpusOfType(type)).toBe(gpus);
  });
  it('CPU types hold vCPUs and no GPU', () => {
    expect(INSTANCE_TYPES['c7i.4xlarge']).toEqual({ vcpus: 16, gpus: 0 });
    expect(INSTANCE_TYPES['g5.xlarge']).toMatchObject({ vcpus: 4, gpus: 1, gpuModel: 'A10G' });
  });
});

describe('budgets in force: the budgets API over the environment', () => {
  const env = { budgetUsd: 100, tenantBudgets: new Map([['alice', 10], ['bob', 5]]) };
  const show = (b: ReturnType<typeof effectiveBudgets>) => ({ global: b.global, tenants: Object.fromEntries(b.tenants) });
  it.each([
    ['nothing stored: the environment', env, {}, { global: { limitUsd: 100, source: 'env' }, tenants: { alice: { limitUsd: 10, source: 'env' }, bob: { limitUsd: 5, source: 'env' } } }],
    ['stored values win', env, { global: '250', 'tenant:alice': '0' }, { global: { limitUsd: 250, source: 'api' }, tenants: { alice: { limitUsd: 0, source: 'api' }, bob: { limitUsd: 5, source: 'env' } } }],
    ['cleared scopes have no budget', env, { global: 'none', 'tenant:bob': 'none' }, { global: undefined, tenants: { alice: { limitUsd: 10, source: 'env' } } }],
    ['a tenant only the API knows', { tenantBudgets: new Map() }, { 'tenant:carol': '7.5' }, { global: undefined, tenants: { carol: { limitUsd: 7.5, source: 'api' } } }],
    ['unparsable stored values are ignored', env, { global: 'abc', 'tenant:alice': '-3', 'tenant:bob': 'Infinity', other: '5' }, { global: { limitUsd: 100, source: 'env' }, tenants: { alice: { limitUsd: 10, source: 'env' }, bob: { limitUsd: 5, source: 'env' } } }],
    ['no environment, nothing stored', { tenantBudgets: new Map() }, {}, { global: undefined, tenants: {} }],
  ] as const)('%s', (_n, defaults, stored, expected) => {
    expect(show(effectiveBudgets(defaults as never, { ...stored }))).toEqual(expected);
  });

  it.each([
    [0, undefined], [50, undefined], [1e9, undefined], [12.34, undefined],
    [-1, 'expected 0 to 1000000000 USD, got -1'], [1e9 + 1, 'expected 0 to 1000000000 USD, got 1000000001'],
    [Infinity, 'expected 0 to 1000000000 USD, got Infinity'], [NaN, 'expected a number of USD, got null'],
    ['50', 'expected a number of USD, got "50"'], [null, 'expected a number of USD, got null'], [undefined, 'expected a number of USD, got undefined'],
  ])('budget figure %s', (v, problem) => {
    expect(checkBudgetUsd(v)).toBe(problem);
  });

  it('monthly scopes carry each scope\'s month-to-date spend', () => {
    const limits = effectiveBudgets(env, { 'tenant:carol': '3' });
    expect(monthlyScopes(limits, { global: 42, tenants: new Map([['alice', 9]]) })).toEqual([
      { kind: 'global', key: '', limitUsd: 100, spentUsd: 42 },
      { kind: 'tenant', key: 'alice', limitUsd: 10, spentUsd: 9 },
      { kind: 'tenant', key: 'bob', limitUsd: 5, spentUsd: 0 },
      { kind: 'tenant', key: 'carol', limitUsd: 3, spentUsd: 0 },
    ]);
  });
});
