/**
 * Batch routes over a real Redis (store + BullMQ) and the embedded S3 server:
 * submission and validation, scheduled (delayed) units, listing, tenant isolation,
 * cancel, report and retry of failed jobs. Training is not needed: unit results are
 * written the way workers write them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unitJobId } from '../../services/core/catalog.ts';
import type { UnitResult } from '../../services/core/job.ts';
import type { TrainingWarning } from '../../services/core/health.ts';
import { createFleetStore } from '../../services/platform/fleet-store.ts';
import { createMeter } from '../../services/platform/meter.ts';
import { createBatchStore } from '../../services/platform/batches.ts';
import { createTestStack, type TestStack } from '../../support/app.ts';

let stack: TestStack;
const base = {
  dataset: { uri: 'builtin:make_regression?n_samples=60&n_features=3&random_state=1' },
  model: { layers: [{ type: 'dense', units: 4, activation: 'relu' }, { type: 'dense', units: 1 }] },
  training: { loss: 'mse', epochs: 2 },
  evaluation: { method: 'kfold', folds: 3 },
};
const sweep = (over: Record<string, unknown> = {}) => ({
  name: 'sweep',
  base,
  grid: { 'model.layers.0.units': [2, 8], 'training.batchSize': [8, 16] },
  ...over,
});

const post = (url: string, payload: unknown, tenant = 'acme') => stack.app.inject({ method: 'POST', url, headers: stack.auth(tenant), payload: payload as object });
const get = (url: string, tenant = 'acme') => stack.app.inject({ url, headers: stack.auth(tenant) });

/** What a worker leaves when a unit finishes. */
async function finishUnits(jobId: string, scores: number[], trainRows = 40, testRows = 20, warnings?: TrainingWarning[]): Promise<void> {
  await stack.store.setStatus(jobId, 'running');
  for (const [fold, score] of scores.entries()) {
    const r: UnitResult = { key: `r0-p0-f${fold}`, kind: 'eval', run: 0, repeat: 0, fold, score, epochs: 2, trainRows, testRows, durationMs: 1000, backend: 'cpu', engine: 'fused', worker: 'w' };
    await stack.store.unitDone(jobId, r);
  }
  const mean = scores.reduce((s, x) => s + x, 0) / scores.length;
  await stack.store.setStatus(jobId, 'completed', { result: { metric: 'mse', scores, mean, std: 0, stderr: 0, ci95: [mean, mean] }, ...(warnings ? { warnings } : {}) });
}

beforeAll(async () => {
  stack = await createTestStack({ label: 'api-batches' });
});
afterAll(async () => {
  await stack?.close();
});

describe('submit', () => {
  it('expands a 2x2 grid into four queued jobs with their parameters, one BullMQ unit per fold', async () => {
    const res = await post('/v1/batches', sweep());
    expect(res.statusCode, res.body).toBe(201);
    const out = res.json();
    expect(out).toMatchObject({ status: 'queued', unitsTotal: 12 });
    expect(out.jobIds).toHaveLength(4);
    const b = (await get(`/v1/batches/${out.id}`)).json();
    expect(b).toMatchObject({ id: out.id, name: 'sweep', status: 'queued', progress: { unitsDone: 0, unitsTotal: 12 }, costUsd: null, atRisk: false });
    expect(b.counts.queued).toBe(4);
    expect(b.leaderboard.map((r: { params: object }) => r.params)).toEqual(expect.arrayContaining([
      { 'model.layers.0.units': 2, 'training.batchSize': 8 }, { 'model.layers.0.units': 8, 'training.batchSize': 16 },
    ]));
    const job = (await get(`/v1/jobs/${out.jobIds[3]}`)).json();
    expect(job).toMatchObject({ batchId: out.id, status: 'queued', name: 'sweep units=8 batchSize=16' });
    const unit = await stack.queues.units.getJob(unitJobId(out.jobIds[0], 'r0-p0-f0'));
    expect(await unit!.getState()).toMatch(/waiting|prioritized/);
    const listed = (await get(`/v1/jobs?batch=${out.id}`)).json();
    expect(listed.items).toHaveLength(4);
    // spec.json: the expanded spec, from the file or (while it is being written) from the record
    const file = (await get(`/v1/jobs/${out.jobIds[3]}/artifacts/spec.json`)).json();
    expect(file.model.layers[0].units).toBe(8);
    expect(file.training).toEqual({ loss: 'mse', epochs: 2, batchSize: 16 });
  });

  it('a batch whose window opens later waits as scheduled: its jobs are scheduled and its units delayed', async () => {
    const notBefore = new Date(Date.now() + 60_000).toISOString();
    const res = await post('/v1/batches', sweep({ schedule: { notBefore } }));
    expect(res.statusCode, res.body).toBe(201);
    const out = res.json();
    expect(out.status).toBe('scheduled');
    expect(out.notBefore).toBe(notBefore);
    const b = (await get(`/v1/batches/${out.id}`)).json();
    expect(b.status).toBe('scheduled');
    expect(b.counts.scheduled).toBe(4);
    const unit = await stack.queues.units.getJob(unitJobId(out.jobIds[1], 'r0-p0-f2'));
    expect(await unit!.getState()).toBe('delayed');
    const delayLeft = unit!.timestamp + unit!.delay - Date.now();
    expect(delayLeft).toBeGreaterThan(50_000);
    expect(delayLeft).toBeLessThanOrEqual(60_000);
  });

  it('a daily window resolves to its next occurrence and its end becomes the deadline', async () => {
    const res = await post('/v1/batches', sweep({ schedule: { window: { start: '22:00', end: '07:00', timezone: 'Europe/Berlin' } } }));
    expect(res.statusCode, res.body).toBe(201);
    const b = (await get(`/v1/batches/${res.json().id}`)).json();
    expect(b.window).toEqual({ start: '22:00', end: '07:00', timezone: 'Europe/Berlin' });
    const end = Date.parse(b.deadline);
    const hours = (end - (b.notBefore ? Date.parse(b.notBefore) : Date.now())) / 3_600_000;
    expect(hours).toBeGreaterThan(0);
    expect(hours).toBeLessThanOrEqual(10);
    const local = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit' }).format(end);
    expect(local).toBe('07:00');
  });

  const bad: Array<[string, object, string]> = [
    ['a grid path the JobSpec lacks', sweep({ grid: { 'model.layers.0.unitz': [1, 2] } }), 'grid.model.layers.0.unitz'],
    ['a value the schema refuses', sweep({ grid: { 'model.layers.0.units': [4, 0] } }), 'grid.model.layers.0.units[1]'],
    ['an empty grid', sweep({ grid: {} }), 'grid'],
    ['a grid path with no values', sweep({ grid: { 'training.epochs': [] } }), 'grid.training.epochs'],
    ['an unknown time zone', sweep({ schedule: { window: { start: '22:00', end: '07:00', timezone: 'Mars/Olympus' } } }), 'schedule.window.timezone'],
    ['a deadline before notBefore', sweep({ schedule: { notBefore: '2099-01-02T00:00:00Z', deadline: '2099-01-01T00:00:00Z' } }), 'schedule.deadline'],
    ['a deadline in the past', sweep({ schedule: { deadline: '2020-01-01T00:00:00Z' } }), 'schedule.deadline'],
    ['a time without a zone', sweep({ schedule: { notBefore: '2099-01-01T22:00:00' } }), 'schedule.notBefore'],
    ['more jobs than the limit', sweep({ grid: { 'training.epochs': Array.from({ length: 40 }, (_, i) => i + 1), 'training.batchSize': Array.from({ length: 30 }, (_, i) => i + 1) } }), 'grid'],
    ['more units than the limit', sweep({ base: { ...base, dataset: { uri: 'builtin:make_regression?n_samples=200&n_features=3&random_state=1' }, evaluation: { method: 'kfold', folds: 100 } }, grid: { 'training.epochs': Array.from({ length: 201 }, (_, i) => i + 1) } }), 'grid'],
    ['a cross-field rule of one job', sweep({ grid: { 'evaluation.folds': [3, 100] } }), 'grid.evaluation.folds'],
    ['a bad merge patch', { name: 'p', base, jobs: [{ training: { epochs: 3 } }, { training: { epochs: -1 } }] }, 'jobs.1.training.epochs'],
    ['grid and jobs together', sweep({ jobs: [{}] }), 'jobs'],
    ['a field of the other layer type', sweep({ base: { ...base, model: { layers: [{ type: 'dense', units: 4 }, { type: 'dropout', rate: 0.2 }, { type: 'dense', units: 1 }] } }, grid: { 'model.layers.1.units': [3] } }), 'grid.model.layers.1.units[0]'],
    ['a value outside an enum', sweep({ grid: { 'training.loss': ['mse', 'hinge'] } }), 'grid.training.loss[1]'],
  ];
  it.each(bad)('rejects %s with a 400 naming the path', async (_what, body, field) => {
    const res = await post('/v1/batches', body);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error.message.startsWith(`${field}:`), res.json().error.message).toBe(true);
  });

  it('nothing of a rejected batch is stored', async () => {
    const before = (await get('/v1/jobs?limit=200')).json().items.length;
    await post('/v1/batches', sweep({ grid: { 'model.layers.0.units': [4, 5, 0] } }));
    expect((await get('/v1/jobs?limit=200')).json().items.length).toBe(before);
  });
});

describe('list, isolation, cancel', () => {
  it('lists newest first, paginated, and only the caller\'s batches', async () => {
    const mine: string[] = [];
    for (let i = 0; i < 3; i++) mine.push((await post('/v1/batches', sweep({ name: `page-${i}`, grid: { 'training.epochs': [1] } }), 'globex')).json().id);
    const p1 = (await get('/v1/batches?limit=2', 'globex')).json();
    expect(p1.items.map((b: { id: string }) => b.id)).toEqual([mine[2], mine[1]]);
    const p2 = (await get(`/v1/batches?limit=2&cursor=${p1.nextCursor}`, 'globex')).json();
    expect(p2.items.map((b: { id: string }) => b.id)).toEqual([mine[0]]);
    expect(p2.nextCursor).toBeNull();
    const acme = (await get('/v1/batches?limit=100')).json();
    expect(acme.items.some((b: { id: string }) => mine.includes(b.id))).toBe(false);
    expect((await get(`/v1/batches/${mine[0]}`)).statusCode).toBe(404);
    expect((await stack.app.inject({ method: 'DELETE', url: `/v1/batches/${mine[0]}`, headers: stack.auth('acme') })).statusCode).toBe(404);
  });

  it('?rows=N keeps the best N leaderboard rows of each listed batch; the batch itself is unchanged', async () => {
    const { id, jobIds } = (await post('/v1/batches', sweep({ name: 'rows' }), 'globex')).json();
    await finishUnits(jobIds[2], [5, 5, 5]);
    await finishUnits(jobIds[1], [1, 2, 3]);
    const full = (await get('/v1/batches?limit=1', 'globex')).json().items[0];
    expect(full.id).toBe(id);
    expect(full.leaderboard).toHaveLength(4);
    const one = (await get('/v1/batches?limit=1&rows=1', 'globex')).json().items[0];
    expect(one.leaderboard.map((r: { jobId: string; rank: number }) => [r.jobId, r.rank])).toEqual([[jobIds[1], 1]]);
    expect({ ...one, leaderboard: full.leaderboard }).toEqual(full);
    expect((await get('/v1/batches?limit=1&rows=0', 'globex')).json().items[0].leaderboard).toEqual([]);
    const bad = await get('/v1/batches?rows=-1', 'globex');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toContain('rows');
    expect((await get(`/v1/batches/${id}`, 'globex')).json().leaderboard).toHaveLength(4);
  });

  it('DELETE cancels every job and removes their queued units; a second DELETE answers 409', async () => {
    const { id, jobIds } = (await post('/v1/batches', sweep({ schedule: { notBefore: new Date(Date.now() + 60_000).toISOString() } }))).json();
    const res = await stack.app.inject({ method: 'DELETE', url: `/v1/batches/${id}`, headers: stack.auth('acme') });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ status: 'cancelled', counts: { cancelled: 4 } });
    expect(await stack.queues.units.getJob(unitJobId(jobIds[0], 'r0-p0-f0'))).toBeUndefined();
    expect((await stack.app.inject({ method: 'DELETE', url: `/v1/batches/${id}`, headers: stack.auth('acme') })).statusCode).toBe(409);
  });
});

describe('leaderboard, report, retry', () => {
  it('ranks by the mean (mse: lower first), marks the ties with the best, and reports as Markdown and CSV', async () => {
    const { id, jobIds } = (await post('/v1/batches', sweep({ name: 'ranked' }))).json();
    // same folds: the corrected resampled t-test. Job 1 is best; job 0 is close and noisy; job 3 is clearly worse.
    await finishUnits(jobIds[0], [10.5, 9.0, 11.2]);
    await finishUnits(jobIds[1], [10.0, 8.9, 10.9]);
    await finishUnits(jobIds[3], [20.1, 19.8, 20.3]);
    const b = (await get(`/v1/batches/${id}`)).json();
    expect(b.metric).toBe('mse');
    expect(b.status).toBe('running');
    const lb = b.leaderboard;
    expect(lb.map((r: { jobId: string }) => r.jobId)).toEqual([jobIds[1], jobIds[0], jobIds[3], jobIds[2]]);
    expect(lb.map((r: { rank: number | null }) => r.rank)).toEqual([1, 2, 3, null]);
    expect(lb[0]).toMatchObject({ best: true, tiedWithBest: null, n: 3 });
    expect(lb[1]).toMatchObject({ best: false, tiedWithBest: true, sig: { test: 'nadeau-bengio', df: 2 } });
    expect(lb[2]).toMatchObject({ tiedWithBest: false, sig: { test: 'nadeau-bengio' } });
    expect(lb[2].sig.p).toBeLessThan(0.05);
    expect(lb[1].mean).toBeCloseTo((10.5 + 9.0 + 11.2) / 3, 10);

    const md = await get(`/v1/batches/${id}/report`);
    expect(md.statusCode).toBe(200);
    expect(md.headers['content-type']).toContain('text/markdown');
    expect(md.body).toContain('| 1 | ranked units=2 batchSize=16');
    expect(md.body).toContain('≈ best');
    expect(md.body).toContain('corrected resampled t (Nadeau-Bengio)');
    expect((await stack.artifacts.get(`batches/${id}/report.md`))?.toString('utf8')).toBe(md.body);
    const csv = await get(`/v1/batches/${id}/report?format=csv`);
    expect(csv.headers['content-type']).toContain('text/csv');
    const lines = csv.body.trim().split('\n');
    expect(lines[0].split(',').slice(-2)).toEqual(['model.layers.0.units', 'training.batchSize']);
    expect(lines[1].startsWith(`1,${jobIds[1]},`)).toBe(true);
    expect(lines).toHaveLength(5);
  });

  it('a view taken while the jobs run is not what later views show: each job enters the ranking once it completes', async () => {
    const { id, jobIds } = (await post('/v1/batches', sweep({ name: 'polled' }))).json();
    await stack.store.setStatus(jobIds[0], 'running');
    // units finished but the job not yet aggregated: no scores in the ranking yet
    const r: UnitResult = { key: 'r0-p0-f0', kind: 'eval', run: 0, repeat: 0, fold: 0, score: 3, epochs: 2, trainRows: 40, testRows: 20, durationMs: 1000, backend: 'cpu', engine: 'fused', worker: 'w' };
    await stack.store.unitDone(jobIds[0], r);
    const before = (await get(`/v1/batches/${id}`)).json();
    expect(before.leaderboard.every((row: { rank: number | null }) => row.rank === null)).toBe(true);
    expect(before.leaderboard).toHaveLength(4);
    expect(before.progress.unitsDone).toBe(1);
    await stack.store.setStatus(jobIds[0], 'completed', { result: { metric: 'mse', scores: [3], mean: 3, std: 0, stderr: 0, ci95: [3, 3] } });
    await finishUnits(jobIds[1], [1, 2, 3]);
    const after = (await get(`/v1/batches/${id}`)).json();
    expect(after.leaderboard.map((row: { jobId: string; rank: number | null; n: number }) => [row.jobId, row.rank, row.n])).toEqual([
      [jobIds[1], 1, 3], [jobIds[0], 2, 1], expect.arrayContaining([null]), expect.arrayContaining([null]),
    ]);
    // once more: the completed jobs' scores are kept, the others still follow unranked
    await finishUnits(jobIds[2], [0.5, 0.5, 0.5]);
    const again = (await get(`/v1/batches/${id}`)).json();
    expect(again.leaderboard.slice(0, 3).map((row: { jobId: string; mean: number }) => [row.jobId, row.mean])).toEqual([[jobIds[2], 0.5], [jobIds[1], 2], [jobIds[0], 3]]);
    expect(again.leaderboard[3]).toMatchObject({ jobId: jobIds[3], rank: null, n: 0 });
  });

  it("marks a job whose units warned: its row carries the warning codes once each, and the report and CSV show them", async () => {
    const { id, jobIds } = (await post('/v1/batches', sweep({ name: 'warned' }))).json();
    await finishUnits(jobIds[0], [10.5, 9.0, 11.2]);
    // what the aggregate step writes when units found training-health problems (one code in two units)
    const warnings: TrainingWarning[] = [
      { code: 'constant_predictions', message: 'the model predicts the same value for every one of its 20 held-out rows; try a lower learning rate, another initializer or more epochs', unit: 'r0-p0-f0' },
      { code: 'loss_flat', message: 'the loss did not move over the first 2 epochs (5070 to 5070): the model is not learning; try a lower learning rate, another initializer or more epochs', unit: 'r0-p0-f0' },
      { code: 'constant_predictions', message: 'the model predicts the same value for every one of its 20 held-out rows; try a lower learning rate, another initializer or more epochs', unit: 'r0-p0-f1' },
    ];
    await finishUnits(jobIds[1], [71.2, 71.2, 71.2], 40, 20, warnings);
    expect((await get(`/v1/jobs/${jobIds[1]}`)).json().warnings).toHaveLength(3);
    const b = (await get(`/v1/batches/${id}`)).json();
    const row = (jobId: string) => b.leaderboard.find((r: { jobId: string }) => r.jobId === jobId);
    expect(row(jobIds[1]).warnings).toEqual(['constant_predictions', 'loss_flat']);
    expect(row(jobIds[0]).warnings).toEqual([]);
    const md = (await get(`/v1/batches/${id}/report`)).body;
    expect(md).toContain('⚠ constant_predictions, loss_flat');
    const csv = (await get(`/v1/batches/${id}/report?format=csv`)).body.trim().split('\n');
    const col = csv[0].split(',').indexOf('warnings');
    expect(col).toBeGreaterThan(0);
    expect(csv.find((l) => l.includes(jobIds[1]))!.split(',')[col]).toBe('constant_predictions loss_flat');
  });

  it("the cost so far counts the instances still running, as each job's own cost does", async () => {
    const { id, jobIds } = (await post('/v1/batches', sweep({ name: 'costly' }))).json();
    // an instance launched for job 0 an hour ago at 3.60 USD/h, still running job 0's first unit
    const t = Date.now() - 3_600_000;
    const fleet = createFleetStore(stack.redis, stack.prefix);
    const meter = createMeter(stack.redis, stack.prefix);
    await fleet.putInstance({ id: 'i-live', provider: 'ec2', resourceClass: 'gpu', type: 'p3.2xlarge', market: 'on-demand', hourlyUsd: 3.6, onDemandUsd: 3.6, launchedAt: t, slots: 1, demand: [{ jobId: jobIds[0], tenant: 'acme', batchId: id, units: 3 }] });
    await meter.causedBy(stack.redis.multi(), ['i-live'], [jobIds[0]]).exec();
    await meter.unitStarted({ instanceId: 'i-live', jobId: jobIds[0], tenant: 'acme', batchId: id, unit: 'r0-p0-f0', start: t });

    const job = (await get(`/v1/jobs/${jobIds[0]}`)).json();
    expect(job.cost.usd).toBeGreaterThanOrEqual(3.6);
    const b = (await get(`/v1/batches/${id}`)).json();
    expect(b.costUsd).toBeCloseTo(job.cost.usd, 2);
    const rows = new Map(b.leaderboard.map((r: { jobId: string; costUsd: number | null }) => [r.jobId, r.costUsd]));
    expect(rows.get(jobIds[0])).toBeCloseTo(job.cost.usd, 2);
    expect(jobIds.slice(1).map((j: string) => rows.get(j))).toEqual([null, null, null]);
    const listed = (await get('/v1/batches?limit=100')).json().items.find((x: { id: string }) => x.id === id);
    expect(listed.costUsd).toBeCloseTo(job.cost.usd, 2);
    expect((await get(`/v1/batches/${id}/report`)).body).toContain('- cost: $3.60');
  });

  it('views polled within a few seconds share one read of the job costs; a batch that gained jobs is read again', async () => {
    const { id } = (await post('/v1/batches', sweep({ name: 'polled-costs' }))).json();
    const asked: string[][] = [];
    const source = { jobCosts: async (ids: string[]) => (asked.push(ids), new Map(ids.map((j) => [j, { usd: 1, instanceSeconds: 10, idleUsd: 0, spotSavingsUsd: 0 }]))) };
    const store = createBatchStore(stack.redis, stack.prefix, stack.store, source);
    const first = await store.view(id);
    const second = await store.view(id);
    expect(asked).toHaveLength(1);
    expect(first!.batch.costUsd).toBe(4);
    expect(second!.batch.costUsd).toBe(4);
    const rec = (await store.getRecord(id))!;
    const extra = (await post('/v1/jobs', { ...base, name: 'joined' })).json().id as string;
    await store.replaceRecord({ ...rec, jobIds: [...rec.jobIds, extra], params: [...rec.params, {}] });
    const third = await store.view(id);
    expect(asked).toHaveLength(2);
    expect(asked[1]).toContain(extra);
    expect(third!.batch.costUsd).toBe(5);
  });

  it('a finished batch is read whole once; later views see any job that changed since', async () => {
    const { id, jobIds } = (await post('/v1/batches', sweep({ name: 'finished-views' }))).json();
    await finishUnits(jobIds[0], [3, 3, 3]);
    await finishUnits(jobIds[1], [2, 2, 2]);
    await finishUnits(jobIds[2], [1, 1, 1]);
    await stack.store.setStatus(jobIds[3], 'budget_exhausted');
    let wholeReads = 0;
    const store = createBatchStore(stack.redis, stack.prefix, { ...stack.store, jobsOf: (...a: Parameters<typeof stack.store.jobsOf>) => (wholeReads++, stack.store.jobsOf(...a)) });
    const v1 = (await store.view(id))!;
    expect(v1.batch.status).not.toMatch(/running|queued/);
    expect((await store.view(id))!.batch).toEqual(v1.batch);
    expect(wholeReads).toBe(1);
    // a settled cost written into a job's record
    await stack.store.setField(jobIds[0], 'cost', JSON.stringify({ usd: 7, instanceSeconds: 70, idleUsd: 0, spotSavingsUsd: 0 }));
    const v2 = (await store.view(id))!;
    expect(wholeReads).toBe(2);
    expect(v2.batch.leaderboard.find((r) => r.jobId === jobIds[0])!.costUsd).toBe(7);
    expect(v2.batch.costUsd).toBe(7);
    // a raised budget takes a job back into the queue: the batch runs again
    expect(await stack.store.reopenFromBudget(jobIds[3])).toBe(true);
    const v3 = (await store.view(id))!;
    expect(wholeReads).toBe(3);
    expect(v3.batch.status).toBe('running');
    expect(v3.batch.counts.queued).toBe(1);
    // running: no marks read, each view reads the jobs whole
    await store.view(id);
    expect(wholeReads).toBe(4);
  });

  it('what the store keeps in memory is bounded, and a view is whole whatever it dropped', async () => {
    const a = (await post('/v1/batches', sweep({ name: 'small-cache-a' }))).json();
    const b = (await post('/v1/batches', sweep({ name: 'small-cache-b' }))).json();
    for (const [i, j] of [...a.jobIds, ...b.jobIds].entries()) await finishUnits(j, [i + 1, i + 1, i + 1]);
    let wholeReads = 0;
    // room for the facts of two jobs and the parts of one 4-job batch
    const store = createBatchStore(stack.redis, stack.prefix, { ...stack.store, jobsOf: (...x: Parameters<typeof stack.store.jobsOf>) => (wholeReads++, stack.store.jobsOf(...x)) }, undefined, { facts: 2, keptJobs: 4 });
    for (const { id, jobIds } of [a, b, a]) {
      const v = (await store.view(id))!;
      expect(v.batch.leaderboard.map((r) => r.jobId)).toEqual(jobIds);
      expect(v.batch.leaderboard.every((r) => r.rank !== null && r.n === 3)).toBe(true);
    }
    // a, b, then a again: b's parts pushed a's out, so a was read whole twice
    expect(wholeReads).toBe(3);
    await store.view(b.id);
    expect(wholeReads).toBe(4);
  });

  it('retry-failed queues the failed jobs again as new jobs in their places', async () => {
    const { id, jobIds } = (await post('/v1/batches', sweep({ name: 'retry' }))).json();
    await stack.store.setStatus(jobIds[2], 'failed', { error: { code: 'internal', message: 'boom' } });
    const res = await post(`/v1/batches/${id}/retry-failed`, undefined);
    expect(res.statusCode, res.body).toBe(200);
    const { retried } = res.json();
    expect(retried).toHaveLength(1);
    expect(retried[0].from).toBe(jobIds[2]);
    const b = (await get(`/v1/batches/${id}`)).json();
    expect(b.jobIds[2]).toBe(retried[0].to);
    expect(b.counts.failed).toBe(0);
    expect(b.counts.queued).toBe(4);
    expect((await get(`/v1/jobs/${retried[0].to}`)).json()).toMatchObject({ batchId: id, status: 'queued', name: 'retry units=8 batchSize=8' });
  });
});
