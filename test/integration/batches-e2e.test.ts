/**
 * Batches on the real local stack (Redis, embedded S3, the provisioner with its
 * batch supervisor, worker processes running the real trainer), over HTTP:
 * a sweep waits for its window, runs and ranks; a deadline cancels what did not
 * start; a restart of the API and provisioner mid-batch loses nothing.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { JobType } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { s3ArtifactStore } from '../../services/platform/artifacts.ts';
import { createQueues } from '../../services/platform/queue.ts';
import { connectRedis } from '../../services/platform/redis.ts';
import { startE2EStack, type E2EStack } from '../support/stack.ts';

const BASE = {
  dataset: { uri: 'builtin:make_regression?n_samples=120&n_features=4&n_informative=3&noise=5&random_state=3' },
  model: { layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 1 }] },
  training: { loss: 'mse', metrics: ['mae'], epochs: 20, batchSize: 16 },
  evaluation: { method: 'kfold', folds: 3, seed: 1 },
};

const stacks: E2EStack[] = [];
afterAll(async () => {
  for (const s of stacks.reverse()) await s.close().catch(() => undefined);
});

async function waitBatch(s: E2EStack, id: string, done: (b: any) => boolean, timeoutMs = 150_000): Promise<any> {
  const end = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < end) {
    last = (await s.call('GET', `/v1/batches/${id}`)).body;
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`batch ${id} did not get there in ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

describe('a 2x2 sweep with a window that opens later', () => {
  it('is scheduled, runs once the window opens, and ranks its four jobs in the API and the report', async () => {
    const s = await startE2EStack('batch-window');
    stacks.push(s);
    const notBefore = new Date(Date.now() + 6_000).toISOString();
    const sub = await s.call('POST', '/v1/batches', {
      name: 'sweep', base: BASE, grid: { 'model.layers.0.units': [2, 16], 'training.optimizer.learningRate': [0.001, 0.05] },
      schedule: { notBefore, deadline: new Date(Date.now() + 600_000).toISOString() },
    });
    // the optimizer is not in base: each job gets training.optimizer = {learningRate}, which needs a name
    expect(sub.status).toBe(400);
    expect(sub.body.error.message).toMatch(/^base\.training\.optimizer\.name: is required/);

    // submitted with the CLI, which follows it to the end
    const dir = mkdtempSync(path.join(tmpdir(), 'ns-batch-cli-'));
    writeFileSync(path.join(dir, 'batch.json'), JSON.stringify({
      name: 'sweep', base: { ...BASE, training: { ...BASE.training, optimizer: { name: 'adam' } } },
      grid: { 'model.layers.0.units': [2, 16], 'training.optimizer.learningRate': [0.001, 0.05] },
      schedule: { notBefore, deadline: new Date(Date.now() + 600_000).toISOString() },
    }));
    const cli = (args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ['bin/nightshift.js', '--url', s.url, '--key', s.key, ...args], { env: { ...process.env, NO_COLOR: '1' }, timeout: 180_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0, stdout: String(stdout), stderr: String(stderr) });
      });
    });
    const watching = cli(['batch', 'submit', path.join(dir, 'batch.json'), '--watch']);
    let listed: any;
    for (let i = 0; i < 100 && !listed; i++) {
      listed = (await s.call('GET', '/v1/batches?limit=1')).body.items[0];
      if (!listed) await new Promise((r) => setTimeout(r, 100));
    }
    expect(listed.status).toBe('scheduled');
    expect(listed.counts.scheduled).toBe(4);
    const id = listed.id;

    const watched = await watching;
    expect(watched.code, watched.stderr).toBe(0);
    expect(watched.stdout.trim()).toBe(id);
    expect(watched.stderr).toMatch(/scheduled 0\/12 units/);
    expect(watched.stderr).toMatch(/completed 12\/12 units/);

    const done = await waitBatch(s, id, (b) => b.status === 'completed');
    expect(done.counts.completed).toBe(4);
    expect(done.progress).toEqual({ unitsDone: 12, unitsTotal: 12 });
    for (const jobId of done.jobIds) {
      const job = (await s.call('GET', `/v1/jobs/${jobId}`)).body;
      expect(Date.parse(job.startedAt)).toBeGreaterThanOrEqual(Date.parse(notBefore));
    }
    const lb = done.leaderboard;
    expect(done.metric).toBe('mae');
    expect(lb.map((r: any) => r.rank)).toEqual([1, 2, 3, 4]);
    for (let i = 1; i < lb.length; i++) expect(lb[i].mean).toBeGreaterThanOrEqual(lb[i - 1].mean);
    expect(lb[0].best).toBe(true);
    for (const r of lb.slice(1)) {
      expect(r.sig.test).toBe('nadeau-bengio'); // same data set, same folds
      expect(typeof r.tiedWithBest).toBe('boolean');
    }
    // the mean a row shows is the job's own result
    const top = (await s.call('GET', `/v1/jobs/${lb[0].jobId}`)).body;
    expect(lb[0].mean).toBeCloseTo(top.result.mean, 10);

    const report = await s.call('GET', `/v1/batches/${id}/report`);
    expect(report.status).toBe(200);
    expect(report.body).toContain(`| 1 | ${lb[0].name} (${lb[0].jobId}) | best |`);
    const stored = await s3ArtifactStore(s.config.s3).get(`batches/${id}/report.md`);
    expect(stored?.toString('utf8')).toContain('# Batch sweep');

    const shown = await cli(['batch', id]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`\\n +1 +${lb[0].jobId} +completed .* best `));
    const md = await cli(['batch', 'report', id]);
    expect(md.stdout).toBe(report.body);
    const csv = await cli(['batch', 'report', id, '--csv']);
    expect(csv.stdout.split('\n')[1].startsWith(`1,${lb[0].jobId},`)).toBe(true);
    const all = await cli(['batches']);
    expect(all.stdout).toContain(`${id}  sweep`);
  }, 200_000);
});

describe('deadlines and restarts', () => {
  it('at the deadline, units that did not start leave the queue and running ones checkpoint and stop: the jobs are deadline_missed', async () => {
    const s = await startE2EStack('batch-deadline', { NIGHTSHIFT_MAX_INSTANCES: '1' });
    stacks.push(s);
    // units that train for minutes
    const deadline = Date.now() + 30_000;
    const sub = await s.call('POST', '/v1/batches', {
      name: 'late',
      base: {
        ...BASE,
        dataset: { uri: 'builtin:make_regression?n_samples=20000&n_features=4&n_informative=3&noise=5&random_state=3' },
        training: { ...BASE.training, epochs: 10_000 },
      },
      grid: { 'training.batchSize': [8, 16, 32] },
      schedule: { deadline: new Date(deadline).toISOString() },
    });
    expect(sub.status, JSON.stringify(sub.body)).toBe(201);
    const jobIds: string[] = sub.body.jobIds;

    // the jobs with a unit training shortly before the deadline
    let training: string[] = [];
    while (Date.now() < deadline - 2_000) {
      const jobs = await Promise.all(jobIds.map((j) => s.call('GET', `/v1/jobs/${j}`)));
      training = jobs.filter((j) => j.body.status === 'running' && (j.body.progress.epoch ?? 0) > 0).map((j) => j.body.id as string);
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(training.length, 'no unit was training before the deadline').toBeGreaterThan(0);

    const b = await waitBatch(s, sub.body.id, (x) => x.status === 'deadline_missed', 60_000);
    expect(b.counts.deadline_missed).toBe(3);
    const job = (await s.call('GET', `/v1/jobs/${b.jobIds[2]}`)).body;
    expect(job.error.code).toBe('deadline_missed');

    // units that had not started are gone from the queue (none waiting, prioritized or delayed)
    const bull = connectRedis(s.config.redisUrl, { forBullWorker: true });
    const queues = createQueues(bull, s.prefix);
    try {
      const ofBatch = async (states: JobType[]) => (await queues.units.getJobs(states)).filter((u) => u && jobIds.includes(u.data.jobId));
      const gone = Date.now() + 5_000;
      while ((await ofBatch(['waiting', 'prioritized', 'delayed', 'paused'])).length > 0 && Date.now() < gone) await new Promise((r) => setTimeout(r, 200));
      expect((await ofBatch(['waiting', 'prioritized', 'delayed', 'paused'])).map((u) => u.id)).toEqual([]);

      // running units stop at the end of their epoch: well before the 30 s after which they would be killed
      const deadlineAt = Date.now();
      for (;;) {
        const units = await Promise.all(jobIds.map((j: string) => s.call('GET', `/v1/jobs/${j}`)));
        expect(units.every((u) => u.body.status === 'deadline_missed')).toBe(true);
        const inst = (await fetch(`${s.url}/v1/instances`, { headers: { authorization: `Bearer ${s.key}-admin` } }).then((r) => r.json())) as any[];
        if (inst.every((i) => i.activeUnits === 0) && (await ofBatch(['active'])).length === 0) break;
        expect(Date.now() - deadlineAt, 'a running unit did not stop at the end of its epoch').toBeLessThan(20_000);
        await new Promise((r) => setTimeout(r, 500));
      }
      // ... after a checkpoint: the trainer reported the unit interrupted (a killed one answers "job deadline_missed")
      const ended = await ofBatch(['completed']);
      for (const u of ended) if (!('score' in (u.returnvalue ?? {}))) expect(u.returnvalue, u.id).toEqual({ skipped: 'deadline_missed' });
      expect(ended.filter((u) => training.includes(u.data.jobId) && u.returnvalue?.skipped === 'deadline_missed').length).toBeGreaterThan(0);
    } finally {
      await queues.close();
      bull.disconnect();
    }
  }, 150_000);

  it('a restart of the API and the provisioner while the batch is scheduled loses nothing', async () => {
    const a = await startE2EStack('batch-restart', {}, { keep: true });
    const notBefore = new Date(Date.now() + 5_000).toISOString();
    const sub = await a.call('POST', '/v1/batches', { name: 'survivor', base: BASE, grid: { 'training.batchSize': [8, 32] }, schedule: { notBefore } });
    expect(sub.status).toBe(201);
    await a.close();
    const b = await startE2EStack('batch-restart', {}, { reuse: { prefix: a.prefix, dataDir: a.dataDir } });
    stacks.push(b);
    const before = (await b.call('GET', `/v1/batches/${sub.body.id}`)).body;
    expect(before.status).toBe('scheduled');
    const done = await waitBatch(b, sub.body.id, (x) => x.status === 'completed');
    expect(done.counts.completed).toBe(2);
    expect(done.leaderboard.filter((r: any) => r.rank !== null)).toHaveLength(2);
  }, 200_000);
});
