/**
 * Provisioner reaction times on the emulated cloud (moto + the cloud simulator +
 * fake workers), the same set-up as test/integration/provisioner-cloud.test.ts:
 *   - queueing -> first RunInstances call (scale-up latency)
 *   - last unit's end -> last TerminateInstances call (scale-down latency)
 * Usage: npx tsx bench/provisioner-latency.ts [rounds]   (REDIS_URL / AWS_ENDPOINT_URL honoured)
 */
import path from 'node:path';
import { DescribeInstancesCommand, EC2Client, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { loadConfig } from '../services/core/config.ts';
import { connectRedis } from '../services/platform/redis.ts';
import { createQueues } from '../services/platform/queue.ts';
import { createProvisioner } from '../services/provisioner/provisioner.ts';
import { createEc2Provider } from '../services/provisioner/providers/ec2.ts';
import { REPO_ROOT } from '../services/provisioner/worker-process.ts';
import { addUnits, quietLogger, recordCalls, startCloudSim, waitFor } from '../test/support/cloud-sim.ts';
import { startAwsEmulator, EMULATOR_CREDENTIALS } from '../test/support/moto.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../test/support/redis.ts';

const rounds = Number(process.argv[2] ?? 3);
const settings = [
  { idleS: 2, periodMs: 300, max: 3, units: 20, unitMs: 150 },
  { idleS: 5, periodMs: 2_000, max: 3, units: 20, unitMs: 150 },
];

const aws = await startAwsEmulator();
const ec2 = new EC2Client({ endpoint: aws.endpoint, region: 'us-east-1', credentials: EMULATOR_CREDENTIALS });
const rows: string[] = [];
try {
  for (const s of settings) {
    for (let r = 0; r < rounds; r++) {
      const prefix = uniquePrefix('bench');
      const config = loadConfig({
        REDIS_URL: TEST_REDIS_URL, NIGHTSHIFT_PREFIX: prefix, NIGHTSHIFT_COMPUTE: 'ec2', AWS_ENDPOINT_URL: aws.endpoint, AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', NIGHTSHIFT_MAX_INSTANCES: String(s.max),
        NIGHTSHIFT_IDLE_TIMEOUT_S: String(s.idleS), NIGHTSHIFT_RECONCILE_MS: String(s.periodMs),
      });
      const redis = connectRedis(config.redisUrl);
      const bull = connectRedis(config.redisUrl, { forBullWorker: true });
      const queues = createQueues(bull, prefix);
      const { provider, calls } = recordCalls(createEc2Provider(config, { ec2, amiNameFilter: '*Deep Learning*' }));
      const sim = await startCloudSim({ ec2, cluster: config.ec2.cluster, config, entry: path.join(REPO_ROOT, 'test/support/fake-worker.ts'), pollMs: 100, env: { NIGHTSHIFT_FAKE_UNIT_MS: String(s.unitMs) } });
      const prov = createProvisioner({ config, redis, queues, provider, logger: quietLogger() });
      const live = async () => {
        const o = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:nightshift:cluster', Values: [prefix] }] }));
        return (o.Reservations ?? []).flatMap((x) => x.Instances ?? []);
      };
      try {
        await prov.reconcileOnce();
        prov.start();
        // queue at a random point of the reconcile period
        await new Promise((res) => setTimeout(res, s.periodMs + Math.random() * s.periodMs));
        const queuedAt = Date.now();
        await addUnits(queues, s.units, 'gpu');
        await waitFor(async () => (await redis.llen(`${prefix}:test:done`)) === s.units, 120_000, 'units done');
        const lastEnd = Math.max(...(await queues.units.getJobs(['completed'])).map((j) => j.finishedOn ?? 0));
        await waitFor(async () => (await live()).every((i) => i.State?.Name === 'terminated' || i.State?.Name === 'shutting-down'), 60_000, 'all terminated');
        const up = calls.find((c) => c.op === 'launch')!.at - queuedAt;
        const down = Math.max(...calls.filter((c) => c.op === 'terminate').map((c) => c.at)) - lastEnd;
        const n = new Set(calls.filter((c) => c.op === 'launch').flatMap((c) => c.ids)).size;
        const row = `| ${s.periodMs} | ${s.idleS} | ${r + 1} | ${up} | ${down} | ${(down - s.idleS * 1000)} | ${n} |`;
        rows.push(row);
        console.log(row);
      } finally {
        await prov.stop();
        await sim.stop();
        const ids = (await live()).map((i) => i.InstanceId!);
        if (ids.length) await ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }));
        await queues.close();
        redis.disconnect();
        bull.disconnect();
        await cleanupPrefix(prefix);
      }
    }
  }
} finally {
  ec2.destroy();
  await aws.stop();
}
console.log(['| reconcile ms | idle s | round | queue -> first launch call (ms) | last unit end -> last terminate call (ms) | beyond idle timeout (ms) | instances |', '|---|---|---|---|---|---|---|', ...rows].join('\n'));
