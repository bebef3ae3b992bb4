/**
 * Metering and budgets end to end with the local provider: real Redis and BullMQ,
 * real worker processes (the fake worker: the real agent, a sleep instead of
 * training, spans recorded like the trainer's) and a price per local instance
 * (NIGHTSHIFT_LOCAL_HOURLY_USD). The reported totals are checked against instance
 * lifetimes measured here, from the launch call to the moment the worker process was
 * seen gone.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { shapeKey } from '../../services/core/budget.ts';
import { loadConfig } from '../../services/core/config.ts';
import type { JobSpec } from '../../services/core/spec.ts';
import { createCostReader } from '../../services/platform/costs.ts';
import { createBudgetStore } from '../../services/platform/budgets.ts';
import { createMeter } from '../../services/platform/meter.ts';
import { createStore } from '../../services/platform/store.ts';
import { createFleetStore } from '../../services/platform/fleet-store.ts';
import { createProvisioner, type Provisioner } from '../../services/provisioner/provisioner.ts';
import { addUnits, quietLogger, waitFor } from '../../support/cloud-sim.ts';
import { localFakeRig } from '../../support/local-rig.ts';

const HOURLY = 36; // 0.01 USD per second
const SPEC = {
  name: 'costs', dataset: { uri: 'builtin:make_regression?n_samples=50&n_features=2' },
  model: { layers: [{ type: 'dense', units: 1 }] }, training: { loss: 'mse', epochs: 1 },
} as unknown as JobSpec;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  cleanups.length = 0;
});

async function rig(env: Record<string, string>, unitMs: number) {
  const r = localFakeRig(cleanups, 'costs', { NIGHTSHIFT_MAX_INSTANCES: '2', NIGHTSHIFT_IDLE_TIMEOUT_S: '1', NIGHTSHIFT_RECONCILE_MS: '200', NIGHTSHIFT_LOCAL_HOURLY_USD: String(HOURLY), ...env }, unitMs);
  const { prefix, redis, queues, local, provider, calls } = r;
  const provs: Provisioner[] = [];
  const mk = (over: Record<string, string> = {}) => {
    const p = createProvisioner({ config: loadConfig({ ...r.configEnv, ...over }), redis, queues, provider, logger: quietLogger() });
    provs.push(p);
    return p;
  };
  // independent lifetimes: first launch call .. first time the worker process is seen gone
  const endSeen = new Map<string, number>();
  const sampler = setInterval(() => void local.describe().then((l) => {
    for (const i of l) if (i.state === 'terminated' && !endSeen.has(i.id)) endSeen.set(i.id, Date.now());
  }), 20);
  r.beforeTeardown(async () => {
    clearInterval(sampler);
    for (const p of provs) await p.stop();
  });
  const store = createStore(redis, prefix);
  const fleet = createFleetStore(redis, prefix);
  const meter = createMeter(redis, prefix);
  const costs = createCostReader(meter, fleet.instanceSource());
  const job = async (id: string, tenant: string, units: number) => {
    await store.createJob({ id, name: id, tenant, createdAt: new Date().toISOString(), spec: SPEC, unitsTotal: units, resourceClass: 'cpu' });
    await addUnits(queues, units, 'cpu', id);
  };
  const done = async () => redis.llen(`${prefix}:test:done`);
  const allGone = async () => (await local.describe()).every((i) => i.state === 'terminated') && (await fleet.instances()).size === 0;
  return { prefix, redis, store, fleet, meter, costs, calls, local, mk, job, done, allGone, endSeen };
}

describe('costs on the local provider', () => {
  it('reported totals match instance lifetimes x price within 1%, and per-job costs add up to the total', async () => {
    const r = await rig({}, 700);
    await r.job('jobA', 'acme', 5);
    await r.job('jobB', 'globex', 5);
    r.mk().start();
    await waitFor(async () => (await r.done()) === 10, 60_000, '10 units done');
    await waitFor(r.allGone, 20_000, 'every instance gone and retired');

    const launchAt = new Map<string, number>();
    for (const c of r.calls) if (c.op === 'launch') for (const id of c.ids) if (!launchAt.has(id)) launchAt.set(id, c.at);
    expect(launchAt.size).toBeGreaterThanOrEqual(1);
    const measuredS = [...launchAt].reduce((s, [id, at]) => s + (r.endSeen.get(id)! - at) / 1000, 0);
    const lines = await r.costs.lines();
    const total = lines.reduce((s, l) => s + l.usd, 0);
    const expected = (measuredS * HOURLY) / 3600;
    console.log(`costs: ${launchAt.size} instance(s), measured ${measuredS.toFixed(3)} instance-s -> ${expected.toFixed(5)} USD; reported ${total.toFixed(5)} USD (${((100 * (total - expected)) / expected).toFixed(2)}%)`);
    expect(Math.abs(total - expected) / expected).toBeLessThanOrEqual(0.01);

    // every job carries its share; jobs + unattributed = instances
    const costA = (await r.costs.jobCosts(['jobA'])).get('jobA')!;
    const costB = (await r.costs.jobCosts(['jobB'])).get('jobB')!;
    const unattributed = lines.filter((l) => !l.jobId).reduce((s, l) => s + l.usd, 0);
    expect(costA.usd).toBeGreaterThan(0);
    expect(costB.usd).toBeGreaterThan(0);
    expect(costA.usd + costB.usd + unattributed).toBeCloseTo(total, 5);
    // the settled cost is written into each job's record once its instances ended (batches sum it)
    await waitFor(async () => (await r.store.getJob('jobA'))?.cost !== undefined, 5_000, 'jobA cost written');
    expect((await r.store.getJob('jobA'))!.cost!.usd).toBeCloseTo(costA.usd, 5);
    // the units' own time (5 x 0.7 s each at 1 slot) is at least what each job used
    expect(costA.usd - costA.idleUsd).toBeGreaterThanOrEqual((5 * 0.7 * HOURLY) / 3600 - 1e-6);
  }, 120_000);

  it('a tiny budget stops launching at the cap, stops the queued jobs as budget_exhausted, and resumes when raised without a restart', async () => {
    // 0.05 USD = 5 instance-seconds; units are measured at 0.7 s (0.007 USD)
    const r = await rig({ NIGHTSHIFT_BUDGET_USD: '0.05' }, 700);
    await r.meter.recordDuration(shapeKey(SPEC as never), 0.7, 1);
    await r.job('jobA', 'acme', 16);
    await r.job('jobB', 'globex', 4);
    const prov = r.mk();
    prov.start();
    await waitFor(async () => (await r.store.getStatus('jobA')) === 'budget_exhausted', 60_000, 'jobA stopped by the budget');
    const stoppedAt = Date.now();
    await waitFor(async () => (await r.store.getStatus('jobB')) === 'budget_exhausted', 10_000, 'jobB stopped too');
    const a = await r.store.getJob('jobA');
    expect(a?.error?.code).toBe('budget_exhausted');
    expect(a?.error?.message).toMatch(/the global monthly budget of 0\.05 USD: .*; raise the budget \(nightshift budget set USD\) to resume/);
    await waitFor(r.allGone, 20_000, 'instances drained');
    expect(r.calls.filter((c) => c.op === 'launch' && c.at > stoppedAt)).toEqual([]);
    const doneAtStop = await r.done();
    expect(doneAtStop).toBeLessThan(20);
    const spent = (await r.costs.lines()).reduce((s, l) => s + l.usd, 0);
    // never far past the cap: what was running finished, then the idle timeout
    expect(spent).toBeLessThan(0.05 + 2 * (0.7 + 1 + 1) * (HOURLY / 3600));

    // raise the budget in Redis (as PUT /v1/budgets/global does) while the same provisioner runs:
    // its next pass reopens both jobs, their parked units queue again and run
    await createBudgetStore(r.redis, r.prefix, { costs: { tenantBudgets: new Map() } }).set({ kind: 'global' }, 5);
    await waitFor(async () => (await r.store.getStatus('jobA')) !== 'budget_exhausted', 10_000, 'jobA reopened');
    await waitFor(async () => (await r.done()) === 20, 60_000, 'every unit done after the raise');
    expect((await r.store.getJob('jobA'))?.error).toBeUndefined();
  }, 150_000);
});
