/**
 * What the worker costs around training: the tutorial model of
 * examples/regression-holdout.json (1,000 rows, 10 features, 3 targets, 100 epochs,
 * one holdout unit) trained
 *   - by a nightshift worker process: submitted through the API, the unit taken from
 *     the queue, data set generated, progress reported every epoch, checkpoints,
 *     history/result written to S3 (embedded server), the job aggregated; measured
 *     from the job's createdAt to its finishedAt;
 *   - by the bare engine loop in this process (data set generated, runUnit with
 *     no-op hooks), on the same backend the worker selected.
 * Rounds alternate; the ratio is of the medians. Target: the worker <= 10% slower.
 * Usage: npx tsx bench/worker-overhead.ts [rounds]
 */
import { resolveJobSpec } from '../services/core/job-defaults.ts';
import type { JobSpec } from '../services/core/spec.ts';
import { planUnits } from '../services/core/units.ts';
import { selectBackend } from '../services/platform/tf-backend.ts';
import { createTestStack } from '../support/app.ts';
import { loadTable } from '../workers/trainer/ml/dataset.ts';
import { chooseEngine } from '../workers/trainer/ml/fused-engine.ts';
import { runUnit } from '../workers/trainer/ml/run-unit.ts';
import { machine, summary, target } from './support/measure.ts';
import { startWorker } from './support/worker.ts';

const rounds = Number(process.argv[2] ?? 3);
// examples/regression-holdout.json without its final fit
const spec = {
  name: 'multi-output-regression-holdout',
  dataset: { uri: 'builtin:make_regression?n_samples=1000&n_features=10&n_informative=5&n_targets=3&random_state=2', target: [-3, -2, -1] },
  model: { layers: [{ type: 'dense', units: 20, activation: 'relu', kernelInitializer: 'he_uniform' }, { type: 'dense', units: 3 }] },
  training: { loss: 'mae', optimizer: { name: 'adam' }, epochs: 100, batchSize: 32 },
  evaluation: { method: 'holdout', testSize: 0.33, seed: 1 },
} as unknown as JobSpec;
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

console.log(`# worker-overhead — ${new Date().toISOString()}\n${machine()}`);
const stack = await createTestStack({ label: 'bench-overhead' });
const worker = await startWorker(stack);
const backend = await selectBackend(undefined);

let workerEngine = '';
let bareEngine = '';
/** One job through the worker: submit -> completed, and the unit's own time in the worker (data set, training with per-epoch progress, history and result upload). */
async function viaWorker(): Promise<{ job: number; unit: number }> {
  const res = await stack.app.inject({ method: 'POST', url: '/v1/jobs', headers: stack.auth('acme'), payload: spec });
  if (res.statusCode !== 202) throw new Error(`POST /v1/jobs answered ${res.statusCode}: ${res.body}`);
  const id = res.json().id as string;
  for (let t = 0; ; t++) {
    const job = await stack.store.getJob(id);
    if (job?.status === 'completed') {
      const [unit] = await stack.store.unitResults(id);
      workerEngine = `${unit!.engine} / ${unit!.backend}`;
      return { job: Date.parse(job.finishedAt!) - Date.parse(job.createdAt), unit: unit!.durationMs };
    }
    if (job && ['failed', 'cancelled'].includes(job.status)) throw new Error(`job ${id} ${job.status}: ${JSON.stringify(job.error)}`);
    if (t > 6000) throw new Error(`job ${id} did not finish`);
    await sleep(20);
  }
}

async function bare(): Promise<number> {
  const t0 = Date.now();
  const resolved = resolveJobSpec(spec);
  const [unit] = planUnits(resolved);
  const table = await loadTable(resolved.dataset.uri, false, async () => undefined);
  const out = await runUnit({
    spec: resolved, unit, table,
    engine: (layers) => chooseEngine(resolved, layers, backend.name),
    hooks: { onEpoch: () => undefined, control: () => 'continue', saveCheckpoint: async () => undefined },
  });
  const ms = Date.now() - t0;
  bareEngine = `${out.engine} / ${out.backend}`;
  return ms;
}

const w: number[] = [];
const u: number[] = [];
const b: number[] = [];
try {
  await viaWorker(); // warm-up: both paths once
  await bare();
  for (let r = 0; r < rounds; r++) {
    const one = await viaWorker();
    w.push(one.job);
    u.push(one.unit);
    b.push(await bare());
    console.log(`round ${r + 1}: job through the worker ${w[r]} ms (the unit in the worker ${u[r]} ms), bare engine ${b[r]} ms`);
  }
} finally {
  await worker.stop();
  await stack.close();
}
const mw = summary(w).p50;
const mu = summary(u).p50;
const mb = summary(b).p50;
console.log(['', `engine / backend: worker ${workerEngine}, bare ${bareEngine}; ${rounds} rounds, medians`, '| path | median ms | all (ms) |', '| --- | ---: | --- |',
  `| the unit in the worker (data set, training with per-epoch progress, history and result upload) | ${mu} | ${u.join(', ')} |`,
  `| the job through the worker (submit -> completed: also dispatch and the aggregate step) | ${mw} | ${w.join(', ')} |`,
  `| bare engine loop (runUnit) | ${mb} | ${b.join(', ')} |`, ''].join('\n'));
target('worker overhead per unit', mu <= mb * 1.1, `the unit in the worker takes ${((mu / mb - 1) * 100).toFixed(1)}% longer than the bare engine (target <= 10%)`);
console.log(`the whole job (dispatch and aggregation included) takes ${((mw / mb - 1) * 100).toFixed(1)}% longer than the bare engine; its fixed part is ${mw - mu} ms`);
