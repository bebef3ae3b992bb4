/**
 * The whole loop with the local provider: real Redis, real BullMQ, real worker
 * processes (the fake worker: the real agent, a sleep instead of training).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createProvisioner, type Provisioner } from '../../services/provisioner/provisioner.ts';
import { addUnits, quietLogger, waitFor } from '../../support/cloud-sim.ts';
import { localFakeRig } from '../../support/local-rig.ts';

/** A provisioner on the local provider (fake workers that sleep `unitMs` per unit), torn down after the test. */
function localRig(
  cleanups: Array<() => Promise<void>>,
  name: string,
  env: { maxInstances: string; idleS: string; reconcileMs: string; unitMs: string },
  onPass?: () => void,
) {
  const r = localFakeRig(cleanups, name, { NIGHTSHIFT_MAX_INSTANCES: env.maxInstances, NIGHTSHIFT_IDLE_TIMEOUT_S: env.idleS, NIGHTSHIFT_RECONCILE_MS: env.reconcileMs }, Number(env.unitMs));
  const prov: Provisioner = createProvisioner({ config: r.config, redis: r.redis, queues: r.queues, provider: r.provider, logger: quietLogger(), ...(onPass ? { onPass } : {}) });
  r.beforeTeardown(() => prov.stop());
  return { redis: r.redis, queues: r.queues, calls: r.calls, prov, local: r.local, prefix: r.prefix };
}

describe('provisioner with the local provider', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    cleanups.length = 0;
  });

  it('queue 8 units -> workers start (never above the cap) -> units done -> every worker gone within idle + 2 periods', async () => {
    const { redis, queues, calls, prov, local, prefix } = localRig(cleanups, 'plocal', { maxInstances: '2', idleS: '2', reconcileMs: '300', unitMs: '150' });

    const queuedAt = Date.now();
    await addUnits(queues, 8, 'cpu');
    prov.start();
    let maxLive = 0;
    await waitFor(async () => {
      const live = (await local.describe()).filter((i) => i.state === 'running').length;
      maxLive = Math.max(maxLive, live);
      return (await redis.llen(`${prefix}:test:done`)) === 8;
    }, 40_000, 'all units done');
    // the worker marks a unit done before BullMQ records it completed (after the processor returns)
    let completed = await queues.units.getJobs(['completed']);
    await waitFor(async () => (completed = await queues.units.getJobs(['completed'])).length >= 8, 5_000, 'all 8 units completed in BullMQ');
    expect(completed).toHaveLength(8);
    const lastUnitEnd = Math.max(...completed.map((j) => j.finishedOn ?? 0));
    await waitFor(async () => (await local.describe()).every((i) => i.state === 'terminated'), 15_000, 'every worker gone');
    // Math.max of no calls is -Infinity, which would pass the latency bound below: there must be terminates
    const terminates = calls.filter((c) => c.op === 'terminate');
    expect(terminates.length).toBeGreaterThanOrEqual(1);
    const lastTerminate = Math.max(...terminates.map((c) => c.at));

    expect(maxLive).toBeLessThanOrEqual(2);
    const launched = calls.filter((c) => c.op === 'launch').flatMap((c) => c.ids);
    expect(launched.length).toBeGreaterThanOrEqual(1);
    expect(launched.length).toBeLessThanOrEqual(2);
    const firstLaunch = calls.find((c) => c.op === 'launch')!.at - queuedAt;
    const drainToTerminate = lastTerminate - lastUnitEnd;
    expect(drainToTerminate).toBeLessThanOrEqual(2_000 + 2 * 300 + 500);
    const views = await prov.instances();
    expect(views.length).toBe(launched.length);
    expect(views.every((v) => v.state === 'terminated' || v.terminatedAt !== null)).toBe(true);
    console.log(`local: first launch ${firstLaunch} ms after queueing; last terminate ${drainToTerminate} ms after the last unit ended`);
  });
  it('wake(): work queued during a long period launches within a moment, not at the end of the period', async () => {
    let passes = 0;
    const { queues, calls, prov } = localRig(cleanups, 'pwake', { maxInstances: '1', idleS: '1', reconcileMs: '60000', unitMs: '50' }, () => passes++);
    prov.wake(); // before start: nothing to wake
    prov.start();
    await waitFor(async () => passes === 1, 10_000, 'the first pass');
    await addUnits(queues, 1, 'cpu');
    const wokenAt = Date.now();
    prov.wake();
    await waitFor(async () => calls.some((c) => c.op === 'launch'), 10_000, 'a launch after wake()');
    // the period is a minute: only the woken pass can have launched
    expect(Date.now() - wokenAt).toBeLessThan(30_000);
    expect(passes).toBeGreaterThanOrEqual(1);
  }, 60_000);
});
