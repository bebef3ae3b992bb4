/**
 * A tfjs IOHandler over an ArtifactStore: TF.js layers format under a prefix,
 * `<prefix>model.json` (modelTopology, weightsManifest -> weights.bin) and
 * `<prefix>weights.bin`. Works with every backend (no tfjs-node file:// needed).
 */
import type * as tfjs from '@tensorflow/tfjs';
import type { ArtifactStore } from '../core/artifacts.ts';
import { NightshiftError } from '../core/errors.ts';

type IOHandler = tfjs.io.IOHandler;
type ModelArtifacts = tfjs.io.ModelArtifacts;
type SaveResult = tfjs.io.SaveResult;

const norm = (prefix: string): string => (prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`);

function concat(data: ArrayBuffer | ArrayBuffer[]): Uint8Array {
  const parts = Array.isArray(data) ? data : [data];
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) (out.set(new Uint8Array(p), o), (o += p.byteLength));
  return out;
}

export function artifactStoreIO(store: ArtifactStore, prefix: string): IOHandler {
  const p = norm(prefix);
  return {
    async save(a: ModelArtifacts): Promise<SaveResult> {
      if (a.modelTopology instanceof ArrayBuffer) throw new Error('binary model topologies are not supported');
      const weights = a.weightData ? concat(a.weightData as ArrayBuffer | ArrayBuffer[]) : new Uint8Array(0);
      const modelJson = {
        modelTopology: a.modelTopology,
        format: a.format ?? 'layers-model',
        generatedBy: a.generatedBy ?? 'nightshift',
        convertedBy: a.convertedBy ?? null,
        weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs ?? [] }],
        ...(a.trainingConfig ? { trainingConfig: a.trainingConfig } : {}),
      };
      await store.put(`${p}weights.bin`, weights, 'application/octet-stream');
      await store.put(`${p}model.json`, JSON.stringify(modelJson), 'application/json');
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          modelTopologyBytes: JSON.stringify(a.modelTopology).length,
          weightSpecsBytes: JSON.stringify(a.weightSpecs ?? []).length,
          weightDataBytes: weights.byteLength,
        },
      };
    },
    async load(): Promise<ModelArtifacts> {
      const raw = await store.get(`${p}model.json`);
      if (!raw) throw new NightshiftError('model_unavailable', `no model at ${p}model.json`);
      const json = JSON.parse(raw.toString('utf8')) as {
        modelTopology: object; format?: string; generatedBy?: string; convertedBy?: string | null;
        weightsManifest: Array<{ paths: string[]; weights: tfjs.io.WeightsManifestEntry[] }>; trainingConfig?: tfjs.io.TrainingConfig;
      };
      const specs: tfjs.io.WeightsManifestEntry[] = [];
      const buffers: Uint8Array[] = [];
      for (const group of json.weightsManifest ?? []) {
        specs.push(...group.weights);
        for (const path of group.paths) {
          const b = await store.get(`${p}${path}`);
          if (!b) throw new NightshiftError('model_unavailable', `model weights ${p}${path} are missing`);
          buffers.push(b);
        }
      }
      const all = concat(buffers.map((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer));
      return {
        modelTopology: json.modelTopology,
        ...(json.format ? { format: json.format } : {}),
        ...(json.generatedBy ? { generatedBy: json.generatedBy } : {}),
        ...(json.convertedBy ? { convertedBy: json.convertedBy } : {}),
        ...(json.trainingConfig ? { trainingConfig: json.trainingConfig } : {}),
        weightSpecs: specs,
        weightData: all.buffer as ArrayBuffer,
      };
    },
  };
}

/** Save a trained model under `prefix` (model.json + weights.bin). */
export async function saveModelToStore(model: tfjs.LayersModel, store: ArtifactStore, prefix: string): Promise<void> {
  await model.save(artifactStoreIO(store, prefix), { includeOptimizer: false });
}

/** Load a model saved by saveModelToStore. */
export async function loadModelFromStore(tf: { loadLayersModel: typeof tfjs.loadLayersModel }, store: ArtifactStore, prefix: string): Promise<tfjs.LayersModel> {
  return tf.loadLayersModel(artifactStoreIO(store, prefix));
}
