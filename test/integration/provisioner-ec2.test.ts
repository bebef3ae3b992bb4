/**
 * The EC2 provider over the real wire: the real SDK against moto (or whatever
 * AWS_ENDPOINT_URL names). Faults moto cannot produce (capacity, throttling) are
 * injected with aws-sdk-client-mock in front of a client that still talks to moto.
 */
import {
  DescribeImagesCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  DescribeSpotPriceHistoryCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../services/core/config.ts';
import { connectRedis } from '../../services/platform/redis.ts';
import { createQueues } from '../../services/platform/queue.ts';
import { createProvisioner } from '../../services/provisioner/provisioner.ts';
import { createEc2Provider } from '../../services/provisioner/providers/ec2.ts';
import { createComputeProvider } from '../../services/provisioner/providers/index.ts';
import { TAG } from '../../services/provisioner/providers/ec2-tags.ts';
import { LaunchError } from '../../services/provisioner/provider.ts';
import { rereadSpotPrices } from '../../services/provisioner/spot-prices.ts';
import { createFleetStore } from '../../services/platform/fleet-store.ts';
import { addUnits, clusterInstances, quietLogger } from '../../support/cloud-sim.ts';
import { emulatorEc2, EMULATOR_CREDENTIALS, TEST_WORKER_IMAGE, useAwsEmulator } from '../support/moto.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../../support/redis.ts';

const aws = useAwsEmulator();
const DL_NAME = '*Deep Learning*';

function cfg(prefix: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    REDIS_URL: TEST_REDIS_URL, NIGHTSHIFT_PREFIX: prefix, NIGHTSHIFT_COMPUTE: 'ec2', AWS_ENDPOINT_URL: aws.endpoint, AWS_REGION: 'us-east-1', NIGHTSHIFT_WORKER_IMAGE: TEST_WORKER_IMAGE,
    AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', NIGHTSHIFT_EC2_INSTANCE_TYPES: 'p3.2xlarge,g4dn.xlarge',
    NIGHTSHIFT_MAX_INSTANCES: '3', NIGHTSHIFT_IDLE_TIMEOUT_S: '2', NIGHTSHIFT_RECONCILE_MS: '300', ...env,
  });
}

const instancesOf = (cluster: string) => clusterInstances(aws.ec2, cluster);

/** A client whose RunInstances can fail on purpose; everything else goes to the emulator. */
function faultyClient(run: (input: { InstanceType?: string; InstanceMarketOptions?: unknown }, call: number) => Error | undefined) {
  const c = emulatorEc2(aws.endpoint);
    const mock = mockClient(c);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const forward = (C: new (i: any) => unknown) => mock.on(C as never).callsFake((input: unknown) => aws.ec2.send(new C(input) as never));
  forward(DescribeInstancesCommand);
  forward(TerminateInstancesCommand);
  forward(DescribeImagesCommand);
  forward(DescribeSpotPriceHistoryCommand);
  let calls = 0;
  const seen: Array<{ type?: string; spot: boolean }> = [];
  mock.on(RunInstancesCommand).callsFake(async (input) => {
    seen.push({ type: input.InstanceType, spot: Boolean(input.InstanceMarketOptions) });
    const err = run(input, calls++);
    if (err) throw err;
    return aws.ec2.send(new RunInstancesCommand(input));
  });
  return { client: c, seen };
}

const awsErr = (name: string, status: number) => Object.assign(new Error(`${name} (injected)`), { name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status } });

describe('EC2 provider against the emulator', () => {
  it('launches tagged instances with shutdown=terminate and quoted user data, idempotently per launch id', async () => {
    const prefix = uniquePrefix('ec2');
    const config = cfg(prefix, { NIGHTSHIFT_REDIS_URL_PARAMETER: '/nightshift/redis-url' });
    const p = createComputeProvider(config, { amiNameFilter: DL_NAME });
    expect(p.kind).toBe('ec2');
    const first = await p.launch({ launchId: `${prefix}-1`, resourceClass: 'gpu', count: 2, spot: 'no' });
    expect(first.instances).toHaveLength(2);
    expect(first.hourlyUsd).toBe(3.06);
    expect(first.instances.every((i) => i.type === 'p3.2xlarge' && i.market === 'on-demand' && i.launchId === `${prefix}-1` && i.resourceClass === 'gpu')).toBe(true);

    // the same launch again (a retry after a crash): nothing new
    const again = await p.launch({ launchId: `${prefix}-1`, resourceClass: 'gpu', count: 2, spot: 'no' });
    expect(again.instances.map((i) => i.id).sort()).toEqual(first.instances.map((i) => i.id).sort());
    expect(await instancesOf(prefix)).toHaveLength(2);

    const id = first.instances[0].id;
    const sb = await aws.ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: id, Attribute: 'instanceInitiatedShutdownBehavior' }));
    expect(sb.InstanceInitiatedShutdownBehavior?.Value).toBe('terminate');
    const ud = await aws.ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: id, Attribute: 'userData' }));
    const script = Buffer.from(ud.UserData?.Value ?? '', 'base64').toString();
    expect(script).toContain(`NIGHTSHIFT_PREFIX='${prefix}'`);
    expect(script).toContain("REDIS_URL_PARAMETER='/nightshift/redis-url'");
    expect(script).not.toContain('redis://');
    const inst = (await instancesOf(prefix))[0];
    const tags = Object.fromEntries((inst.Tags ?? []).map((t) => [t.Key, t.Value]));
    expect(tags).toMatchObject({ [TAG.cluster]: prefix, [TAG.resourceClass]: 'gpu', [TAG.launch]: `${prefix}-1`, [TAG.role]: 'worker' });
    expect(inst.ImageId).toBeTruthy();

    expect((await p.describe()).map((i) => i.id).sort()).toEqual(first.instances.map((i) => i.id).sort());
    await p.terminate([...first.instances.map((i) => i.id), 'i-00000000000000000']);
    const after = await p.describe();
    expect(after.every((i) => i.state === 'terminated' || i.state === 'shutting-down')).toBe(true);
    await p.close?.();
  });

  it('AMI from the SSM parameter, else the explicit id wins', async () => {
    const prefix = uniquePrefix('ami');
    const ssm = new SSMClient({ endpoint: aws.endpoint, region: 'us-east-1', credentials: EMULATOR_CREDENTIALS });
    const images = await aws.ec2.send(new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'name', Values: [DL_NAME] }] }));
    const [a, b] = (images.Images ?? []).map((i) => i.ImageId!);
    await ssm.send(new PutParameterCommand({ Name: `/${prefix}/ami-id`, Value: a, Type: 'String' }));
    const viaSsm = createEc2Provider(cfg(prefix, { NIGHTSHIFT_EC2_AMI_SSM_PARAMETER: `/${prefix}/ami-id` }), { ssm });
    const l1 = await viaSsm.launch({ launchId: `${prefix}-1`, resourceClass: 'gpu', count: 1, spot: 'no' });
    const explicit = createEc2Provider(cfg(prefix, { NIGHTSHIFT_EC2_AMI_ID: b }));
    const l2 = await explicit.launch({ launchId: `${prefix}-2`, resourceClass: 'gpu', count: 1, spot: 'no' });
    const byId = new Map((await instancesOf(prefix)).map((i) => [i.InstanceId, i.ImageId]));
    expect(byId.get(l1.instances[0].id)).toBe(a);
    expect(byId.get(l2.instances[0].id)).toBe(b);
    ssm.destroy();
  });

  it('capacity error on the first type -> the next type', async () => {
    const prefix = uniquePrefix('cap');
    const { client, seen } = faultyClient((i) => (i.InstanceType === 'p3.2xlarge' ? awsErr('InsufficientInstanceCapacity', 500) : undefined));
    const p = createEc2Provider(cfg(prefix), { ec2: client, amiNameFilter: DL_NAME, backoffBaseMs: 1 });
    const out = await p.launch({ launchId: `${prefix}-1`, resourceClass: 'gpu', count: 1, spot: 'no' });
    expect(out.instances.map((i) => i.type)).toEqual(['g4dn.xlarge']);
    expect(out.hourlyUsd).toBe(0.526);
    expect(seen.map((s) => s.type)).toEqual(['p3.2xlarge', 'g4dn.xlarge']);
  });

  it('spot "prefer" falls back to on-demand; "require" waits (capacity error, nothing launched)', async () => {
    const prefix = uniquePrefix('spot');
    const { client, seen } = faultyClient((i) => (i.InstanceMarketOptions ? awsErr('SpotMaxPriceTooLow', 400) : undefined));
    const p = createEc2Provider(cfg(prefix), { ec2: client, amiNameFilter: DL_NAME });
    const out = await p.launch({ launchId: `${prefix}-1`, resourceClass: 'gpu', count: 1, spot: 'prefer' });
    expect(out.instances[0].market).toBe('on-demand');
    expect(seen).toEqual([{ type: 'p3.2xlarge', spot: true }, { type: 'g4dn.xlarge', spot: true }, { type: 'p3.2xlarge', spot: false }]);
    const err = await p.launch({ launchId: `${prefix}-2`, resourceClass: 'gpu', count: 1, spot: 'require' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as LaunchError).kind).toBe('capacity');
    expect((err as LaunchError).attempts.every((a) => a.market === 'spot')).toBe(true);
    expect((await instancesOf(prefix)).length).toBe(1);
  });

  it('spot "prefer": a spot quota or a refused spot request still tries on-demand; an on-demand quota blocks with the quota named', async () => {
    const prefix = uniquePrefix('quota');
    const { client, seen } = faultyClient((i) => (i.InstanceMarketOptions ? awsErr('MaxSpotInstanceCountExceeded', 400) : undefined));
    const p = createEc2Provider(cfg(prefix), { ec2: client, amiNameFilter: DL_NAME });
    const out = await p.launch({ launchId: `${prefix}-1`, resourceClass: 'gpu', count: 1, spot: 'prefer' });
    expect(out.instances[0].market).toBe('on-demand');
    // the quota ends the spot market at once (no point trying the next type there), then on-demand
    expect(seen).toEqual([{ type: 'p3.2xlarge', spot: true }, { type: 'p3.2xlarge', spot: false }]);
    expect(out.priceSource).toBe('catalog');

    const denied = faultyClient((i) => (i.InstanceMarketOptions ? awsErr('UnauthorizedOperation', 403) : undefined));
    const p2 = createEc2Provider(cfg(prefix), { ec2: denied.client, amiNameFilter: DL_NAME });
    expect((await p2.launch({ launchId: `${prefix}-2`, resourceClass: 'gpu', count: 1, spot: 'prefer' })).instances[0].market).toBe('on-demand');

    const quota = faultyClient(() => awsErr('VcpuLimitExceeded', 400));
    const p3 = createEc2Provider(cfg(prefix), { ec2: quota.client, amiNameFilter: DL_NAME });
    const err = await p3.launch({ launchId: `${prefix}-3`, resourceClass: 'gpu', count: 1, spot: 'no' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as LaunchError).kind).toBe('quota');
    expect((err as LaunchError).message).toMatch(/VcpuLimitExceeded: the vCPU quota/);
    expect(quota.seen).toEqual([{ type: 'p3.2xlarge', spot: false }]);
    await aws.ec2.send(new TerminateInstancesCommand({ InstanceIds: (await instancesOf(prefix)).map((i) => i.InstanceId!) }));
  });

  it('spot launch on the emulator is marked spot; the spot price falls back to on-demand when history has no p3 rows', async () => {
    const prefix = uniquePrefix('spotok');
    const p = createEc2Provider(cfg(prefix), { amiNameFilter: DL_NAME });
    const out = await p.launch({ launchId: `${prefix}-1`, resourceClass: 'gpu', count: 1, spot: 'require' });
    expect(out.instances[0].market).toBe('spot');
    expect(out.hourlyUsd).toBe(3.06);
    expect(out.priceSource).toBe('catalog: no spot price history');
    expect(out.onDemandUsd).toBe(3.06);
    expect(await p.hourlyUsd('gpu', 'require')).toBe(3.06);
  });

  it('the user data sent to RunInstances powers the machine off if the bootstrap never hands over (shutdown -h +N before anything that can hang)', async () => {
    const prefix = uniquePrefix('poweroff');
    const p = createEc2Provider(cfg(prefix, { NIGHTSHIFT_BOOTSTRAP_POWEROFF_MIN: '7' }), { amiNameFilter: DL_NAME });
    const out = await p.launch({ launchId: `${prefix}-1`, resourceClass: 'gpu', count: 1, spot: 'no' });
    try {
      const ud = await aws.ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: out.instances[0].id, Attribute: 'userData' }));
      const lines = Buffer.from(ud.UserData?.Value ?? '', 'base64').toString().split('\n');
      const powerOff = lines.findIndex((l) => /^shutdown -h \+'?7'? 'nightshift: the worker never started'$/.test(l));
      expect(powerOff, lines.slice(0, 30).join('\n')).toBeGreaterThan(0);
      // before the first network or container step (aws, docker, curl, dnf/apt), so a hang there still ends in a power-off
      const firstRisky = lines.findIndex((l) => /^\s*(aws |docker |curl |dnf |yum |apt-get |systemctl )/.test(l));
      expect(firstRisky).toBeGreaterThan(powerOff);
      // and the worker's handover cancels it: the bootstrap installs the unit that runs shutdown -c
      expect(lines.some((l) => l.includes('shutdown -c'))).toBe(true);
    } finally {
      await p.terminate(out.instances.map((i) => i.id));
      await p.close?.();
    }
  });

  it('an hour into a spot instance\'s life its price is re-read in its zone; without history the catalog price stays, recorded as such', async () => {
    const prefix = uniquePrefix('spotre');
    const p = createEc2Provider(cfg(prefix), { amiNameFilter: DL_NAME });
    const out = await p.launch({ launchId: `${prefix}-1`, resourceClass: 'gpu', count: 1, spot: 'require' });
    const i = out.instances[0];
    expect(i.zone).toMatch(/^us-east-1[a-z]$/);
    expect(await p.spotPrice!(i.type, i.zone!)).toBeUndefined();
    const redis = connectRedis(TEST_REDIS_URL);
    try {
      const store = createFleetStore(redis, prefix);
      const r = { id: i.id, provider: 'ec2', resourceClass: 'gpu', type: i.type, market: i.market, hourlyUsd: out.hourlyUsd, onDemandUsd: out.onDemandUsd!, launchedAt: i.launchedAt, zone: i.zone!, priceSource: out.priceSource! };
      await store.putInstance(r);
      const records = await store.instances();
      await rereadSpotPrices({ store, provider: p, log: quietLogger() }, records, i.launchedAt + 30 * 60_000);
      expect((await store.instances()).get(i.id)?.priceCheckedAt).toBeUndefined(); // not due yet
      await rereadSpotPrices({ store, provider: p, log: quietLogger() }, records, i.launchedAt + 3_600_000);
      const after = (await store.instances()).get(i.id)!;
      expect(after).toMatchObject({ priceCheckedAt: i.launchedAt + 3_600_000, priceSource: 'catalog: no spot price history', hourlyUsd: 3.06 });
      expect(after.prices).toBeUndefined();
    } finally {
      await p.terminate([i.id]);
      redis.disconnect();
      await cleanupPrefix(prefix);
    }
  });

  it('throttling backs off and retries the same option; a fatal error surfaces at once', async () => {
    const prefix = uniquePrefix('thr');
    const t = faultyClient((_i, n) => (n < 2 ? awsErr('RequestLimitExceeded', 503) : undefined));
    const p = createEc2Provider(cfg(prefix), { ec2: t.client, amiNameFilter: DL_NAME, backoffBaseMs: 5 });
    const out = await p.launch({ launchId: `${prefix}-1`, resourceClass: 'gpu', count: 1, spot: 'no' });
    expect(out.instances).toHaveLength(1);
    expect(t.seen.map((s) => s.type)).toEqual(['p3.2xlarge', 'p3.2xlarge', 'p3.2xlarge']);

    const f = faultyClient(() => awsErr('UnauthorizedOperation', 403));
    const pf = createEc2Provider(cfg(prefix), { ec2: f.client, amiNameFilter: DL_NAME });
    const err = (await pf.launch({ launchId: `${prefix}-2`, resourceClass: 'gpu', count: 1, spot: 'no' }).catch((e: unknown) => e)) as LaunchError;
    expect(err.kind).toBe('fatal');
    expect(err.message).toMatch(/UnauthorizedOperation/);
    expect(f.seen).toHaveLength(1);
  });
});

describe('provisioner decisions against the emulator', () => {
  it('an orphan tagged instance (no launch record, no heartbeat) is terminated; two provisioners never both act', async () => {
    const prefix = uniquePrefix('orph');
    const config = cfg(prefix);
    const redis = connectRedis(config.redisUrl);
    const bull = connectRedis(config.redisUrl, { forBullWorker: true });
    const queues = createQueues(bull, prefix);
    try {
      const img = (await aws.ec2.send(new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'name', Values: [DL_NAME] }] }))).Images![0].ImageId!;
      const orphan = await aws.ec2.send(new RunInstancesCommand({
        ImageId: img, InstanceType: 'p3.2xlarge', MinCount: 1, MaxCount: 1,
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: TAG.cluster, Value: prefix }, { Key: TAG.launch, Value: 'someone-else-1' }] }],
      }));
      const orphanId = orphan.Instances![0].InstanceId!;
      const a = createProvisioner({ config, redis, queues, provider: createEc2Provider(config, { amiNameFilter: DL_NAME }), logger: quietLogger(), id: 'prov-a' });
      const b = createProvisioner({ config, redis, queues, provider: createEc2Provider(config, { amiNameFilter: DL_NAME }), logger: quietLogger(), id: 'prov-b' });
      await addUnits(queues, 2, 'gpu');
      const [ra, rb] = await Promise.all([a.reconcileOnce(), b.reconcileOnce()]);
      expect([ra.leader, rb.leader].filter(Boolean)).toHaveLength(1);
      const acted = ra.leader ? ra : rb;
      expect(acted.actions).toContainEqual({ kind: 'terminate', id: orphanId, resourceClass: 'any', reason: 'orphan', force: false });
      expect(acted.terminated).toEqual([orphanId]);
      expect(acted.launched).toHaveLength(2);
      const after = await instancesOf(prefix);
      expect(after.find((i) => i.InstanceId === orphanId)?.State?.Name).toMatch(/terminated|shutting-down/);
      expect(after.filter((i) => i.State?.Name === 'running' || i.State?.Name === 'pending')).toHaveLength(2);
      // the follower keeps out even on its own next pass
      const follower = ra.leader ? b : a;
      expect((await follower.reconcileOnce()).leader).toBe(false);
      await a.stop();
      await b.stop();
      await aws.ec2.send(new TerminateInstancesCommand({ InstanceIds: after.map((i) => i.InstanceId!) }));
    } finally {
      await queues.close();
      redis.disconnect();
      bull.disconnect();
      await cleanupPrefix(prefix);
    }
  });
});
