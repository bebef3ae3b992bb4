/**
 * The scale rig: real Redis, BullMQ, the embedded S3 server, the API (in process),
 * the real provisioner and a simulated fleet (support/sim-fleet.ts: instances as
 * real agents + the real unit processor with a stand-in trainer, many per host
 * process). Work goes in as one batch of k-fold jobs (POST /v1/batches); `verify`
 * says, per unit, how often a trainer ran it and whether its result was recorded once.
 */
import { createProvisioner, type Provisioner } from '../services/provisioner/provisioner.ts';
import type { JobStatus } from '../services/core/job.ts';
import { createTestStack, type TestStack } from './app.ts';
import { quietLogger } from './cloud-sim.ts';
import { startSimFleet, type SimFleet } from './sim-fleet.ts';

export interface ScaleRig {
  stack: TestStack;
  fleet: SimFleet;
  provisioner: Provisioner;
  /** one batch of `jobs` k-fold jobs of `folds` units each */
  submit(jobs: number, folds: number): Promise<{ batchId: string; jobIds: string[] }>;
  /** jobs per status */
  statuses(jobIds: string[]): Promise<Record<string, number>>;
  verify(jobIds: string[]): Promise<ScaleCheck>;
  close(): Promise<void>;
}

export interface ScaleCheck {
  units: number;
  /** trainer runs of these jobs' units recorded by the stand-in trainers */
  runs: number;
  /** units run more than once */
  ranTwice: string[];
  /** unit results recorded in the jobs' records (unitsDone and the unit results hash agree) */
  recorded: number;
  /** jobs whose recorded results or unitsDone differ from their unit count */
  mismatched: string[];
}

export async function startScaleRig(o: { label: string; instances: number; hosts: number; unitMs: number; reconcileMs?: number; idleTimeoutS?: number; startProvisioner?: boolean }): Promise<ScaleRig> {
  const stack = await createTestStack({
    label: o.label,
    env: {
      NIGHTSHIFT_MAX_QUEUED_UNITS: '1000000', NIGHTSHIFT_RATE_LIMIT_PER_MINUTE: '0', NIGHTSHIFT_COMPUTE: 'local',
      NIGHTSHIFT_MAX_INSTANCES: String(o.instances), NIGHTSHIFT_IDLE_TIMEOUT_S: String(o.idleTimeoutS ?? 3),
      NIGHTSHIFT_RECONCILE_MS: String(o.reconcileMs ?? 500), NIGHTSHIFT_BOOT_TIMEOUT_S: '60',
    },
  });
  let fleet: SimFleet | undefined;
  let provisioner: Provisioner | undefined;
  try {
    fleet = await startSimFleet({ config: stack.config, hosts: o.hosts, unitMs: o.unitMs });
    provisioner = createProvisioner({ config: stack.config, redis: stack.redis, queues: stack.queues, provider: fleet.provider, logger: quietLogger() });
    if (o.startProvisioner !== false) provisioner.start();
  } catch (e) {
    await fleet?.close();
    await stack.close();
    throw e;
  }
  const { redis, store } = stack;
  return {
    stack,
    fleet,
    provisioner,
    async submit(jobs, folds) {
      const spec = {
        name: `${o.label}-sweep`,
        base: {
          dataset: { uri: 'builtin:make_regression?n_samples=100&n_features=4&random_state=1' },
          model: { layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 1 }] },
          training: { loss: 'mse', epochs: 1, optimizer: { name: 'adam' } },
          evaluation: { method: 'kfold', folds },
        },
        jobs: Array.from({ length: jobs }, (_, i) => ({ seed: i + 1 })),
      };
      const res = await stack.app.inject({ method: 'POST', url: '/v1/batches', headers: stack.auth('acme'), payload: spec });
      if (res.statusCode !== 201) throw new Error(`POST /v1/batches answered ${res.statusCode}: ${res.body}`);
      const body = res.json() as { id: string; jobIds: string[] };
      return { batchId: body.id, jobIds: body.jobIds };
    },
    async statuses(jobIds) {
      const out: Record<string, number> = {};
      for (let i = 0; i < jobIds.length; i += 500) {
        const pipe = redis.pipeline();
        for (const id of jobIds.slice(i, i + 500)) pipe.hget(store.keys.job(id), 'status');
        for (const [, v] of (await pipe.exec()) ?? []) out[String(v as JobStatus)] = (out[String(v)] ?? 0) + 1;
      }
      return out;
    },
    async verify(jobIds) {
      const mine = new Set(jobIds);
      const runs = (await redis.lrange(`${stack.prefix}:sim:runs`, 0, -1)).map((r) => r.split(' ')[0]).filter((u) => mine.has(u.slice(0, u.indexOf('.'))));
      const seen = new Map<string, number>();
      for (const unit of runs) seen.set(unit, (seen.get(unit) ?? 0) + 1);
      let units = 0;
      let recorded = 0;
      const mismatched: string[] = [];
      for (let i = 0; i < jobIds.length; i += 500) {
        const ids = jobIds.slice(i, i + 500);
        const pipe = redis.pipeline();
        for (const id of ids) pipe.hmget(store.keys.job(id), 'unitsTotal', 'unitsDone').hlen(store.keys.units(id));
        const res = (await pipe.exec()) ?? [];
        ids.forEach((id, j) => {
          const [total, done] = (res[2 * j]?.[1] as Array<string | null>).map(Number);
          const hlen = Number(res[2 * j + 1]?.[1] ?? 0);
          units += total;
          recorded += hlen;
          if (hlen !== total || done !== total) mismatched.push(`${id}: ${hlen} results, unitsDone ${done}, ${total} units`);
        });
      }
      return { units, runs: runs.length, ranTwice: [...seen].filter(([, n]) => n > 1).map(([u]) => u), recorded, mismatched };
    },
    async close() {
      await provisioner!.stop();
      await fleet!.close();
      await stack.close();
    },
  };
}
