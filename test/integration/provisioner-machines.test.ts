/**
 * The machine image, bootstrap variant and slots per instance family reach the cloud:
 * queued units of a p3 class, a g5 class and a CPU class go through the provisioner
 * and the EC2 provider to the emulator (real SDK), and the launched instances carry
 * the image of their family and the user data of their OS and accelerator.
 */
import { DescribeImagesCommand, DescribeInstanceAttributeCommand, type Instance } from '@aws-sdk/client-ec2';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../services/core/config.ts';
import { connectRedis, type Redis } from '../../services/platform/redis.ts';
import { createQueues, type Queues } from '../../services/platform/queue.ts';
import { createProvisioner } from '../../services/provisioner/provisioner.ts';
import { createEc2Provider } from '../../services/provisioner/providers/ec2.ts';
import { TAG } from '../../services/provisioner/providers/ec2-tags.ts';
import { addUnits, clusterInstances, quietLogger, terminateCluster } from '../../support/cloud-sim.ts';
import { EMULATOR_CREDENTIALS, TEST_WORKER_IMAGE, useAwsEmulator } from '../support/moto.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../../support/redis.ts';

const aws = useAwsEmulator();
const CPU_IMAGE = '123456789012.dkr.ecr.us-east-1.amazonaws.com/nightshift-worker-cpu:test';

describe('machine image and bootstrap per instance family (emulator)', () => {
  const prefix = uniquePrefix('mach');
  let config: Config;
  let redis: Redis;
  let bull: Redis;
  let queues: Queues;
  let ssm: SSMClient;
  const ami: Record<'proprietary' | 'oss' | 'cpu', string> = { proprietary: '', oss: '', cpu: '' };
  let byClass: Map<string, Instance[]>;

  async function userDataOf(i: Instance): Promise<string> {
    const ud = await aws.ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: i.InstanceId!, Attribute: 'userData' }));
    return Buffer.from(ud.UserData?.Value ?? '', 'base64').toString();
  }

  beforeAll(async () => {
    config = loadConfig({
      REDIS_URL: TEST_REDIS_URL, NIGHTSHIFT_PREFIX: prefix, NIGHTSHIFT_COMPUTE: 'ec2', AWS_ENDPOINT_URL: aws.endpoint, AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', NIGHTSHIFT_WORKER_IMAGE: TEST_WORKER_IMAGE, NIGHTSHIFT_CPU_WORKER_IMAGE: CPU_IMAGE,
      NIGHTSHIFT_MAX_INSTANCES: '10', NIGHTSHIFT_IDLE_TIMEOUT_S: '60',
    });
    // three distinct images stand for the three public parameters (emulators have no /aws/service/deeplearning ones)
    const images = (await aws.ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }))).Images ?? [];
    const ids = [...new Set(images.map((i) => i.ImageId!))].slice(0, 3);
    expect(ids).toHaveLength(3);
    [ami.proprietary, ami.oss, ami.cpu] = ids;
    ssm = new SSMClient({ endpoint: aws.endpoint, region: 'us-east-1', credentials: EMULATOR_CREDENTIALS });
    for (const [k, v] of Object.entries(ami)) await ssm.send(new PutParameterCommand({ Name: `/${prefix}/${k}`, Value: v, Type: 'String' }));

    redis = connectRedis(config.redisUrl);
    bull = connectRedis(config.redisUrl, { forBullWorker: true });
    queues = createQueues(bull, prefix);
    const provider = createEc2Provider(config, {
      ec2: aws.ec2, ssm,
      amiParameters: { 'dlami-proprietary-al2': `/${prefix}/proprietary`, 'dlami-oss-ubuntu2204': `/${prefix}/oss`, 'al2023-cpu': `/${prefix}/cpu` },
    });
    const provisioner = createProvisioner({ config, redis, queues, provider, logger: quietLogger() });
    try {
      await addUnits(queues, 1, 'gpu/types=p3.2xlarge', `${prefix}-p3`);
      await addUnits(queues, 1, 'gpu/types=g5.xlarge', `${prefix}-g5`);
      await addUnits(queues, 8, 'cpu', `${prefix}-cpu`);
      const r = await provisioner.reconcileOnce();
      expect(r.errors).toEqual([]);
    } finally {
      await provisioner.stop();
    }
    byClass = new Map();
    for (const i of await clusterInstances(aws.ec2, config.ec2.cluster)) {
      const cls = i.Tags?.find((t) => t.Key === TAG.resourceClass)?.Value ?? '?';
      byClass.set(cls, [...(byClass.get(cls) ?? []), i]);
    }
  });

  afterAll(async () => {
    await terminateCluster(aws.ec2, config.ec2.cluster);
    await queues.close();
    redis.disconnect();
    bull.disconnect();
    ssm.destroy();
    await cleanupPrefix(prefix);
  });

  it('a p3 job launches the proprietary-driver image with the Amazon Linux bootstrap and --gpus all', async () => {
    const [i] = byClass.get('gpu/types=p3.2xlarge') ?? [];
    expect(i).toMatchObject({ InstanceType: 'p3.2xlarge', ImageId: ami.proprietary });
    const ud = await userDataOf(i);
    expect(ud).toContain("BOOTSTRAP_OS='amazon-linux'");
    expect(ud).toContain("GPU_FLAGS='--gpus all'");
    expect(ud).toContain("ACCELERATOR='gpu'");
    expect(ud).toContain(`WORKER_IMAGE='${TEST_WORKER_IMAGE}'`);
  });

  it('a g5 job launches the OSS-driver image with the Ubuntu bootstrap and --gpus all', async () => {
    const [i] = byClass.get('gpu/types=g5.xlarge') ?? [];
    expect(i).toMatchObject({ InstanceType: 'g5.xlarge', ImageId: ami.oss });
    const ud = await userDataOf(i);
    expect(ud).toContain("BOOTSTRAP_OS='ubuntu'");
    expect(ud).toContain("GPU_FLAGS='--gpus all'");
  });

  it('a CPU job launches a CPU type with several slots, the CPU image and no GPU flags', async () => {
    const cpu = byClass.get('cpu') ?? [];
    // 8 units, c7i.2xlarge has 4 cores: two instances, not eight
    expect(cpu.map((i) => i.InstanceType)).toEqual(['c7i.2xlarge', 'c7i.2xlarge']);
    // CPU classes prefer spot by default; GPU classes follow NIGHTSHIFT_EC2_SPOT (unset: on-demand)
    expect(cpu.map((i) => i.InstanceLifecycle)).toEqual(['spot', 'spot']);
    expect((byClass.get('gpu/types=g5.xlarge') ?? [])[0]?.InstanceLifecycle).toBeUndefined();
    expect(cpu[0].ImageId).toBe(ami.cpu);
    const ud = await userDataOf(cpu[0]);
    expect(ud).toContain("WORKER_SLOTS='4'");
    expect(ud).toContain(`WORKER_IMAGE='${CPU_IMAGE}'`);
    expect(ud).toContain("GPU_FLAGS=''");
    expect(ud).not.toContain('--gpus');
  });

  it('every instance gets its id and accelerator in the worker environment and powers off after repeated failed starts', async () => {
    const ud = await userDataOf((byClass.get('gpu/types=g5.xlarge') ?? [])[0]);
    expect(ud).toContain('NIGHTSHIFT_INSTANCE_ID=$INSTANCE_ID');
    expect(ud).toContain('NIGHTSHIFT_ACCELERATOR=$ACCELERATOR');
    expect(ud).toContain('StartLimitAction=poweroff');
    expect(ud).not.toContain('OnFailure=poweroff.target');
    expect(ud).toContain('--log-driver awslogs');
  });
});
