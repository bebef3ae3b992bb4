/**
 * The scale rig: real Redis, BullMQ, the embedded S3 server, the API (in process),
 * the real provisioner and a simulated fleet (support/sim-fleet.ts: instances as
 * real agents + the real unit processor with a stand-in trainer, many per host
 * process). Work goes in as one batch of k-fold jobs (POST /v1/batches); `verify`
 * says, per unit, how often a trainer ran it and whether its result was recorded once.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createProvisioner, type Provisioner } from '../services/provisioner/provisioner.ts';
import { REPO_ROOT } from '../services/provisioner/worker-process.ts';
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
  /** unit results recorded over these jobs */
  unitsDone(jobIds: string[]): Promise<number>;
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

/** The embedded S3 server in a child process (support/embedded-s3-process.ts). */
async function s3Process(): Promise<{ proc: ChildProcess; dir: string; endpoint: string; accessKeyId: string; secretAccessKey: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'nightshift-s3-'));
  const proc = fork(path.join(REPO_ROOT, 'support/embedded-s3-process.ts'), [dir], { execArgv: ['--import', 'tsx'], cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const info = await new Promise<{ endpoint: string; accessKeyId: string; secretAccessKey: string }>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line));
    });
    proc.once('exit', (code) => reject(new Error(`the S3 server process exited with ${code}`)));
  });
  return { proc, dir, ...info };
}

export async function startScaleRig(o: { label: string; instances: number; hosts: number; unitMs: number; reconcileMs?: number; idleTimeoutS?: number; startProvisioner?: boolean; s3InChild?: boolean }): Promise<ScaleRig> {
  const s3 = o.s3InChild ? await s3Process() : undefined;
  const stack = await createTestStack({
    label: o.label,
    ...(s3 ? { s3: { endpoint: s3.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } } : {}),
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
    s3?.proc.kill('SIGTERM');
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
    async unitsDone(jobIds) {
      let n = 0;
      for (let i = 0; i < jobIds.length; i += 500) {
        const pipe = redis.pipeline();
        for (const id of jobIds.slice(i, i + 500)) pipe.hlen(store.keys.units(id));
        for (const [, v] of (await pipe.exec()) ?? []) n += Number(v ?? 0);
      }
      return n;
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
      if (s3) {
        s3.proc.kill('SIGTERM');
        rmSync(s3.dir, { recursive: true, force: true });
      }
    },
  };
}
