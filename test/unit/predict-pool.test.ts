/**
 * The API's prediction threads: a model saved in the TF.js layers format answers the
 * same predictions from a pool thread as in-process, errors keep their code and field
 * across the thread boundary, the pool never starts more threads than its size, refuses
 * work past its waiting cap with predict_busy (a 503 with Retry-After through the API's
 * error handler) and recovers, and replaces a thread that ends (its models reload).
 */
import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { memoryArtifactStore, type ArtifactStore } from '../../services/core/artifacts.ts';
import { saveModelToStore } from '../../services/platform/model-store.ts';
import type { ModelMeta } from '../../services/platform/model-meta.ts';
import { createPredictor } from '../../services/platform/predict.ts';
import { registerErrorHandling } from '../../services/api/errors.ts';
import { createPredictPool, predictPoolTestHooks, type PredictPoolOptions } from '../../services/platform/predict-pool.ts';

async function saveModel(store: ArtifactStore, jobId: string, w: [number, number], b: number, meta: Partial<ModelMeta> = {}): Promise<void> {
  await tf.setBackend('cpu');
  const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 1 })] });
  m.setWeights([tf.tensor2d([[w[0]], [w[1]]]), tf.tensor1d([b])]);
  await saveModelToStore(m, store, `jobs/${jobId}/model/`);
  m.dispose();
  await store.putJson(`jobs/${jobId}/model/meta.json`, { featureCount: 2, targetColumns: [2], outputs: 1, task: 'regression', encoding: 'none', ...meta } satisfies ModelMeta);
}

const pools: Array<ReturnType<typeof createPredictPool>> = [];
const pool = (threads: number, o: PredictPoolOptions = {}) => {
  const p = createPredictPool({ threads, backend: 'cpu', ...o });
  pools.push(p);
  return p;
};
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
});

describe('predict pool', () => {
  it('answers what the in-process predictor answers, labels included', async () => {
    const store = memoryArtifactStore();
    await saveModel(store, 'reg', [2, -1], 0.5);
    await saveModel(store, 'cls', [1, 1], 0, { task: 'binary', encoding: 'label', labels: ['no', 'yes'] });
    const p = pool(1);
    const rows = [[1, 2], [3, 0.5], [-1, -1]];
    const reg = await p.load(store, 'reg');
    const direct = await createPredictor(store, 'reg', 'cpu');
    const expected = await direct.predict(rows);
    expect(expected.predictions).toEqual([[0.5], [6], [-0.5]]);
    expect(await reg.predict(rows)).toEqual(expected);
    direct.dispose();
    const cls = await p.load(store, 'cls');
    expect(await cls.predict([[0.2, 0.1], [0.6, 0.7]])).toEqual({ predictions: [[0.30000001192092896], [1.2999999523162842]], labels: ['no', 'yes'] });
  });

  it('keeps error codes and fields across the thread', async () => {
    const store = memoryArtifactStore();
    await saveModel(store, 'j', [1, 1], 0);
    const p = pool(1);
    const m = await p.load(store, 'j');
    await expect(m.predict([[1, 2], [1, Number.NaN]])).rejects.toMatchObject({ code: 'predict_input_invalid', field: 'rows.1.1' });
    await expect(p.load(store, 'missing')).rejects.toMatchObject({ code: 'model_unavailable' });
    await store.deletePrefix('jobs/j/model/weights.bin');
    await expect(p.load(store, 'j')).rejects.toMatchObject({ code: 'model_unavailable', message: expect.stringContaining('weights.bin') });
    m.dispose();
    await expect.poll(() => m.predict([[1, 2]]).catch((e: { code: string }) => e.code)).toBe('model_unavailable');
  });

  it('starts no more threads than its size, and refuses work once closed', async () => {
    const store = memoryArtifactStore();
    const p = pool(2);
    const loaded = [];
    for (let i = 0; i < 5; i++) {
      await saveModel(store, `m${i}`, [i, 1], 0);
      loaded.push(await p.load(store, `m${i}`));
    }
    expect(p.threads).toBe(2);
    const answers = await Promise.all(loaded.map((m) => m.predict([[1, 1]])));
    expect(answers.map((a) => a.predictions[0][0])).toEqual([1, 2, 3, 4, 5]);
    await p.close();
    await expect(p.load(store, 'm0')).rejects.toMatchObject({ code: 'unavailable' });
    await expect(loaded[0].predict([[1, 1]])).rejects.toMatchObject({ code: 'unavailable' });
  });

  it('refuses predictions past its waiting cap with a 503 predict_busy and Retry-After, then recovers', async () => {
    const store = memoryArtifactStore();
    await saveModel(store, 'busy', [1, 2], 0);
    const p = pool(1, { maxWaiting: 1 });
    const m = await p.load(store, 'busy');
    const app = Fastify({ logger: false });
    registerErrorHandling(app);
    app.post('/predict', async (req) => m.predict((req.body as { rows: number[][] }).rows));
    try {
      const rows = Array.from({ length: 2000 }, (_, i) => [i, 1]);
      const answers = await Promise.all(Array.from({ length: 6 }, () => app.inject({ method: 'POST', url: '/predict', payload: { rows } })));
      expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 503, 503, 503, 503]);
      const busy = answers[2];
      expect(busy.headers['retry-after']).toMatch(/^\d+$/);
      expect(busy.json()).toEqual({ error: { code: 'predict_busy', message: expect.stringContaining('busy') } });
      expect(answers[0].json().predictions[5]).toEqual([7]);
      const again = await app.inject({ method: 'POST', url: '/predict', payload: { rows: [[1, 1]] } });
      expect(again.statusCode).toBe(200);
      expect(again.json()).toEqual({ predictions: [[3]] });
    } finally {
      await app.close();
    }
  });

  it('replaces a thread that ends, and its models answer again on their next prediction', async () => {
    const store = memoryArtifactStore();
    await saveModel(store, 'a', [1, 0], 1);
    await saveModel(store, 'b', [0, 1], 2);
    const p = pool(2);
    const a = await p.load(store, 'a');
    const b = await p.load(store, 'b');
    expect(await a.predict([[5, 5]])).toEqual({ predictions: [[6]] });
    await predictPoolTestHooks.get(p)!.terminate(0);
    expect(p.threads).toBe(2);
    expect(await a.predict([[5, 5]])).toEqual({ predictions: [[6]] });
    expect(await b.predict([[5, 5]])).toEqual({ predictions: [[7]] });
    expect(await a.predict([[-1, 3]])).toEqual({ predictions: [[0]] });
  });
});
