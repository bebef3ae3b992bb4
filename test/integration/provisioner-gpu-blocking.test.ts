/**
 * A worker that cannot use its GPU reports it (through the real agent, over Redis);
 * the provisioner terminates that instance and launches one replacement; when the
 * replacement fails too, the class is blocked with the reason and nothing more is
 * launched for it. EC2 over the real SDK against the emulator.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../services/core/config.ts';
import { connectRedis } from '../../services/platform/redis.ts';
import { createQueues } from '../../services/platform/queue.ts';
import { createProvisioner } from '../../services/provisioner/provisioner.ts';
import { createEc2Provider } from '../../services/provisioner/providers/ec2.ts';
import { createFleetStore } from '../../services/platform/fleet-store.ts';
import { startAgent } from '../../workers/trainer/agent/index.ts';
import { addUnits, clusterInstances, isLive, quietLogger, terminateCluster } from '../../support/cloud-sim.ts';
import { TEST_WORKER_IMAGE, useAwsEmulator } from '../support/moto.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../../support/redis.ts';

const aws = useAwsEmulator();

describe('GPU that cannot be used', () => {
  it('is replaced once, then its class is blocked with the reason', async () => {
    const prefix = uniquePrefix('gpublk');
    const config = loadConfig({
      REDIS_URL: TEST_REDIS_URL, NIGHTSHIFT_PREFIX: prefix, NIGHTSHIFT_COMPUTE: 'ec2', AWS_ENDPOINT_URL: aws.endpoint, AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', NIGHTSHIFT_WORKER_IMAGE: TEST_WORKER_IMAGE, NIGHTSHIFT_EC2_AMI_ID: 'ami-12c6146b',
      NIGHTSHIFT_EC2_INSTANCE_TYPES: 'p3.2xlarge', NIGHTSHIFT_MAX_INSTANCES: '4', NIGHTSHIFT_IDLE_TIMEOUT_S: '60',
    });
    const redis = connectRedis(config.redisUrl);
    const bull = connectRedis(config.redisUrl, { forBullWorker: true });
    const queues = createQueues(bull, prefix);
    const provisioner = createProvisioner({ config, redis, queues, provider: createEc2Provider(config, { ec2: aws.ec2 }), logger: quietLogger() });
    const live = async () => (await clusterInstances(aws.ec2, config.ec2.cluster)).filter(isLive).map((i) => i.InstanceId!);
    /** what the worker on that instance does when verification fails */
    const failOn = async (instanceId: string, reason: string) => {
      const agent = await startAgent({ redis, prefix, instanceId, workerId: 'w', idleTimeoutS: 60, imdsEndpoint: 'off', shutdownCommand: 'true' });
      await agent.reportGpuFailure(reason);
      await agent.stop();
    };
    try {
      await addUnits(queues, 1, 'gpu', `${prefix}-job`);
      await provisioner.reconcileOnce();
      const [first] = await live();
      expect(first).toBeTruthy();

      await failOn(first, 'tf_no_gpu: TensorFlow skipped the GPU: Cannot dlopen some GPU libraries');
      const r1 = await provisioner.reconcileOnce();
      expect(r1.terminated).toContain(first);
      expect(r1.blocked).toEqual([]);
      const [second] = await live();
      expect(second).toBeTruthy();
      expect(second).not.toBe(first);

      await failOn(second, 'tf_no_gpu: TensorFlow skipped the GPU: Cannot dlopen some GPU libraries');
      const r2 = await provisioner.reconcileOnce();
      expect(r2.terminated).toContain(second);
      expect(r2.blocked).toEqual([{ resourceClass: 'gpu', reason: expect.stringMatching(/^2 instances could not use their GPU; last: tf_no_gpu: TensorFlow skipped the GPU/) }]);
      expect(await live()).toEqual([]);

      // it stays blocked: the unit is still pending, and the next pass launches nothing
      const r3 = await provisioner.reconcileOnce();
      expect(r3.launched).toEqual([]);
      expect(r3.blocked.map((b) => b.resourceClass)).toEqual(['gpu']);
      expect((await createFleetStore(redis, prefix).blocked()).get('gpu')?.instances.sort()).toEqual([first, second].sort());
      // held like a blocked launch, so /healthz and the class's jobs (`waiting`) say why nothing runs
      expect((await createFleetStore(redis, prefix).holds()).get('gpu')).toMatchObject({ reason: 'gpu_unusable', blocked: true, message: expect.stringMatching(/^blocked: 2 instances could not use their GPU; last: tf_no_gpu/) });
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
