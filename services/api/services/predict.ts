/**
 * Predictions from a job's final model. The model is loaded once per job by the
 * injected predictor factory and kept in a small LRU; the row width is checked
 * against the model's feature count before predicting so a wrong row is a 400 naming it.
 */
import type { ArtifactStore } from '../../core/artifacts.ts';
import { NightshiftError } from '../../core/errors.ts';
import type { Job } from '../../core/job.ts';
import { keys } from '../../core/keys.ts';
import type { Prediction } from '../../core/views.ts';

export type { Prediction } from '../../core/views.ts';

export interface Predictor {
  predict(rows: number[][]): Promise<Prediction>;
  dispose?(): void;
}

/** Loads the final model of a job (by default into the API's prediction threads, platform/predict-pool.ts). */
export type PredictorFactory = (store: ArtifactStore, jobId: string) => Promise<Predictor>;

export const PREDICT_MAX_ROWS = 10_000;

/** A job's final model, loaded, with the row width its meta.json names. */
export interface LoadedModel {
  predictor: Predictor;
  featureCount?: number;
}

/** Least-recently-used cache of loading/loaded models by job id; a load that fails is forgotten. */
export function modelCache(load: (jobId: string) => Promise<LoadedModel>, size = 16) {
  const m = new Map<string, Promise<LoadedModel>>();
  return {
    get(jobId: string): Promise<LoadedModel> {
      let p = m.get(jobId);
      if (p) {
        m.delete(jobId);
        m.set(jobId, p);
        return p;
      }
      p = load(jobId);
      m.set(jobId, p);
      p.catch(() => m.get(jobId) === p && m.delete(jobId));
      while (m.size > size) {
        const [oldest, evicted] = m.entries().next().value as [string, Promise<LoadedModel>];
        m.delete(oldest);
        evicted.then((x) => x.predictor.dispose?.(), () => undefined);
      }
      return p;
    },
    get size() {
      return m.size;
    },
  };
}

export function createPredictService({ artifacts, predictor, cacheSize = 16 }: { artifacts: ArtifactStore; predictor: PredictorFactory; cacheSize?: number }) {
  // a completed job's model never changes: its files are checked and loaded on the
  // first predict, and later requests touch the bucket no more
  const models = modelCache(async (jobId) => {
    const meta = await artifacts.getJson<{ featureCount?: number }>(keys.modelMeta(jobId));
    if (!meta || !(await artifacts.exists(keys.modelJson(jobId)))) {
      throw new NightshiftError('model_unavailable', `job ${jobId} has no final model: submit it with final.fit: true to keep a model for predict`);
    }
    return { predictor: await predictor(artifacts, jobId), featureCount: meta.featureCount };
  }, cacheSize);

  return {
    async predict(job: Job, rows: number[][]): Promise<Prediction> {
      if (job.status !== 'completed') {
        throw new NightshiftError('model_unavailable', `job ${job.id} is ${job.status}; predict needs a completed job with final.fit: true (wait for it to complete)`);
      }
      const model = await models.get(job.id);
      const expected = model.featureCount ?? rows[0].length;
      rows.forEach((row, i) => {
        if (row.length !== expected) {
          throw new NightshiftError('predict_input_invalid', `rows.${i}: expected ${expected} values (one per feature column), got ${row.length}`, { field: `rows.${i}` });
        }
      });
      return model.predictor.predict(rows);
    },
  };
}

export type PredictService = ReturnType<typeof createPredictService>;
