/**
 * Redis memory per finished job, and what retention gives back. Submits N jobs
 * (POST /v1/jobs, a 10-fold classification spec: 10 training units each) over the
 * real parts (Redis, BullMQ flows, the embedded S3 server), finishes every unit
 * with a result like the trainer's (no training: the bench is about state, not
 * work), lets the aggregator complete each job, and then measures:
 *   - MEMORY USAGE summed over every key that names a job (its record, unit results,
 *     index entries are counted separately) and the number of such keys,
 *   - the prefix's own keys and INFO used_memory before, after and after the retention sweep.
 * Usage: npx tsx bench/retention.ts [jobs=200]   (REDIS_URL honoured; Redis is shared, so
 * used_memory moves with other clients too: MEMORY USAGE is the exact figure)
 */
import { Worker } from 'bullmq';
import { QUEUES } from '../services/core/catalog.ts';
import type { UnitResult } from '../services/core/job.ts';
import { connectRedis } from '../services/platform/redis.ts';
import { createRetention } from '../services/platform/retention.ts';
import { createTestStack } from '../support/app.ts';
import { waitFor } from '../support/cloud-sim.ts';

const N = Number(process.argv[2] ?? 200);
const DAY = 86_400_000;
const spec = {
  name: 'bench-retention',
  dataset: { uri: 'builtin:make_classification?n_samples=300&n_features=6&random_state=1', target: [-1] },
  model: { layers: [{ type: 'dense', units: 50, activation: 'relu', kernelInitializer: 'heNormal' }, { type: 'dense', units: 1, activation: 'sigmoid' }] },
  training: { loss: 'binaryCrossentropy', optimizer: { name: 'adam' }, metrics: ['accuracy'], epochs: 300, batchSize: 32 },
  evaluation: { method: 'kfold', folds: 10, stratify: true, shuffle: true, seed: 1 },
};

const stack = await createTestStack({ label: 'bench-retention', env: { NIGHTSHIFT_MAX_QUEUED_UNITS: '1000000', NIGHTSHIFT_RATE_LIMIT_PER_MINUTE: '0' } });
const bull = connectRedis(stack.config.redisUrl, { forBullWorker: true });
const { store, redis, prefix } = stack;

async function prefixKeys(): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 2000);
    cursor = next;
    out.push(...found);
  } while (cursor !== '0');
  return out;
}
async function memoryOf(keys: string[]): Promise<number> {
  let total = 0;
  for (let i = 0; i < keys.length; i += 1000) {
    const pipe = redis.pipeline();
    for (const k of keys.slice(i, i + 1000)) pipe.call('MEMORY', 'USAGE', k, 'SAMPLES', '0');
    for (const [, v] of (await pipe.exec()) ?? []) total += Number(v ?? 0);
  }
  return total;
}
const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0);
/** bytes that a score/member pair of the shared indexes costs per job (5 sorted sets) */
async function indexBytes(): Promise<number> {
  return memoryOf([store.keys.allJobs, store.keys.tenantJobs('acme'), store.keys.byStatus('completed'), store.keys.byStatus('completed', 'acme')]);
}

const workers = [
  new Worker(QUEUES.units, async (job) => {
    const { jobId, unit } = job.data as { jobId: string; unit: { key: string; kind: 'eval'; run: number; repeat: number; fold: number } };
    await store.setStatus(jobId, 'running');
    for (let e = 1; e <= 3; e++) await store.progress(jobId, unit.key, e * 100, 300, { loss: 0.2, accuracy: 0.95 });
    const r: UnitResult = {
      key: unit.key, kind: 'eval', run: unit.run, repeat: unit.repeat, fold: unit.fold, score: 0.9 + Math.random() / 20,
      heldOut: { loss: 0.21, accuracy: 0.93 }, epochs: 300, trainRows: 270, testRows: 30, durationMs: 4_000,
      backend: 'tensorflow', engine: 'fused', worker: 'wrk_0123456789abcdef', instanceId: 'i-0123456789abcdef0', engineReason: 'dense layers only',
    };
    await store.unitDone(jobId, r);
    return r;
  }, { connection: bull, prefix, concurrency: 20 }),
  new Worker(QUEUES.jobs, async (job) => {
    const { jobId } = job.data as { jobId: string };
    const scores = (await store.unitResults(jobId)).map((u) => u.score!);
    const mean = scores.reduce((s, x) => s + x, 0) / scores.length;
    const base = `/v1/jobs/${jobId}/artifacts`;
    await store.setStatus(jobId, 'completed', {
      result: { metric: 'accuracy', scores, mean, std: 0.01, stderr: 0.003, ci95: [mean - 0.007, mean + 0.007] },
      artifacts: { history: `${base}/history.json`, summary: `${base}/summary.json`, spec: `${base}/spec.json` },
    });
    return { status: 'completed' };
  }, { connection: bull, prefix, concurrency: 8 }),
];
for (const w of workers) w.on('error', () => {});

try {
  const before = await usedMemory();
  const ids: string[] = [];
  for (let i = 0; i < N; i++) {
    const res = await stack.app.inject({ method: 'POST', url: '/v1/jobs', headers: stack.auth('acme'), payload: { ...spec, name: `bench-retention-${i}` } });
    if (res.statusCode !== 202) throw new Error(`POST /v1/jobs answered ${res.statusCode}: ${res.body}`);
    ids.push(res.json().id as string);
  }
  await waitFor(async () => (await redis.zcard(store.keys.byStatus('completed'))) === N, 300_000, `${N} jobs completed`, 500);
  await Promise.all(workers.map((w) => w.close()));
  const afterRun = await usedMemory();
  const all = await prefixKeys();
  const perJob = new Map<string, string[]>();
  for (const k of all) {
    const id = ids.find((j) => k.includes(j));
    if (id) perJob.set(id, [...(perJob.get(id) ?? []), k]);
  }
  const jobKeys = [...perJob.values()].flat();
  const ours = jobKeys.filter((k) => k.startsWith(`${prefix}:job:`));
  const bullKeys = jobKeys.filter((k) => !k.startsWith(`${prefix}:job:`));
  const [oursBytes, bullBytes, idxBytes, prefixBytes] = [await memoryOf(ours), await memoryOf(bullKeys), await indexBytes(), await memoryOf(all)];
  const retention = createRetention({ store, queues: stack.queues, artifacts: stack.artifacts, days: 30, now: () => Date.now() + 31 * DAY });
  const t0 = performance.now();
  const swept = await retention.sweep();
  const sweepMs = performance.now() - t0;
  const left = await prefixKeys();
  const afterSweep = await usedMemory();
  const kb = (b: number) => (b / 1024).toFixed(1);
  const lines = [
    `jobs: ${N} completed, 10 units each`,
    `keys naming a job: ${(jobKeys.length / N).toFixed(1)} per job (nightshift ${(ours.length / N).toFixed(1)}, BullMQ ${(bullKeys.length / N).toFixed(1)})`,
    `MEMORY USAGE per finished job: ${kb((oursBytes + bullBytes + idxBytes) / N)} KiB (nightshift records ${kb(oursBytes / N)}, BullMQ jobs ${kb(bullBytes / N)}, index entries ${kb(idxBytes / N)})`,
    `every key of the prefix: ${all.length} keys, ${kb(prefixBytes)} KiB (${kb(prefixBytes / N)} KiB per job)`,
    `INFO used_memory: before ${kb(before)} KiB, after the jobs ${kb(afterRun)} KiB (+${kb((afterRun - before) / N)} KiB per job), after the sweep ${kb(afterSweep)} KiB (shared Redis: other clients move it too)`,
    `retention sweep: ${swept.trimmed} of ${swept.scanned} jobs trimmed in ${sweepMs.toFixed(0)} ms (${(sweepMs / Math.max(1, swept.trimmed)).toFixed(1)} ms per job, archive writes to the embedded S3 included); keys left under the prefix: ${left.length} (${left.map((k) => k.slice(prefix.length + 1)).slice(0, 8).join(', ')})`,
  ];
  console.log(lines.join('\n'));
} finally {
  await Promise.all(workers.map((w) => w.close()));
  bull.disconnect();
  await stack.close();
}
