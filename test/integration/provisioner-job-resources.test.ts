/**
 * A job's own resources (spot policy, instance types, price cap) reach the cloud:
 * the provisioner launches per resource class, over the real SDK against moto.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../services/core/config.ts';
import { resolveJobSpec } from '../../services/core/job-defaults.ts';
import { resourceClassOf } from '../../services/core/resource-class.ts';
import { connectRedis } from '../../services/platform/redis.ts';
import { createQueues } from '../../services/platform/queue.ts';
import { createProvisioner } from '../../services/provisioner/provisioner.ts';
import { createEc2Provider } from '../../services/provisioner/providers/ec2.ts';
import { TAG } from '../../services/provisioner/providers/ec2-tags.ts';
import { addUnits, clusterInstances, quietLogger, terminateCluster } from '../../support/cloud-sim.ts';
import { TEST_WORKER_IMAGE, useAwsEmulator } from '../support/moto.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../../support/redis.ts';

const aws = useAwsEmulator();

const classOf = (resources: object, spot?: 'no' | 'prefer' | 'require') =>
  resourceClassOf(resolveJobSpec({ dataset: { uri: 'x' }, model: { layers: [{ type: 'dense', units: 1 }] }, training: { loss: 'mse', epochs: 1 }, resources } as never), spot);

describe("a job's resources", () => {
  it('spot "require" on the job\'s own instance type launches a spot g4dn.xlarge although the fleet default is on-demand p3', async () => {
    const prefix = uniquePrefix('res');
    const config = loadConfig({
      REDIS_URL: TEST_REDIS_URL, NIGHTSHIFT_PREFIX: prefix, NIGHTSHIFT_COMPUTE: 'ec2', AWS_ENDPOINT_URL: aws.endpoint, AWS_REGION: 'us-east-1', NIGHTSHIFT_WORKER_IMAGE: TEST_WORKER_IMAGE,
      AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', NIGHTSHIFT_EC2_INSTANCE_TYPES: 'p3.2xlarge', NIGHTSHIFT_EC2_AMI_ID: 'ami-12c6146b',
      NIGHTSHIFT_MAX_INSTANCES: '4', NIGHTSHIFT_IDLE_TIMEOUT_S: '60',
    });
    const redis = connectRedis(config.redisUrl);
    const bull = connectRedis(config.redisUrl, { forBullWorker: true });
    const queues = createQueues(bull, prefix);
    const provisioner = createProvisioner({ config, redis, queues, provider: createEc2Provider(config, { ec2: aws.ec2 }), logger: quietLogger() });
    try {
      const spotCls = classOf({ accelerator: 'gpu', instanceTypes: ['g4dn.xlarge'], maxHourlyUsd: 1 }, 'require');
      expect(spotCls).toBe('gpu/spot=require/types=g4dn.xlarge/max=1');
      await addUnits(queues, 1, spotCls, `${prefix}-a`);
      await addUnits(queues, 1, 'gpu', `${prefix}-b`);
      await provisioner.reconcileOnce();
      const all = await clusterInstances(aws.ec2, config.ec2.cluster);
      const byClass = new Map(all.map((i) => [i.Tags?.find((t) => t.Key === TAG.resourceClass)?.Value, i]));
      expect(byClass.get(spotCls)).toMatchObject({ InstanceType: 'g4dn.xlarge', InstanceLifecycle: 'spot' });
      expect(byClass.get('gpu')?.InstanceType).toBe('p3.2xlarge');
      expect(byClass.get('gpu')?.InstanceLifecycle).toBeUndefined();
      const views = await provisioner.instances();
      expect(views.find((v) => v.resourceClass === spotCls)).toMatchObject({ market: 'spot', type: 'g4dn.xlarge' });
    } finally {
      await provisioner.stop();
      await terminateCluster(aws.ec2, config.ec2.cluster);
      await queues.close();
      redis.disconnect();
      bull.disconnect();
      await cleanupPrefix(prefix);
    }
  });
});
