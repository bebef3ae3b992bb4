/**
 * Enqueueing wakes the provisioner: with a reconcile period of 30 s, queued units
 * still get their first launch call within seconds (the periodic pass is only the
 * fallback). Real provisioner and EC2 provider against moto, real Redis and BullMQ;
 * units are queued through the product's enqueue path (platform/queue.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { UnitRef } from '../../services/core/units.ts';
import { enqueueJob } from '../../services/platform/queue.ts';
import { createProvisioner } from '../../services/provisioner/provisioner.ts';
import { quietLogger, startCloudRig, waitFor } from '../../support/cloud-sim.ts';
import { useAwsEmulator } from '../support/moto.ts';

const PERIOD_MS = 30_000;
const aws = useAwsEmulator();
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  cleanups.length = 0;
});

const units = (n: number): UnitRef[] => Array.from({ length: n }, (_, i) => ({ kind: 'eval' as const, run: 0, repeat: 0, fold: i, key: `r0-p0-f${i}` }));

describe('provisioner wake-up', () => {
  it('launches for units queued long before its next periodic pass', { timeout: 90_000 }, async () => {
    const rig = await startCloudRig({
      endpoint: aws.endpoint, ec2: aws.ec2, label: 'wake', unitMs: 100,
      env: { NIGHTSHIFT_EC2_INSTANCE_TYPES: 'g4dn.xlarge', NIGHTSHIFT_MAX_INSTANCES: '1', NIGHTSHIFT_IDLE_TIMEOUT_S: '2', NIGHTSHIFT_RECONCILE_MS: String(PERIOD_MS) },
    });
    let passes = 0;
    const prov = createProvisioner({ config: rig.config, redis: rig.redis, queues: rig.queues, provider: rig.provider, logger: quietLogger(), onPass: () => passes++ });
    cleanups.push(async () => {
      await prov.stop();
      await rig.close();
    });
    prov.start();
    // the first pass (nothing to do) is over: the next periodic one is 30 s away
    await waitFor(async () => passes >= 1, 10_000, 'first pass');
    await new Promise((r) => setTimeout(r, 1_000));
    expect(passes).toBe(1);
    expect(rig.calls.filter((c) => c.op === 'launch')).toEqual([]);

    const queuedAt = Date.now();
    await enqueueJob(rig.queues, { jobId: 'job_wake', tenant: 't', units: units(2), resourceClass: 'gpu', priority: 50, maxAttempts: 1 });
    await waitFor(async () => rig.calls.some((c) => c.op === 'launch'), 15_000, 'a launch call after queueing');
    const launchedAfter = rig.calls.find((c) => c.op === 'launch')!.at - queuedAt;
    // far inside the 30 s period: the enqueue woke the loop (the bench measures the latency itself)
    expect(launchedAfter).toBeLessThan(15_000);
    await waitFor(async () => passes >= 2, 10_000, 'the woken pass ends');
  });
});
