/**
 * Predictions from a job's final model. The model is loaded once per job by the
 * injected predictor factory and kept in a small LRU; the row width is checked
 * against the model's feature count first so a wrong row is a 400 naming it.
 */
import type { ArtifactStore } from '../../core/artifacts.ts';
import { NightshiftError } from '../../core/errors.ts';
import type { Job } from '../../core/job.ts';
import { keys } from '../../core/keys.ts';

export interface Prediction {
  predictions: number[][];
  labels?: string[];
}

export interface Predictor {
  predict(rows: number[][]): Promise<Prediction>;
  dispose?(): void;
}

/** Loads the final model of a job (workers/trainer/ml/predict.ts createPredictor). */
export type PredictorFactory = (store: ArtifactStore, jobId: string) => Promise<Predictor>;

export const PREDICT_MAX_ROWS = 10_000;

/** Least-recently-used cache of loading/loaded predictors by job id. */
export function predictorCache(factory: PredictorFactory, artifacts: ArtifactStore, size = 16) {
  const m = new Map<string, Promise<Predictor>>();
  return {
    get(jobId: string): Promise<Predictor> {
      let p = m.get(jobId);
      if (p) {
        m.delete(jobId);
        m.set(jobId, p);
        return p;
      }
      p = factory(artifacts, jobId);
      m.set(jobId, p);
      p.catch(() => m.get(jobId) === p && m.delete(jobId));
      while (m.size > size) {
        const [oldest, evicted] = m.entries().next().value as [string, Promise<Predictor>];
        m.delete(oldest);
        evicted.then((x) => x.dispose?.(), () => undefined);
      }
      return p;
    },
    get size() {
      return m.size;
    },
  };
}

export function createPredictService({ artifacts, predictor, cacheSize = 16 }: { artifacts: ArtifactStore; predictor?: PredictorFactory; cacheSize?: number }) {
  const cache = predictor ? predictorCache(predictor, artifacts, cacheSize) : undefined;

  return {
    async predict(job: Job, rows: number[][]): Promise<Prediction> {
      if (job.status !== 'completed') {
        throw new NightshiftError('model_unavailable', `job ${job.id} is ${job.status}; predict needs a completed job with final.fit: true (wait for it to complete)`);
      }
      const meta = await artifacts.getJson<{ featureCount?: number }>(keys.modelMeta(job.id));
      if (!meta || !(await artifacts.exists(keys.modelJson(job.id)))) {
        throw new NightshiftError('model_unavailable', `job ${job.id} has no final model: submit it with final.fit: true to keep a model for predict`);
      }
      const width = meta.featureCount;
      rows.forEach((row, i) => {
        const expected = width ?? rows[0].length;
        if (row.length !== expected) {
          throw new NightshiftError('predict_input_invalid', `rows.${i}: expected ${expected} values (one per feature column), got ${row.length}`, { field: `rows.${i}` });
        }
      });
      if (!cache) throw new NightshiftError('model_unavailable', 'this server has no model runtime for predict');
      return (await cache.get(job.id)).predict(rows);
    },
  };
}

export type PredictService = ReturnType<typeof createPredictService>;
