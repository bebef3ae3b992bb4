/**
 * Interruptions with the real trainer on the emulated cloud: the API and the
 * provisioner over moto (EC2 and S3 through the real SDK), the cloud simulator
 * booting every running instance as a real worker process (agent + BullMQ +
 * trainer child) with its own metadata endpoint.
 *  - a spot notice: the running units checkpoint, go back to the queue without
 *    spending an attempt, and finish on other instances from their checkpoints;
 *  - a worker killed hard mid-unit: its unit resumes elsewhere from its checkpoint,
 *    and the dead instance is terminated.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { unitJobId } from '../../services/core/catalog.ts';
import { createProvisioner } from '../../services/provisioner/provisioner.ts';
import { createEc2Provider } from '../../services/provisioner/providers/ec2.ts';
import { REPO_ROOT } from '../../services/provisioner/worker-process.ts';
import { createTestStack, type TestStack } from '../../support/app.ts';
import { clusterInstances, isLive, quietLogger, startCloudSim, terminateCluster, waitFor, type CloudSim } from '../../support/cloud-sim.ts';
import { EMULATOR_CREDENTIALS, TEST_WORKER_IMAGE, useAwsEmulator } from '../support/moto.ts';

const WORKER = path.join(REPO_ROOT, 'workers/trainer/main.ts');
const aws = useAwsEmulator();
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  cleanups.length = 0;
});

interface Rig {
  stack: TestStack;
  sim: CloudSim;
  live(): Promise<string[]>;
  submit(spec: object): Promise<string>;
  job(id: string): Promise<any>;
}

async function rig(label: string): Promise<Rig> {
  const stack = await createTestStack({
    label,
    s3: { endpoint: aws.endpoint, ...EMULATOR_CREDENTIALS, bucket: `ns-${label}-${Date.now().toString(36)}` },
    env: {
      NIGHTSHIFT_COMPUTE: 'ec2', AWS_REGION: 'us-east-1', NIGHTSHIFT_EC2_INSTANCE_TYPES: 'p3.2xlarge', NIGHTSHIFT_WORKER_IMAGE: TEST_WORKER_IMAGE,
      NIGHTSHIFT_MAX_INSTANCES: '2', NIGHTSHIFT_IDLE_TIMEOUT_S: '3', NIGHTSHIFT_RECONCILE_MS: '300', NIGHTSHIFT_BOOT_TIMEOUT_S: '60',
      NIGHTSHIFT_EC2_AMI_ID: 'ami-12c6146b',
    },
  });
  const config = stack.config;
  const ec2 = aws.ec2;
  const provider = createEc2Provider(config, { ec2 });
  const provisioner = createProvisioner({ config, redis: stack.redis, queues: stack.queues, provider, logger: quietLogger() });
  const sim = await startCloudSim({ ec2, cluster: config.ec2.cluster, config, entry: WORKER, pollMs: 150, env: { NIGHTSHIFT_UNIT_LOCK_MS: '3000', LOG_LEVEL: 'warn' } });
  await provisioner.start();
  const live = async () => (await clusterInstances(ec2, config.ec2.cluster)).filter(isLive).map((i) => i.InstanceId!);
  cleanups.push(async () => {
    await provisioner.stop();
    await sim.stop();
    await terminateCluster(ec2, config.ec2.cluster);
    await stack.close();
  });
  const headers = { ...stack.auth('acme'), 'content-type': 'application/json' };
  return {
    stack,
    sim,
    live,
    async submit(spec) {
      const r = await stack.app.inject({ method: 'POST', url: '/v1/jobs', headers, payload: spec });
      expect(r.statusCode, r.body).toBe(202);
      return r.json().id as string;
    },
    async job(id) {
      return (await stack.app.inject({ method: 'GET', url: `/v1/jobs/${id}`, headers: stack.auth('acme') })).json();
    },
  };
}

/** Two folds that each train for several seconds with the fused engine (no GPU in the emulated cloud), checkpointing every 5 epochs. */
const LONG_JOB = {
  name: 'long-folds',
  dataset: { uri: 'builtin:make_classification?n_samples=8000&n_features=20&n_informative=10&random_state=5' },
  model: { layers: [{ type: 'dense', units: 64, activation: 'relu' }, { type: 'dense', units: 1, activation: 'sigmoid' }] },
  training: { loss: 'binaryCrossentropy', metrics: ['accuracy'], epochs: 250, checkpointEvery: 5, engine: 'fused' },
  evaluation: { method: 'kfold', folds: 2, seed: 3 },
  // one unit per instance (a GPU class): the tests interrupt the instance of one unit
  resources: { accelerator: 'gpu' },
  maxAttempts: 2,
};

/**
 * Both folds are running, on two instances, each with a checkpoint written: whichever
 * instance a test interrupts holds a unit that can resume. (Epoch progress alone is
 * not enough on a loaded machine: one worker may not have started its unit yet.)
 */
async function bothUnitsCheckpointed(r: Rig, id: string): Promise<void> {
  await waitFor(async () => {
    const keys = await r.stack.artifacts.list(`checkpoints/${id}/`);
    return new Set(keys.map((k) => k.split('/')[2])).size === 2;
  }, 120_000, 'both units running with a checkpoint');
}

async function summaryOf(r: Rig, id: string): Promise<any> {
  const res = await r.stack.app.inject({ method: 'GET', url: `/v1/jobs/${id}/artifacts/summary.json`, headers: r.stack.auth('acme') });
  return res.json();
}

describe('interruptions with the real trainer', () => {
  it('spot notice: units checkpoint, go back without spending an attempt, and finish elsewhere from their checkpoints', async () => {
    const r = await rig('spot');
    const id = await r.submit(LONG_JOB);
    await bothUnitsCheckpointed(r, id);
    const first = r.sim.instances().filter((i) => i.worker && i.endedAt === undefined).map((i) => i.id);
    expect(first.length).toBeGreaterThan(0);
    for (const i of first) r.sim.setSpotNotice(i, { action: 'terminate', time: new Date(Date.now() + 120_000).toISOString() });

    // the interrupted instances shut themselves down
    await waitFor(async () => {
      const live = await r.live();
      return first.every((i) => !live.includes(i));
    }, 60_000, 'interrupted instances terminated');
    const done = await waitFor(async () => (await r.job(id)).status === 'completed', 150_000, 'job completed').then(() => r.job(id));
    expect(done.result.scores).toHaveLength(2);
    const summary = await summaryOf(r, id);
    const resumed = summary.units.filter((u: any) => u.resumedFromEpoch > 0);
    expect(resumed.length).toBeGreaterThan(0);
    for (const u of resumed) {
      expect(first).not.toContain(u.instanceId);
      expect(u.epochs).toBe(250);
      const bull = await r.stack.queues.units.getJob(unitJobId(id, u.key));
      // one attempt made: the one that completed; handing back spent none
      expect(bull?.attemptsMade).toBeLessThanOrEqual(1);
    }
    const hist = (await r.stack.app.inject({ method: 'GET', url: `/v1/jobs/${id}/history`, headers: r.stack.auth('acme') })).json();
    for (const u of hist.units) expect(u.epochs.map((e: any) => e.epoch)).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    await waitFor(async () => (await r.live()).length === 0, 30_000, 'every instance terminated after the queue drained');
  }, 360_000);

  it('a worker killed hard mid-unit: the unit resumes elsewhere from its checkpoint and the dead instance is terminated', async () => {
    const r = await rig('kill');
    const id = await r.submit(LONG_JOB);
    await bothUnitsCheckpointed(r, id);
    const victim = r.sim.instances().find((i) => i.worker && i.endedAt === undefined)!;
    victim.worker!.child.kill('SIGKILL');

    await waitFor(async () => (await r.job(id)).status === 'completed', 150_000, 'job completed');
    const summary = await summaryOf(r, id);
    const resumed = summary.units.filter((u: any) => u.resumedFromEpoch > 0);
    expect(resumed.length).toBe(1);
    expect(resumed[0].instanceId).not.toBe(victim.id);
    expect(resumed[0].resumedFromEpoch).toBeGreaterThanOrEqual(5);
    // the machine whose worker died stops billing: no heartbeat -> terminated
    await waitFor(async () => !(await r.live()).includes(victim.id), 60_000, 'dead instance terminated');
    await waitFor(async () => (await r.live()).length === 0, 30_000, 'every instance terminated after the queue drained');
  }, 360_000);
});
