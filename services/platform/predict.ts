/**
 * Predictions from the final model of a job: loads model.json/weights.bin and
 * meta.json once, then validates rows, scales them with the training
 * statistics, runs the model and maps outputs back to the original labels.
 */
import type * as tfjs from '@tensorflow/tfjs';
import type { ArtifactStore } from '../core/artifacts.ts';
import { NightshiftError } from '../core/errors.ts';
import { keys } from '../core/keys.ts';
import { selectBackend, type BackendLog, type BackendName } from './tf-backend.ts';
import { decodePredictions, type ModelMeta } from './model-meta.ts';
import { loadModelFromStore } from './model-store.ts';

export interface Predictor {
  meta: ModelMeta;
  predict(rows: number[][]): Promise<{ predictions: number[][]; labels?: string[] }>;
  dispose(): void;
}

/** `prefixOrJobId`: an artifact prefix ending in '/' (e.g. jobs/<id>/model/) or a job id; `log` receives the backend selection's lines. */
export async function createPredictor(store: ArtifactStore, prefixOrJobId: string, backend?: BackendName, log?: BackendLog): Promise<Predictor> {
  const prefix = prefixOrJobId.endsWith('/') ? prefixOrJobId : keys.modelPrefix(prefixOrJobId);
  const meta = await store.getJson<ModelMeta>(`${prefix}meta.json`);
  if (!meta) throw new NightshiftError('model_unavailable', `no trained model at ${prefix} (the job has no final model yet)`);
  const { tf } = await selectBackend(backend, log);
  const model = await loadModelFromStore(tf, store, prefix);
  const width = meta.featureCount;
  return {
    meta,
    async predict(rows) {
      if (!Array.isArray(rows) || rows.length === 0) throw new NightshiftError('predict_input_invalid', 'rows: give at least one row', { field: 'rows' });
      const x = new Float32Array(rows.length * width);
      rows.forEach((r, i) => {
        if (!Array.isArray(r) || r.length !== width) {
          throw new NightshiftError('predict_input_invalid', `rows.${i}: expected ${width} feature values, got ${Array.isArray(r) ? r.length : typeof r}`, { field: `rows.${i}` });
        }
        for (let j = 0; j < width; j++) {
          const v = r[j];
          if (typeof v !== 'number' || !Number.isFinite(v)) throw new NightshiftError('predict_input_invalid', `rows.${i}.${j}: not a finite number`, { field: `rows.${i}.${j}` });
          x[i * width + j] = meta.scaling ? (v - meta.scaling.offset[j]) / meta.scaling.scale[j]
            : meta.standardize ? (v - meta.standardize.mean[j]) / meta.standardize.std[j] : v;
        }
      });
      const out = tf.tidy(() => (model.predict(tf.tensor2d(x, [rows.length, width])) as tfjs.Tensor).arraySync() as number[][]);
      return decodePredictions(meta, out);
    },
    dispose: () => model.dispose(),
  };
}
