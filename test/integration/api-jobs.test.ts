/**
 * Job routes over a real Redis (store + BullMQ) and the embedded S3 server:
 * submit, list, get, cancel, history, artifacts, predict, events; tenant isolation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../services/api/app.ts';
import { createPredictService, type PredictorFactory } from '../../services/api/services/predict.ts';
import { memoryArtifactStore } from '../../services/core/artifacts.ts';
import { unitJobId } from '../../services/core/catalog.ts';
import { keys } from '../../services/core/keys.ts';
import type { Job, UnitResult } from '../../services/core/job.ts';
import { createTestStack, type TestStack } from '../../support/app.ts';
import { smallRegressionSpec } from '../../support/specs.ts';

let stack: TestStack;
const predictorLoads: string[] = [];
/** Stands in for the trainer's predictor: the "model" sums each row. */
const fakePredictor: PredictorFactory = async (artifacts, jobId) => {
  predictorLoads.push(jobId);
  if (!(await artifacts.exists(keys.modelJson(jobId)))) throw new Error('no model');
  return { predict: async (rows) => ({ predictions: rows.map((r) => [r.reduce((a, b) => a + b, 0)]), labels: rows.map((r) => (r[0] > 0 ? 'pos' : 'neg')) }) };
};

const spec = smallRegressionSpec;

async function submit(tenant = 'acme', body: object = spec()): Promise<string> {
  const res = await stack.app.inject({ method: 'POST', url: '/v1/jobs', headers: stack.auth(tenant), payload: body });
  expect(res.statusCode, res.body).toBe(202);
  return res.json().id;
}

const get = (url: string, tenant = 'acme') => stack.app.inject({ url, headers: stack.auth(tenant) });

beforeAll(async () => {
  stack = await createTestStack({ label: 'api-jobs', deps: { predictor: fakePredictor } });
});
afterAll(async () => {
  await stack?.close();
});

describe('submit, get, list', () => {
  it('stores the job and queues one BullMQ unit per fold plus the final fit; spec.json answers from the record until the job\'s results write it', async () => {
    const res = await stack.app.inject({ method: 'POST', url: '/v1/jobs', headers: stack.auth('acme'), payload: spec() });
    expect(res.statusCode).toBe(202);
    const { id, status } = res.json();
    expect(status).toBe('queued');
    expect(res.headers.location).toBe(`/v1/jobs/${id}`);
    const job = (await get(`/v1/jobs/${id}`)).json();
    expect(job).toMatchObject({ id, name: 'reg', tenant: 'acme', status: 'queued', progress: { unitsDone: 0, unitsTotal: 4 } });
    expect(await stack.artifacts.exists(keys.jobFile(id, 'spec.json'))).toBe(false);
    const file = await get(`/v1/jobs/${id}/artifacts/spec.json`);
    expect(file.statusCode).toBe(200);
    expect(file.json()).toEqual(spec());
    for (const key of ['r0-p0-f0', 'r0-p0-f1', 'r0-p0-f2', 'final']) {
      const unit = await stack.queues.units.getJob(unitJobId(id, key));
      expect(unit?.data).toMatchObject({ jobId: id, tenant: 'acme', unit: { key }, resourceClass: 'any' });
    }
    expect(await stack.queues.jobs.getJob(id)).toBeDefined();
  });

  it('lists only the caller\'s jobs, newest first, with a cursor; admins see every tenant', async () => {
    const a1 = await submit('acme');
    const a2 = await submit('acme');
    const g1 = await submit('globex');
    const page1 = (await get('/v1/jobs?limit=1')).json();
    expect(page1.items.map((j: { id: string }) => j.id)).toEqual([a2]);
    expect(page1.nextCursor).toBe(a2);
    const page2 = (await get(`/v1/jobs?limit=1&cursor=${page1.nextCursor}`)).json();
    expect(page2.items.map((j: { id: string }) => j.id)).toEqual([a1]);
    const theirs = (await get('/v1/jobs?limit=200', 'globex')).json().items.map((j: { id: string }) => j.id);
    expect(theirs).toContain(g1);
    expect(theirs).not.toContain(a1);
    const all = (await get('/v1/jobs?limit=200', 'admin')).json().items.map((j: { id: string }) => j.id);
    expect(all).toEqual(expect.arrayContaining([a1, a2, g1]));
    const queued = (await get('/v1/jobs?status=completed')).json();
    expect(queued.items).toEqual([]);
  });

  it('hides another tenant\'s job behind 404 on every route', async () => {
    const id = await submit('acme');
    for (const url of [`/v1/jobs/${id}`, `/v1/jobs/${id}/history`, `/v1/jobs/${id}/artifacts/spec.json`, `/v1/jobs/${id}/events`]) {
      const res = await get(url, 'globex');
      expect(res.statusCode, url).toBe(404);
      expect(res.json().error.code).toBe('not_found');
    }
    const del = await stack.app.inject({ method: 'DELETE', url: `/v1/jobs/${id}`, headers: stack.auth('globex') });
    expect(del.statusCode).toBe(404);
    const pred = await stack.app.inject({ method: 'POST', url: `/v1/jobs/${id}/predict`, headers: stack.auth('globex'), payload: { rows: [[1, 2, 3]] } });
    expect(pred.statusCode).toBe(404);
    expect((await get(`/v1/jobs/${id}`, 'admin')).statusCode).toBe(200);
    expect(await stack.store.getStatus(id)).toBe('queued');
  });

  it('marks the job failed and says so when it cannot be queued', async () => {
    const readonly = async () => {
      throw new Error('READONLY You can\'t write against a read only replica.');
    };
    const failing = { ...stack.queues, flow: { add: readonly, addBulk: readonly } } as unknown as typeof stack.queues;
    const app = await buildApp({ config: stack.config, store: stack.store, queues: failing, artifacts: stack.artifacts, logger: false });
    try {
      const res = await app.inject({ method: 'POST', url: '/v1/jobs', headers: { authorization: stack.auth('globex').authorization }, payload: spec({ name: 'unlucky' }) });
      expect(res.statusCode).toBe(500);
      expect(res.json().error.message).toMatch(/could not be queued and was marked failed/);
      expect(res.body).not.toMatch(/READONLY/);
      const id = /job (\S+) could not/.exec(res.json().error.message)![1];
      const job = await stack.store.getJob(id);
      expect(job).toMatchObject({ name: 'unlucky', status: 'failed', error: { code: 'internal' } });
    } finally {
      await app.close();
    }
  });
});

describe('submissions that arrive together', () => {
  it('are committed together: every one is stored and queued, in fewer BullMQ calls than jobs', async () => {
    let calls = 0;
    const counting = { ...stack.queues, flow: { addBulk: (flows: unknown[]) => (calls++, stack.queues.flow.addBulk(flows as Parameters<typeof stack.queues.flow.addBulk>[0])) } } as unknown as typeof stack.queues;
    const app = await buildApp({ config: stack.config, store: stack.store, queues: counting, artifacts: stack.artifacts, logger: false });
    try {
      const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => app.inject({ method: 'POST', url: '/v1/jobs', headers: stack.auth('acme'), payload: spec({ name: `together-${i}` }) })));
      expect(answers.map((a) => a.statusCode)).toEqual(answers.map(() => 202));
      const ids = answers.map((a) => a.json().id as string);
      expect(new Set(ids).size).toBe(40);
      for (const id of ids) {
        expect(await stack.store.getStatus(id)).toBe('queued');
        expect(await stack.queues.units.getJob(unitJobId(id, 'r0-p0-f0')), id).toBeDefined();
      }
      expect(calls).toBeGreaterThanOrEqual(1);
      expect(calls).toBeLessThan(40);
    } finally {
      await app.close();
    }
  });
});

describe('DELETE /v1/jobs/:id', () => {
  it('cancels a queued job and removes its pending units from BullMQ', async () => {
    const id = await submit();
    const res = await stack.app.inject({ method: 'DELETE', url: `/v1/jobs/${id}`, headers: stack.auth('acme') });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id, status: 'cancelled', finishedAt: expect.any(String) });
    for (const key of ['r0-p0-f0', 'r0-p0-f1', 'r0-p0-f2', 'final']) {
      expect(await stack.queues.units.getJob(unitJobId(id, key)), key).toBeUndefined();
    }
    const again = await stack.app.inject({ method: 'DELETE', url: `/v1/jobs/${id}`, headers: stack.auth('acme') });
    expect(again.statusCode).toBe(409);
    expect(again.json().error).toMatchObject({ code: 'conflict', message: expect.stringMatching(/already cancelled/) });
  });

  it('answers 409 for a completed job and 404 for an unknown one', async () => {
    const id = await submit();
    await stack.store.setStatus(id, 'completed');
    const res = await stack.app.inject({ method: 'DELETE', url: `/v1/jobs/${id}`, headers: stack.auth('acme') });
    expect(res.statusCode).toBe(409);
    expect(res.json().error.message).toMatch(/completed/);
    const unknown = await stack.app.inject({ method: 'DELETE', url: '/v1/jobs/job_0000000000000000000000', headers: stack.auth('acme') });
    expect(unknown.statusCode).toBe(404);
  });
});

describe('history and artifacts', () => {
  const unitHistory = (key: string, kind: 'eval' | 'final', fold: number) => ({ key, kind, run: 0, repeat: 0, fold, epochs: [{ epoch: 0, loss: 2 - fold / 10 }, { epoch: 1, loss: 1 }] });

  it('assembles the history from unit files while the job runs, then uses history.json', async () => {
    const id = await submit();
    expect((await get(`/v1/jobs/${id}/history`)).json()).toEqual({ units: [] });
    await stack.artifacts.putJson(keys.unitHistory(id, 'r0-p0-f2'), unitHistory('r0-p0-f2', 'eval', 2));
    await stack.artifacts.putJson(keys.unitHistory(id, 'r0-p0-f0'), unitHistory('r0-p0-f0', 'eval', 0));
    await stack.artifacts.putJson(keys.unitHistory(id, 'final'), unitHistory('final', 'final', 0));
    await stack.artifacts.putJson(keys.unitResult(id, 'r0-p0-f0'), { key: 'r0-p0-f0' });
    const live = (await get(`/v1/jobs/${id}/history`)).json();
    expect(live.units.map((u: { key: string }) => u.key)).toEqual(['r0-p0-f0', 'r0-p0-f2']);
    expect(live.units[1].epochs).toEqual([{ epoch: 0, loss: 1.8 }, { epoch: 1, loss: 1 }]);
    expect(live.final.key).toBe('final');
    await stack.artifacts.putJson(keys.history(id), { units: [unitHistory('r0-p0-f1', 'eval', 1)] });
    expect((await get(`/v1/jobs/${id}/history`)).json()).toEqual({ units: [unitHistory('r0-p0-f1', 'eval', 1)] });
  });

  it('serves artifacts by name with their content type, 404 for unknown or missing names', async () => {
    const id = await submit();
    await stack.artifacts.put(keys.modelWeights(id), Buffer.from([1, 2, 3, 4]));
    await stack.artifacts.putJson(keys.unitHistory(id, 'r0-p0-f1'), unitHistory('r0-p0-f1', 'eval', 1));
    const weights = await get(`/v1/jobs/${id}/artifacts/weights.bin`);
    expect(weights.statusCode).toBe(200);
    expect(weights.headers['content-type']).toBe('application/octet-stream');
    expect([...weights.rawPayload]).toEqual([1, 2, 3, 4]);
    const unit = await get(`/v1/jobs/${id}/artifacts/units/r0-p0-f1/history.json`);
    expect(unit.statusCode).toBe(200);
    expect(unit.headers['content-type']).toMatch(/^application\/json/);
    expect(unit.json().key).toBe('r0-p0-f1');
    const unknown = await get(`/v1/jobs/${id}/artifacts/../../datasets/acme/x.csv`);
    expect(unknown.statusCode).toBe(404);
    const notYet = await get(`/v1/jobs/${id}/artifacts/summary.json`);
    expect(notYet.statusCode).toBe(404);
    expect(notYet.json().error.message).toMatch(/summary\.json/);
  });

  it('redirects to a presigned URL that serves the file', async () => {
    const id = await submit();
    // written with the job's results (the aggregate step); before that the record answers, without a redirect
    expect((await get(`/v1/jobs/${id}/artifacts/spec.json?redirect=true`)).statusCode).toBe(200);
    await stack.artifacts.putJson(keys.jobFile(id, 'spec.json'), spec());
    const res = await get(`/v1/jobs/${id}/artifacts/spec.json?redirect=true`);
    expect(res.statusCode).toBe(302);
    const fetched = await fetch(res.headers.location as string);
    expect(fetched.status).toBe(200);
    expect(await fetched.json()).toEqual(spec());
  });
});

describe('POST /v1/jobs/:id/predict', () => {
  it('answers 409 model_unavailable until the job has completed with a final model', async () => {
    const id = await submit();
    const early = await stack.app.inject({ method: 'POST', url: `/v1/jobs/${id}/predict`, headers: stack.auth('acme'), payload: { rows: [[1, 2, 3]] } });
    expect(early.statusCode).toBe(409);
    expect(early.json().error).toMatchObject({ code: 'model_unavailable', message: expect.stringMatching(/queued.*final\.fit: true/) });
    await stack.store.setStatus(id, 'completed');
    const noModel = await stack.app.inject({ method: 'POST', url: `/v1/jobs/${id}/predict`, headers: stack.auth('acme'), payload: { rows: [[1, 2, 3]] } });
    expect(noModel.statusCode).toBe(409);
    expect(noModel.json().error.message).toMatch(/no final model.*final\.fit: true/);
    expect(predictorLoads).not.toContain(id);
  });

  it('predicts with the loaded model, loading it once, and names a row of the wrong width', async () => {
    const id = await submit();
    await stack.artifacts.putJson(keys.modelJson(id), { modelTopology: {} });
    await stack.artifacts.putJson(keys.modelMeta(id), { featureCount: 3, targetColumns: [3], outputs: 1, task: 'binary', encoding: 'label' });
    await stack.store.setStatus(id, 'completed');
    const predict = (rows: unknown) => stack.app.inject({ method: 'POST', url: `/v1/jobs/${id}/predict`, headers: stack.auth('acme'), payload: { rows } });
    const ok = await predict([[1, 2, 3], [-1, 0, 0]]);
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ predictions: [[6], [-1]], labels: ['pos', 'neg'] });
    expect((await predict([[0, 0, 1]])).json().predictions).toEqual([[1]]);
    expect(predictorLoads.filter((j) => j === id)).toHaveLength(1);
    const wide = await predict([[1, 2, 3], [1, 2, 3, 4]]);
    expect(wide.statusCode).toBe(400);
    expect(wide.json().error).toMatchObject({ field: 'rows.1', message: expect.stringMatching(/^rows\.1: expected 3 values/) });
    const text = await predict([[1, 'two', 3]]);
    expect(text.statusCode).toBe(400);
    expect(text.json().error.message).toMatch(/^rows\.0\.1: must be number/);
    const tooMany = await predict(Array.from({ length: 10_001 }, () => [1, 2, 3]));
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json().error.message).toMatch(/^rows: must NOT have more than 10000 items/);
  });
});

describe('predict service', () => {
  it('reads a model\'s files from the bucket on the first request only', async () => {
    const store = memoryArtifactStore();
    await store.putJson(keys.modelJson('job_a'), { modelTopology: {} });
    await store.putJson(keys.modelMeta('job_a'), { featureCount: 2 });
    const reads: string[] = [];
    const counting = { ...store, getJson: <T>(k: string) => (reads.push(k), store.getJson<T>(k)), exists: (k: string) => (reads.push(k), store.exists(k)) };
    const predict = createPredictService({ artifacts: counting, predictor: async () => ({ predict: async (rows) => ({ predictions: rows.map((r) => [r[0] - r[1]]) }) }) });
    const job = { id: 'job_a', status: 'completed' } as Job;
    expect(await predict.predict(job, [[3, 1]])).toEqual({ predictions: [[2]] });
    const first = reads.length;
    expect(first).toBeGreaterThan(0);
    expect(await predict.predict(job, [[5, 1], [1, 1]])).toEqual({ predictions: [[4], [0]] });
    await expect(predict.predict(job, [[1, 2, 3]])).rejects.toMatchObject({ code: 'predict_input_invalid', field: 'rows.0' });
    expect(reads).toHaveLength(first);
  });
});

describe('GET /v1/jobs/:id/events', () => {
  it('sends the current job and ends at once for a finished job', async () => {
    const id = await submit();
    await stack.store.setStatus(id, 'failed', { error: { code: 'dataset_invalid', message: 'bad' } });
    const res = await get(`/v1/jobs/${id}/events`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    const events = res.body.trim().split('\n\n');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatch(/^event: job\ndata: /);
    expect(JSON.parse(events[0].split('data: ')[1])).toMatchObject({ id, status: 'failed' });
  });

  it('streams progress and status until the job is terminal, and unsubscribes when the client leaves', async () => {
    await stack.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = stack.app.server.address() as { port: number };
    const id = await submit();
    const res = await fetch(`http://127.0.0.1:${port}/v1/jobs/${id}/events`, { headers: stack.auth('acme') });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    const until = async (re: RegExp) => {
      while (!re.test(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
    };
    await until(/event: job\n/);
    await stack.store.setStatus(id, 'running');
    await stack.store.progress(id, 'r0-p0-f0', 1, 2, { loss: 0.5 });
    const unit: UnitResult = { key: 'r0-p0-f0', kind: 'eval', run: 0, repeat: 0, fold: 0, score: 0.4, epochs: 2, trainRows: 66, testRows: 34, durationMs: 5, backend: 'cpu', engine: 'tfjs', worker: 'w1' };
    await stack.store.unitDone(id, unit);
    await stack.store.setStatus(id, 'completed');
    await until(/"status":"completed"/);
    const { done } = await reader.read();
    expect(done).toBe(true);
    const kinds = [...text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    expect(kinds).toEqual(['job', 'status', 'progress', 'unit', 'status']);
    expect(text).toMatch(/"epoch":1,"epochs":2,"logs":\{"loss":0.5\}/);

    // a client that leaves early: the Redis subscription goes away with it
    const id2 = await submit();
    const channel = stack.store.keys.events(id2);
    const ac = new AbortController();
    const res2 = await fetch(`http://127.0.0.1:${port}/v1/jobs/${id2}/events`, { headers: stack.auth('acme'), signal: ac.signal });
    await res2.body!.getReader().read();
    const subscribers = async () => Number(((await stack.redis.pubsub('NUMSUB', channel)) as [string, number])[1]);
    expect(await subscribers()).toBe(1);
    ac.abort();
    for (let i = 0; i < 50 && (await subscribers()) > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await subscribers()).toBe(0);
  });
  it('serves every event stream of the process from one Redis subscriber connection', async () => {
    if (!stack.app.server.listening) await stack.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = stack.app.server.address() as { port: number };
    const ids = [await submit(), await submit(), await submit()];
    const ac = new AbortController();
    const readers: Array<ReadableStreamDefaultReader<Uint8Array>> = [];
    for (let i = 0; i < 12; i++) {
      const tenant = i % 2 ? 'acme' : 'admin';
      const res = await fetch(`http://127.0.0.1:${port}/v1/jobs/${ids[i % 3]}/events`, { headers: stack.auth(tenant), signal: ac.signal });
      expect(res.status).toBe(200);
      const r = res.body!.getReader();
      await r.read();
      readers.push(r);
    }
    const clients = String(await stack.redis.client('LIST')).split('\n').filter((l) => l.includes(`name=nightshift-events:${stack.prefix} `));
    expect(clients).toHaveLength(1);
    for (const id of ids) {
      expect(((await stack.redis.pubsub('NUMSUB', stack.store.keys.events(id))) as [string, number])[1]).toBe(1);
    }
    // one event reaches every stream of its job
    await stack.store.progress(ids[0], 'r0-p0-f0', 1, 2);
    const got = await Promise.all(readers.filter((_, i) => i % 3 === 0).map(async (r) => new TextDecoder().decode((await r.read()).value)));
    expect(got).toHaveLength(4);
    for (const t of got) expect(t).toMatch(/^event: progress\n/);
    ac.abort();
  });
});
