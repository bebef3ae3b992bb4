/**
 * The whole loop on an emulated cloud: the real provisioner and EC2 provider against
 * moto, the cloud simulator turning every running instance into a worker process
 * (the fake worker: the real agent, a sleep instead of training) with its own
 * metadata endpoint, real Redis and BullMQ. Latencies measured here are recorded in
 * bench/results/provisioner-latency.md.
 */
import { TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, it } from 'vitest';
import { createProvisioner } from '../../services/provisioner/provisioner.ts';
import { addUnits, isLive, quietLogger, startCloudRig, waitFor } from '../../support/cloud-sim.ts';
import { useAwsEmulator } from '../support/moto.ts';

const IDLE_S = 2;
const PERIOD_MS = 300;
/**
 * Delay tolerated on a busy CI machine: a pass against the emulator (observe, spot
 * prices, plan) takes ~0.5 s alone and over 2 s with another test file running. The
 * bounds still tell "on the next passes" from "at the boot timeout" (30 s); the
 * latencies themselves are measured in bench/provisioner-latency.ts.
 */
const SCHEDULING_SLACK_MS = 6_000;
const aws = useAwsEmulator();
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  cleanups.length = 0;
});

async function setup(o: { max: number; unitMs: number; bootTimeoutS?: number }) {
  const rig = await startCloudRig({
    endpoint: aws.endpoint, ec2: aws.ec2, label: 'cloud', unitMs: o.unitMs,
    env: {
      NIGHTSHIFT_EC2_INSTANCE_TYPES: 'p3.2xlarge,g4dn.xlarge', NIGHTSHIFT_MAX_INSTANCES: String(o.max), NIGHTSHIFT_IDLE_TIMEOUT_S: String(IDLE_S),
      NIGHTSHIFT_RECONCILE_MS: String(PERIOD_MS), NIGHTSHIFT_BOOT_TIMEOUT_S: String(o.bootTimeoutS ?? 30),
    },
    workerEnv: { NIGHTSHIFT_FAKE_SPOT_POLL_MS: '200' },
  });
  const logs: Array<{ level: string; o: object; m?: string; at: number }> = [];
  const provisioners: Array<ReturnType<typeof createProvisioner>> = [];
  const mk = (id: string) => {
    const p = createProvisioner({ config: rig.config, redis: rig.redis, queues: rig.queues, provider: rig.provider, logger: quietLogger(logs), id });
    provisioners.push(p);
    return p;
  };
  let maxLive = 0;
  const sampler = setInterval(() => void rig.instances().then((l) => (maxLive = Math.max(maxLive, l.filter(isLive).length))).catch(() => undefined), 100);
  cleanups.push(async () => {
    clearInterval(sampler);
    for (const p of provisioners) await p.stop();
    await rig.close();
  });
  return { ...rig, logs, mk, maxLive: () => maxLive };
}

describe('provisioner on the emulated cloud', () => {
  it('20 units: instances launched (never above the cap), units done, every instance terminated within idle + 2 periods', async () => {
    const c = await setup({ max: 3, unitMs: 150 });
    const prov = c.mk('prov-1');
    await prov.reconcileOnce(); // warm: a provisioner already idling, like in production
    prov.start();
    await new Promise((r) => setTimeout(r, PERIOD_MS));
    const queuedAt = Date.now();
    await addUnits(c.queues, 20, 'gpu');
    await waitFor(async () => (await c.unitsDone()) === 20, 60_000, '20 units done');
    // the worker marks a unit done before BullMQ records it completed (after the processor returns)
    let completed = await c.queues.units.getJobs(['completed']);
    await waitFor(async () => (completed = await c.queues.units.getJobs(['completed'])).length >= 20, 5_000, 'all 20 units completed in BullMQ');
    expect(completed).toHaveLength(20);
    const lastUnitEnd = Math.max(...completed.map((j) => j.finishedOn ?? 0));
    await waitFor(c.allGone, 15_000, 'every instance terminated');
    const launches = c.calls.filter((x) => x.op === 'launch');
    const terminates = c.calls.filter((x) => x.op === 'terminate');
    const firstLaunchMs = launches[0].at - queuedAt;
    if (process.env.NIGHTSHIFT_TEST_VERBOSE) console.log(c.logs.slice(0, 8).map((l) => `${l.at - queuedAt} ${l.m} ${JSON.stringify(l.o).slice(0, 150)}`).join("\n"));
    // Math.max of no calls is -Infinity: there must be a launch and a terminate to measure
    expect(launches.length).toBeGreaterThanOrEqual(1);
    expect(terminates.length).toBeGreaterThanOrEqual(1);
    const lastTerminateMs = Math.max(...terminates.map((x) => x.at)) - lastUnitEnd;
    console.log(`cloud: first launch call ${firstLaunchMs} ms after queueing; last terminate call ${lastTerminateMs} ms after the last unit ended; max live ${c.maxLive()}`);

    expect(c.maxLive()).toBeLessThanOrEqual(3);
    expect(launches.flatMap((l) => l.ids).length).toBeLessThanOrEqual(3);
    // The bounds are the behaviour (launch on the next pass; terminate on the first pass
    // after the idle timeout), with slack for a loaded 2-core machine running other test
    // files at once; the measured latencies are recorded in bench/results/provisioner-latency.md.
    // the first launch only has to come from a pass, well before the 30 s boot timeout: its
    // latency (passes of 0.5 s alone, 6.4 s seen under CI load) is the benchmark's to measure
    expect(firstLaunchMs).toBeLessThanOrEqual(20_000);
    expect(lastTerminateMs).toBeLessThanOrEqual(IDLE_S * 1000 + 2 * PERIOD_MS + SCHEDULING_SLACK_MS);
    // the fleet record is retired right after the terminate call returns
    await waitFor(async () => (await prov.instances()).every((v) => v.terminatedAt !== null), 5_000, 'fleet records retired');
    const views = await prov.instances();
    expect(views.length).toBe(launches.flatMap((l) => l.ids).length);
    expect(views.length).toBeGreaterThanOrEqual(1);
    for (const v of views) expect(v).toMatchObject({ hourlyUsd: 3.06, type: 'p3.2xlarge' });
    expect(views.every((v) => v.costUsd > 0)).toBe(true);
  });

  it('provisioner killed and restarted mid-run: no duplicate launch, no orphan, everything drains', async () => {
    const c = await setup({ max: 2, unitMs: 400 });
    const a = c.mk('prov-a');
    await addUnits(c.queues, 12, 'gpu');
    a.start();
    await waitFor(async () => (await c.unitsDone()) >= 2, 30_000, 'first units done');
    await a.stop({ releaseLease: false }); // a crash: the lease stays until it expires
    const b = c.mk('prov-b');
    b.start();
    await waitFor(async () => (await c.unitsDone()) === 12, 60_000, '12 units done');
    await waitFor(c.allGone, 15_000, 'every instance terminated');
    const all = await c.instances();
    expect(all).toHaveLength(2);
    expect(c.maxLive()).toBeLessThanOrEqual(2);
    const terminations = c.logs.filter((l) => l.m === 'instance terminated').map((l) => (l.o as { reason: string }).reason);
    // each instance ended once, by the provisioner, for idleness (no orphan, no repair)
    expect(terminations, JSON.stringify(c.logs.filter((l) => l.level !== 'info' || /terminat|launch/.test(l.m ?? '')))).toEqual(all.map(() => 'idle'));
  });

  it('an instance that never heartbeats is replaced after the boot timeout', async () => {
    // long enough for a fake worker (node + tsx) to start on a loaded machine: only the
    // instance that never boots may time out
    const c = await setup({ max: 1, unitMs: 100, bootTimeoutS: 6 });
    c.sim.neverBootNext(1);
    const prov = c.mk('prov-1');
    await addUnits(c.queues, 3, 'gpu');
    prov.start();
    await waitFor(async () => (await c.unitsDone()) === 3, 30_000, '3 units done');
    const views = await prov.instances();
    const timedOut = views.filter((v) => v.terminateReason === 'boot-timeout');
    expect(timedOut).toHaveLength(1);
    // the one the simulator never booted, and the replacement did the work
    expect(c.sim.instances().find((i) => i.id === timedOut[0].id)?.worker).toBeUndefined();
    expect(views.length).toBe(2);
    await waitFor(c.allGone, 15_000, 'every instance terminated');
  });

  it('spot notice: the agent fires onInterruption, the unit goes back without spending an attempt and finishes elsewhere', async () => {
    const c = await setup({ max: 1, unitMs: 1_500 });
    const prov = c.mk('prov-1');
    await addUnits(c.queues, 3, 'gpu');
    prov.start();
    let victim = '';
    await waitFor(async () => {
      for (const i of c.sim.instances()) {
        if (Number(await c.redis.hget(`${c.prefix}:fleet:worker:${i.id}`, 'activeUnits')) > 0) victim = i.id;
      }
      return victim !== '';
    }, 30_000, 'a worker holding a unit');
    c.sim.setSpotNotice(victim, { action: 'terminate', time: new Date(Date.now() + 120_000).toISOString() });
    await waitFor(async () => (await c.redis.lrange(`${c.prefix}:test:interrupted`, 0, -1)).includes(`${victim} terminate`), 10_000, 'interruption seen');
    await waitFor(async () => (await c.redis.llen(`${c.prefix}:test:handedback`)) === 1, 10_000, 'unit handed back');
    await aws.ec2.send(new TerminateInstancesCommand({ InstanceIds: [victim] })); // the spot reclaim itself
    await waitFor(async () => (await c.unitsDone()) === 3, 40_000, '3 units done');
    // the unit's own record comes a moment before BullMQ moves its job to completed
    await waitFor(async () => (await c.queues.units.getJobs(['completed'])).length === 3, 10_000, '3 units completed in BullMQ');
    const jobs = await c.queues.units.getJobs(['completed']);
    expect(jobs).toHaveLength(3);
    expect(jobs.every((j) => j.attemptsMade === 0 || j.attemptsMade === 1)).toBe(true);
    const handed = (await c.redis.lrange(`${c.prefix}:test:handedback`, 0, -1))[0].split(' ')[1];
    const finishedBy = (await c.redis.lrange(`${c.prefix}:test:done`, 0, -1)).find((l) => l.endsWith(` ${handed}`))!.split(' ')[0];
    expect(finishedBy).not.toBe(victim);
    const handedJob = jobs.find((j) => j.id === handed)!;
    expect(handedJob.attemptsMade).toBe(jobs.find((j) => j.id !== handed)!.attemptsMade);
  });
});
