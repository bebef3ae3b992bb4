/**
 * What one open dashboard costs the API: `GET /v1/batches/:id` of a 1,000-job,
 * 10-fold batch (its counts, cost and a leaderboard of 1,000 rows with 10 scores
 * each), which services/dashboard/batches.js polls every 2 s while the batch runs.
 * Over the real parts (Redis, the app through app.inject): the batch is accepted by
 * POST /v1/batches, then each job is given ten unit results and completed with the
 * aggregate step's own summary, as a drained batch looks. Measured per view: its
 * time, the answer's size, and the longest the API's event loop was held (a 1 ms
 * ticker's largest gap), which is what every other request waiting on that process
 * pays. Baseline in the same run: GET /v1/jobs/:id of jobs of the batch.
 * Usage: npx tsx bench/batch-view.ts [views] [jobs]   (REDIS_URL honoured)
 */
import { performance } from 'node:perf_hooks';
import type { BatchSpec } from '../services/core/batch-spec.ts';
import { resolveJobSpec } from '../services/core/job-defaults.ts';
import type { UnitResult } from '../services/core/job.ts';
import { summarizeJob } from '../services/platform/aggregate.ts';
import { createTestStack } from '../support/app.ts';
import { machine, summary, target } from './support/measure.ts';

const views = Number(process.argv[2] ?? 10);
const size = Number(process.argv[3] ?? 1000);
const FOLDS = 10;
const lr = [0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 0.5, 1];
const spec: BatchSpec = {
  name: 'bench-view',
  base: {
    dataset: { uri: 'builtin:make_regression?n_samples=200&n_features=4&random_state=1' },
    model: { layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 1 }] },
    training: { loss: 'mse', epochs: 10, optimizer: { name: 'adam' } },
    evaluation: { method: 'kfold', folds: FOLDS },
  },
  grid: {
    'model.layers.0.units': [4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048].slice(0, Math.max(1, Math.ceil(size / 100))),
    'training.batchSize': [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096],
    'training.optimizer.learningRate': lr,
  },
  // scheduled an hour ahead: no unit runs while the bench writes the results itself
  schedule: { notBefore: new Date(Date.now() + 3_600_000).toISOString() },
};

/** The longest gap between the ticks of a 1 ms interval while `fn` runs: how long the event loop was held. */
async function holding<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number; maxBlockMs: number }> {
  let last = performance.now();
  let maxGap = 0;
  const tick = setInterval(() => {
    const t = performance.now();
    maxGap = Math.max(maxGap, t - last);
    last = t;
  }, 1);
  const t0 = performance.now();
  try {
    const value = await fn();
    const ms = performance.now() - t0;
    maxGap = Math.max(maxGap, performance.now() - last);
    return { value, ms, maxBlockMs: maxGap };
  } finally {
    clearInterval(tick);
  }
}

const stack = await createTestStack({ label: 'bench-view', env: { NIGHTSHIFT_MAX_QUEUED_UNITS: '1000000', NIGHTSHIFT_RATE_LIMIT_PER_MINUTE: '0' } });
console.log(machine());
try {
  const res = await stack.app.inject({ method: 'POST', url: '/v1/batches', headers: stack.auth('acme'), payload: spec });
  if (res.statusCode !== 201) throw new Error(`POST /v1/batches answered ${res.statusCode}: ${res.body}`);
  const { id: batchId, jobIds } = res.json() as { id: string; jobIds: string[] };
  // every job: ten eval units with a score, then completed with the aggregate step's summary
  let seed = 1;
  const rnd = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  for (let at = 0; at < jobIds.length; at += 50) {
    await Promise.all(jobIds.slice(at, at + 50).map(async (jobId) => {
      const rec = (await stack.store.getRecord(jobId))!;
      const resolved = resolveJobSpec(rec.spec);
      const results: UnitResult[] = [];
      for (let fold = 0; fold < FOLDS; fold++) {
        const r: UnitResult = {
          key: `r0-f${fold}-n0`, kind: 'eval', run: 0, repeat: 0, fold, score: 0.5 + rnd() * 0.4, heldOut: { mse: 0.5 + rnd() },
          epochs: 10, trainRows: 180, testRows: 20, durationMs: 200 + rnd() * 50, backend: 'wasm', engine: 'fused', worker: 'w1',
        };
        results.push(r);
        await stack.store.unitDone(jobId, r);
      }
      await stack.store.setStatus(jobId, 'running');
      const { result } = summarizeJob(resolved, results, undefined);
      await stack.store.setStatus(jobId, 'completed', { ...(result ? { result } : {}) });
    }));
  }

  const get = (url: string) => stack.app.inject({ method: 'GET', url, headers: stack.auth('acme') });
  // warm-up: compiled serializers, JIT
  await get(`/v1/batches/${batchId}`);
  for (const id of jobIds.slice(0, 20)) await get(`/v1/jobs/${id}`);

  const jobMs: number[] = [];
  const jobBlock: number[] = [];
  for (let i = 0; i < 200; i++) {
    const m = await holding(() => get(`/v1/jobs/${jobIds[(i * 37) % jobIds.length]}`));
    if (m.value.statusCode !== 200) throw new Error(`GET /v1/jobs/:id answered ${m.value.statusCode}`);
    jobMs.push(m.ms);
    jobBlock.push(m.maxBlockMs);
  }
  const viewMs: number[] = [];
  const viewBlock: number[] = [];
  let bytes = 0;
  let rows = 0;
  for (let i = 0; i < views; i++) {
    const m = await holding(() => get(`/v1/batches/${batchId}`));
    if (m.value.statusCode !== 200) throw new Error(`GET /v1/batches/:id answered ${m.value.statusCode}: ${m.value.body.slice(0, 200)}`);
    bytes = m.value.rawPayload.length;
    rows = (m.value.json() as { leaderboard: unknown[] }).leaderboard.length;
    viewMs.push(m.ms);
    viewBlock.push(m.maxBlockMs);
  }
  // the list page: GET /v1/batches with every row of each batch, and with the best row only (?rows=1, as the dashboard asks)
  const listed: Record<string, { ms: number[]; bytes: number }> = { all: { ms: [], bytes: 0 }, best: { ms: [], bytes: 0 } };
  for (let i = 0; i < views; i++) {
    for (const [name, url] of [['all', '/v1/batches?limit=50'], ['best', '/v1/batches?limit=50&rows=1']] as const) {
      const t0 = performance.now();
      const r = await get(url);
      if (r.statusCode !== 200) throw new Error(`GET ${url} answered ${r.statusCode}`);
      listed[name].ms.push(performance.now() - t0);
      listed[name].bytes = r.rawPayload.length;
    }
  }
  const j = summary(jobMs);
  const jb = summary(jobBlock);
  const v = summary(viewMs);
  const vb = summary(viewBlock);
  console.log(`batch: ${jobIds.length} jobs x ${FOLDS} folds, completed; its view ${(bytes / 1024).toFixed(0)} KiB, ${rows} leaderboard rows`);
  console.log(`baseline GET /v1/jobs/:id (${j.n}): p50 ${j.p50.toFixed(1)} ms, p99 ${j.p99.toFixed(1)} ms; event loop held at most ${jb.max.toFixed(1)} ms`);
  console.log(`GET /v1/batches/:id (${v.n} views): p50 ${v.p50.toFixed(1)} ms, max ${v.max.toFixed(1)} ms (${viewMs.map((x) => x.toFixed(0)).join(' ')}); event loop held p50 ${vb.p50.toFixed(1)} ms, max ${vb.max.toFixed(1)} ms`);
  for (const [name, l] of Object.entries(listed)) console.log(`GET /v1/batches${name === 'best' ? '?rows=1' : ''} (one batch listed, ${l.ms.length} calls): p50 ${summary(l.ms).p50.toFixed(1)} ms, ${(l.bytes / 1024).toFixed(1)} KiB`);
  target(`event loop held by a ${jobIds.length}-job batch view (the longest of ${views})`, vb.max <= 20, `${vb.max.toFixed(1)} ms (target <= 20 ms, the GET /v1/jobs/:id p99 target)`);
  target(`${jobIds.length}-job batch view (median of ${views})`, v.p50 <= 100, `${v.p50.toFixed(1)} ms (target <= 100 ms)`);
} finally {
  await stack.close();
}
