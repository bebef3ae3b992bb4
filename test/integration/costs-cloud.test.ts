/**
 * Leak scenarios on the emulated cloud (moto + the cloud simulator): each ends with
 * zero instances alive within the idle timeout + one reconcile period (plus slack for
 * a loaded machine), and nothing keeps launching paid machines in a loop.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { JobSpec } from '../../services/core/spec.ts';
import { createStore } from '../../services/platform/store.ts';
import { createFleetStore } from '../../services/platform/fleet-store.ts';
import { createProvisioner } from '../../services/provisioner/provisioner.ts';
import { addUnits, isLive, quietLogger, startCloudRig, waitFor } from '../../support/cloud-sim.ts';
import { emulatorEc2, useAwsEmulator } from '../support/moto.ts';
import { DescribeImagesCommand, DescribeInstancesCommand, DescribeSpotPriceHistoryCommand, EC2Client, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';

const IDLE_S = 2;
const PERIOD_MS = 300;
// a pass against the emulator takes ~0.5 s alone and over 2 s beside another test file;
// the bounds still tell these rules from the 600 s boot timeout
const SLACK_MS = 6_000;
const aws = useAwsEmulator();
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  cleanups.length = 0;
});

const SPEC = { name: 'x', dataset: { uri: 'builtin:make_regression' }, model: { layers: [{ type: 'dense', units: 1 }] }, training: { loss: 'mse', epochs: 1 } } as unknown as JobSpec;

async function setup(o: { amiNameFilter?: string; env?: Record<string, string>; unitMs?: number; ec2?: EC2Client } = {}) {
  const rig = await startCloudRig({
    endpoint: aws.endpoint, ec2: o.ec2 ?? aws.ec2, label: 'leaks', unitMs: o.unitMs ?? 200,
    env: { NIGHTSHIFT_EC2_INSTANCE_TYPES: 'p3.2xlarge', NIGHTSHIFT_MAX_INSTANCES: '3', NIGHTSHIFT_IDLE_TIMEOUT_S: String(IDLE_S), NIGHTSHIFT_RECONCILE_MS: String(PERIOD_MS), NIGHTSHIFT_BOOT_TIMEOUT_S: '600', ...o.env },
    ...(o.amiNameFilter ? { amiNameFilter: o.amiNameFilter } : {}),
  });
  const logs: Array<{ level: string; o: object; m?: string; at: number }> = [];
  const prov = createProvisioner({ config: rig.config, redis: rig.redis, queues: rig.queues, provider: rig.provider, logger: quietLogger(logs) });
  cleanups.push(async () => {
    await prov.stop();
    await rig.close();
  });
  const store = createStore(rig.redis, rig.prefix);
  const job = async (id: string, units: number) => {
    await store.createJob({ id, name: id, tenant: 'acme', createdAt: new Date().toISOString(), spec: SPEC, unitsTotal: units, resourceClass: 'gpu' });
    await addUnits(rig.queues, units, 'gpu', id);
  };
  return { ...rig, prov, logs, store, fleet: createFleetStore(rig.redis, rig.prefix), job };
}

describe('leaks on the emulated cloud', () => {
  it('every job cancelled while its instances boot: the booting instances end within idle + one period, as unneeded', async () => {
    const c = await setup();
    c.sim.neverBootNext(3); // they stay "booting" (no worker) for as long as they live
    await c.job('jobA', 5);
    c.prov.start();
    await waitFor(async () => (await c.instances()).filter(isLive).length === 3, 20_000, '3 instances launched');
    // cancel: the queued units go away
    await c.queues.units.drain();
    const cancelledAt = Date.now();
    await waitFor(c.allGone, IDLE_S * 1000 + PERIOD_MS + SLACK_MS + 2_000, 'every instance terminated');
    const goneMs = Date.now() - cancelledAt;
    console.log(`leaks: cancel while booting -> all terminated ${goneMs} ms later (idle ${IDLE_S * 1000} ms + period ${PERIOD_MS} ms)`);
    expect(goneMs).toBeLessThanOrEqual(IDLE_S * 1000 + PERIOD_MS + SLACK_MS);
    await waitFor(async () => (await c.fleet.history()).size === 3, 5_000, 'records retired');
    expect([...(await c.fleet.history()).values()].map((r) => r.terminateReason)).toEqual(['unneeded', 'unneeded', 'unneeded']);
    // the idle of instances nobody used is charged to the job whose demand launched them
    const retired = await c.fleet.instanceSource().byIds([...(await c.fleet.history()).keys()]);
    expect(retired.map((r) => r.demand?.[0]?.jobId)).toEqual(['jobA', 'jobA', 'jobA']);
  }, 60_000);

  it('a class with no image is blocked at once: its jobs say why, /healthz data names it, nothing launches in a loop', async () => {
    const c = await setup({ amiNameFilter: 'no-such-image-*', env: { NIGHTSHIFT_EC2_AMI_SSM_PARAMETER: '/nightshift/test/no-such-parameter' } });
    await c.job('jobA', 2);
    c.prov.start();
    await waitFor(async () => (await c.fleet.holds()).get('gpu')?.blocked === true, 15_000, 'class blocked');
    const hold = (await c.fleet.holds()).get('gpu')!;
    expect(hold.reason).toBe('no_image');
    expect(hold.message).toMatch(/no AMI/);
    await waitFor(async () => (await c.store.getJob('jobA'))?.waiting?.reason === 'no_image', 5_000, 'the job says why it waits');
    expect((await c.store.getJob('jobA'))!.waiting!.message).toMatch(/NIGHTSHIFT_EC2_AMI_ID/);
    expect((await c.store.getJob('jobA'))!.status).toBe('queued');
    // several more passes: no further attempt, nothing alive
    await new Promise((r) => setTimeout(r, 8 * PERIOD_MS));
    expect(c.logs.filter((l) => l.m?.startsWith('launch failed')).length).toBe(1);
    expect((await c.instances()).filter(isLive)).toEqual([]);
  }, 60_000);

  it('an account quota (VcpuLimitExceeded) blocks the class at once: the job says which quota, nothing launches in a loop, nothing is alive', async () => {
    // moto cannot produce quota errors: RunInstances fails on purpose, every other call goes to moto
    const client = emulatorEc2(aws.endpoint);
    const mock = mockClient(client);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const forward = (C: new (i: any) => unknown) => mock.on(C as never).callsFake((input: unknown) => aws.ec2.send(new C(input) as never));
    for (const C of [DescribeInstancesCommand, TerminateInstancesCommand, DescribeImagesCommand, DescribeSpotPriceHistoryCommand]) forward(C);
    let runs = 0;
    mock.on(RunInstancesCommand).callsFake(async () => {
      runs++;
      throw Object.assign(new Error('You have requested more vCPU capacity than your current vCPU limit of 0 allows'), { name: 'VcpuLimitExceeded', Code: 'VcpuLimitExceeded', $metadata: { httpStatusCode: 400 } });
    });
    const c = await setup({ ec2: client });
    await c.job('jobA', 2);
    c.prov.start();
    await waitFor(async () => (await c.fleet.holds()).get('gpu')?.blocked === true, 15_000, 'class blocked');
    expect((await c.fleet.holds()).get('gpu')!.reason).toBe('quota');
    await waitFor(async () => (await c.store.getJob('jobA'))?.waiting?.reason === 'quota', 5_000, 'the job says why it waits');
    expect((await c.store.getJob('jobA'))!.waiting!.message).toMatch(/VcpuLimitExceeded/);
    const runsAtBlock = runs;
    await new Promise((r) => setTimeout(r, 8 * PERIOD_MS));
    expect(runs).toBe(runsAtBlock);
    expect((await c.instances()).filter(isLive)).toEqual([]);
  }, 60_000);

  it('NIGHTSHIFT_MAX_INSTANCE_HOURS: a busy instance past its lifetime is ended and replaced', async () => {
    // 0.002 h = 7.2 s; 20 units of 2 s keep one instance busy for longer than that
    const c = await setup({ unitMs: 2_000, env: { NIGHTSHIFT_MAX_INSTANCE_HOURS: '0.002', NIGHTSHIFT_MAX_INSTANCES: '1' } });
    await c.job('jobA', 20);
    c.prov.start();
    await waitFor(async () => [...(await c.fleet.history()).values()].some((r) => r.terminateReason === 'max-lifetime'), 30_000, 'an instance ended for its age');
    const first = [...(await c.fleet.history()).values()].find((r) => r.terminateReason === 'max-lifetime')!;
    expect(first.terminatedAt! - first.launchedAt).toBeGreaterThanOrEqual(7_200);
    expect(first.terminatedAt! - first.launchedAt).toBeLessThanOrEqual(7_200 + PERIOD_MS + SLACK_MS);
    await waitFor(async () => (await c.instances()).some((i) => isLive(i) && i.InstanceId !== first.id), 10_000, 'a replacement launched');
    await c.queues.units.drain();
    await waitFor(c.allGone, 7_200 + IDLE_S * 1000 + PERIOD_MS + SLACK_MS + 3_000, 'every instance terminated');
  }, 120_000);
  it('a busy worker without epoch progress for NIGHTSHIFT_HUNG_AFTER_S is treated as hung and replaced', async () => {
    // the fake worker reports no epochs: a 20 s unit is silent past the 5 s limit
    const c = await setup({ unitMs: 20_000, env: { NIGHTSHIFT_HUNG_AFTER_S: '5', NIGHTSHIFT_MAX_INSTANCES: '1' } });
    await c.job('jobA', 1);
    c.prov.start();
    await waitFor(async () => [...(await c.fleet.history()).values(), ...(await c.fleet.instances()).values()].some((r) => r.terminateReason === 'hung'), 40_000, 'the silent instance ended as hung');
    await c.queues.units.obliterate({ force: true });
    await waitFor(c.allGone, 20_000, 'every instance terminated');
  }, 90_000);
});
