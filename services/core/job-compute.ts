/**
 * Compute a job asks for, from its resolved spec and the data set's summary.
 */
import { computeEstimate, denseParameters, kerasShape, type ComputeEstimate } from './model-limits.ts';
import type { DatasetSummary } from './dataset-summary.ts';
import { unitCount, type ResolvedJobSpec } from './job-defaults.ts';

/**
 * Compute a job asks for (parameters x rows x epochs x training units), when the
 * data set's shape is known at submission (uploads and builtin generators); the
 * parameters count the dense layers' weights and biases.
 */
export function jobCompute(r: ResolvedJobSpec, dataset: DatasetSummary | undefined): ComputeEstimate | undefined {
  const shape = r.model.layers
    ? { dense: r.model.layers.filter((l) => l.type === 'dense').map((l) => (l as { units: number }).units), declaredInput: undefined }
    : r.model.keras
      ? kerasShape(r.model.keras)
      : undefined;
  if (!shape) return undefined;
  const inputs = dataset ? Math.max(1, dataset.columns - r.dataset.target.length) : shape.declaredInput;
  if (inputs === undefined || !dataset) return undefined;
  return computeEstimate({ parameters: denseParameters(inputs, shape.dense), rows: dataset.rows, epochs: r.training.epochs, units: unitCount(r) });
}
