/**
 * Worker-thread side of the predict pool (predict-pool.ts): keeps the models it was
 * given and answers predictions, so TensorFlow.js never runs on the API's event loop.
 * Messages: {id, op: 'load', model, prefix, files} | {id, op: 'predict', model, rows} |
 * {id, op: 'dispose', model}; answers {id, value} or {id, error} (a NightshiftError's
 * code, message and field).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { memoryArtifactStore } from '../core/artifacts.ts';
import { NightshiftError, toErrorInfo } from '../core/errors.ts';
import { createPredictor, type Predictor } from './predict.ts';
import { consoleBackendLog, type BackendName } from './tf-backend.ts';

export type PredictRequest =
  | { id: number; op: 'load'; model: string; prefix: string; files: Array<[string, Uint8Array]> }
  | { id: number; op: 'predict'; model: string; rows: number[][] }
  | { id: number; op: 'dispose'; model: string };

const backend = (workerData?.backend ?? undefined) as BackendName | undefined;
const models = new Map<string, Predictor>();
const log = consoleBackendLog('predict');

async function answer(req: PredictRequest): Promise<unknown> {
  switch (req.op) {
    case 'load': {
      const store = memoryArtifactStore();
      for (const [key, bytes] of req.files) await store.put(key, bytes);
      const p = await createPredictor(store, req.prefix, backend, log);
      models.get(req.model)?.dispose();
      models.set(req.model, p);
      return { featureCount: p.meta.featureCount };
    }
    case 'predict': {
      const p = models.get(req.model);
      if (!p) throw new NightshiftError('model_unavailable', 'the model is no longer loaded: try again');
      return p.predict(req.rows);
    }
    case 'dispose':
      models.get(req.model)?.dispose();
      models.delete(req.model);
      return null;
  }
}

parentPort!.on('message', (req: PredictRequest) => {
  answer(req).then(
    (value) => parentPort!.postMessage({ id: req.id, value }),
    (e: unknown) => parentPort!.postMessage({ id: req.id, error: toErrorInfo(e) }),
  );
});
