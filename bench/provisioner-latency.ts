/**
 * Provisioner reaction times on the emulated cloud (moto + the cloud simulator +
 * fake workers), the rig test/integration/provisioner-cloud.test.ts uses (startCloudRig):
 *   - queueing -> first RunInstances call (scale-up latency; units are queued through the
 *     product's enqueue path, which wakes the provisioner: target <= 200 ms with the
 *     shipped 2 s period)
 *   - last unit's end -> last TerminateInstances call (scale-down latency)
 * Usage: npx tsx bench/provisioner-latency.ts [rounds]   (REDIS_URL / AWS_ENDPOINT_URL honoured)
 */
import { createProvisioner } from '../services/provisioner/provisioner.ts';
import { enqueueJob } from '../services/platform/queue.ts';
import { quietLogger, startCloudRig, waitFor } from '../support/cloud-sim.ts';
import { machine, target } from './support/measure.ts';
import { emulatorEc2, startAwsEmulator } from '../support/moto.ts';

const rounds = Number(process.argv[2] ?? 3);
const settings = [
  { idleS: 2, periodMs: 300, max: 3, units: 20, unitMs: 150 },
  { idleS: 5, periodMs: 2_000, max: 3, units: 20, unitMs: 150 },
];

const aws = await startAwsEmulator();
const ec2 = emulatorEc2(aws.endpoint);
const rows: string[] = [];
const ups: Array<{ periodMs: number; up: number }> = [];
console.log(`# provisioner-latency — ${new Date().toISOString()}\n${machine()}`);
try {
  for (const s of settings) {
    for (let r = 0; r < rounds; r++) {
      const rig = await startCloudRig({
        endpoint: aws.endpoint, ec2, label: 'bench', unitMs: s.unitMs,
        env: { NIGHTSHIFT_MAX_INSTANCES: String(s.max), NIGHTSHIFT_IDLE_TIMEOUT_S: String(s.idleS), NIGHTSHIFT_RECONCILE_MS: String(s.periodMs) },
      });
      const { calls, queues } = rig;
      const prov = createProvisioner({ config: rig.config, redis: rig.redis, queues, provider: rig.provider, logger: quietLogger() });
      try {
        await prov.reconcileOnce();
        prov.start();
        // queue at a random point of the reconcile period
        await new Promise((res) => setTimeout(res, s.periodMs + Math.random() * s.periodMs));
        const queuedAt = Date.now();
        await enqueueJob(queues, {
          jobId: `job_bench${r}`, tenant: 't', resourceClass: 'gpu', priority: 50, maxAttempts: 3,
          units: Array.from({ length: s.units }, (_, i) => ({ kind: 'eval' as const, run: 0, repeat: 0, fold: i, key: `r0-p0-f${i}` })),
        });
        await waitFor(async () => (await rig.unitsDone()) === s.units, 120_000, 'units done');
        const lastEnd = Math.max(...(await queues.units.getJobs(['completed'])).map((j) => j.finishedOn ?? 0));
        await waitFor(rig.allGone, 60_000, 'all terminated');
        const up = calls.find((c) => c.op === 'launch')!.at - queuedAt;
        const down = Math.max(...calls.filter((c) => c.op === 'terminate').map((c) => c.at)) - lastEnd;
        const n = new Set(calls.filter((c) => c.op === 'launch').flatMap((c) => c.ids)).size;
        ups.push({ periodMs: s.periodMs, up });
        const row = `| ${s.periodMs} | ${s.idleS} | ${r + 1} | ${up} | ${down} | ${(down - s.idleS * 1000)} | ${n} |`;
        rows.push(row);
        console.log(row);
      } finally {
        await prov.stop();
        await rig.close();
      }
    }
  }
} finally {
  ec2.destroy();
  await aws.stop();
}
console.log(['| reconcile ms | idle s | round | queue -> first launch call (ms) | last unit end -> last terminate call (ms) | beyond idle timeout (ms) | instances |', '|---|---|---|---|---|---|---|', ...rows].join('\n'));
const shipped = ups.filter((u) => u.periodMs === 2_000).map((u) => u.up);
target('queue -> first launch call, shipped 2 s period', shipped.length > 0 && Math.max(...shipped) <= 200, `${shipped.join(', ')} ms (target <= 200 ms; before enqueueing woke the provisioner: 755-1451 ms)`);
