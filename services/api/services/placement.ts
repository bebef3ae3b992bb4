/**
 * The placement of a submitted job on EC2: the operator's types and prices fed to
 * core's choosePlacement, with the unit's size taken from the spec and the data set
 * summary (when the API has one).
 */
import type { Config } from '../../core/config.ts';
import { choosePlacement, denseParams, type Placement } from '../../core/placement.ts';
import { onDemandUsd } from '../../core/prices.ts';
import type { DatasetSummary } from '../../core/dataset-summary.ts';
import type { ResolvedJobSpec } from '../../core/job-defaults.ts';
import { validationError } from '../../core/errors.ts';

/** Rows assumed for a data set the API has not read (s3:// URIs). */
const UNKNOWN_ROWS = 10_000;

export function placeJob(r: ResolvedJobSpec, summary: DatasetSummary | undefined, config: Config): Placement {
  const rows = summary?.rows ?? UNKNOWN_ROWS;
  const e = r.evaluation;
  const trainRows = Math.max(1, Math.round(e.method === 'kfold' ? rows * (1 - 1 / e.folds) : e.method === 'holdout' ? rows * (1 - e.testSize) : rows));
  const inputDim = Math.max(1, (summary?.columns ?? r.dataset.target.length + 1) - r.dataset.target.length);
  const layers = r.model.layers ?? [];
  const cpuCapable = !!r.model.layers && r.training.engine !== 'tfjs' && layers.every((l) => l.type === 'dense' || l.type === 'dropout');
  const p = choosePlacement({
    accelerator: r.resources.accelerator,
    ...(r.resources.instanceTypes ? { instanceTypes: r.resources.instanceTypes } : {}),
    cpuCapable,
    work: { trainRows, epochs: r.training.epochs, batchSize: r.training.batchSize, params: denseParams(layers as Array<{ type: string; units?: number }>, inputDim) },
    gpuTypes: config.ec2.instanceTypes,
    cpuTypes: config.ec2.cpuInstanceTypes,
    hourlyUsd: onDemandUsd,
  });
  if (!p) {
    if (r.resources.accelerator === 'cpu' && !cpuCapable) {
      throw validationError('resources.accelerator', 'CPU classes train with the fused engine, which takes dense/dropout models with training.engine "auto" or "fused"; use "gpu" or "any"');
    }
    throw validationError('resources.accelerator', `no ${r.resources.accelerator === 'any' ? '' : `${r.resources.accelerator.toUpperCase()} `}instance types are configured on this installation`);
  }
  return p;
}
