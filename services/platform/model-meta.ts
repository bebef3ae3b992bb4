/**
 * The meta.json a trained model is saved with (under the model's prefix, next to
 * model.json and weights.bin): the encoding the trainer fitted, which predict uses to
 * preprocess rows and to decode outputs back to the original labels.
 */
import type { Scaling } from '../core/preprocess.ts';

export type Task = 'regression' | 'binary' | 'multiclass';
export type Encoding = 'none' | 'label' | 'onehot' | 'sparse';

export interface ModelMeta {
  featureCount: number;
  /** resolved (non-negative) indices of the target columns in the data set */
  targetColumns: number[];
  /** width of the model's output layer */
  outputs: number;
  task: Task;
  /** original class labels, index = encoded class */
  labels?: string[];
  encoding: Encoding;
  /** kept for models that standardize every feature; `scaling` is what predict applies */
  standardize?: { mean: number[]; std: number[] };
  /** per-feature scaling fitted on the training rows: x' = (x - offset) / scale */
  scaling?: Scaling;
}

/** Model outputs -> API predictions, with original labels for classifiers. */
export function decodePredictions(meta: ModelMeta, outputs: number[][]): { predictions: number[][]; labels?: string[] } {
  const labels = meta.labels;
  if (!labels || meta.encoding === 'none') return { predictions: outputs };
  const out: string[] = outputs.map((o) => {
    if (meta.encoding === 'onehot' || meta.encoding === 'sparse') {
      let best = 0;
      for (let i = 1; i < o.length; i++) if (o[i] > o[best]) best = i;
      return labels[best];
    }
    const i = Math.min(labels.length - 1, Math.max(0, Math.round(o[0])));
    return labels[i];
  });
  return { predictions: outputs, labels: out };
}
