/**
 * The scale run at a size CI affords: 20 simulated instances (real agents and unit
 * processors, a stand-in trainer) launched by the real provisioner drain a batch of
 * 100 ten-fold jobs (1,000 units). Every unit runs once and its result is recorded
 * once, every job completes, and every instance is terminated afterwards. Timings are
 * bench/scale.ts's business, not asserted here.
 */
import { afterAll, expect, it } from 'vitest';
import { waitFor } from '../../support/cloud-sim.ts';
import { startScaleRig, type ScaleRig } from '../../support/scale-rig.ts';

let rig: ScaleRig | undefined;
afterAll(async () => {
  await rig?.close();
});

it('20 instances drain 1,000 units: each runs and is recorded exactly once, no instance is left', async () => {
  rig = await startScaleRig({ label: 'scale', instances: 20, hosts: 2, unitMs: 40, reconcileMs: 500, idleTimeoutS: 2 });
  const { jobIds } = await rig.submit(100, 10);
  expect(jobIds).toHaveLength(100);
  await waitFor(async () => (await rig!.statuses(jobIds)).completed === 100, 150_000, 'all 100 jobs completed', 500);

  const check = await rig.verify(jobIds);
  expect(check.units).toBe(1_000);
  expect(check.mismatched).toEqual([]);
  expect(check.recorded).toBe(1_000);
  expect(check.ranTwice).toEqual([]);
  expect(check.runs).toBe(1_000);
  // the fleet grew to its cap and never past it
  expect(rig.fleet.peak()).toBe(20);

  // idle instances are terminated: none is left running, none is left in the fleet records
  await waitFor(() => rig!.fleet.live() === 0, 30_000, 'every instance terminated', 200);
  // a terminated instance reads shutting-down for a moment before terminated
  await waitFor(async () => (await rig!.fleet.provider.describe()).every((i) => i.state === 'terminated'), 30_000, 'every instance reads terminated', 200);
  const listed = await rig.fleet.provider.describe();
  expect(listed.length).toBeGreaterThanOrEqual(20);
  expect(listed.filter((i) => i.state !== 'terminated')).toEqual([]);
  await waitFor(async () => (await rig!.stack.redis.hlen(`${rig!.stack.prefix}:fleet:instances`)) === 0, 10_000, 'no live instance record', 200);
}, 240_000);
