/**
 * Cross-field rules of a JobSpec, as a pure function: `checkJobSpec` resolves the spec
 * and raises a validation error that names the field at fault. Rules that need the
 * data set (target range, smallest class vs folds) take its column summary.
 */
import { LIMITS, type JobSpec } from './spec.ts';
import { validationError } from './errors.ts';
import { outputLayerProblem, OUTPUT_LAYER_RULE } from './layers.ts';
import { kerasShape } from './model-limits.ts';
import type { DatasetSummary } from './dataset-summary.ts';
import { checkAgainstDataset } from './dataset-rules.ts';
import { isClassificationLoss, resolveJobSpec, unitCount, type ResolvedJobSpec } from './job-defaults.ts';
import { checkPriceCap, checkResources, type FleetDefaults, type OperatorLimits } from './resource-rules.ts';

/** Cross-field rules. Throws a validation error naming the field. */
export function checkJobSpec(spec: JobSpec, dataset?: DatasetSummary, fleet?: FleetDefaults, limits?: OperatorLimits): ResolvedJobSpec {
  if (limits) checkResources(spec, limits);
  const r = resolveJobSpec(spec);
  const hasLayers = !!spec.model.layers;
  const hasKeras = !!spec.model.keras;
  if (hasLayers === hasKeras) throw validationError('model', 'give exactly one of model.layers or model.keras');
  if (hasLayers) {
    const bad = outputLayerProblem(spec.model.layers!);
    if (bad !== undefined) throw validationError(`model.layers.${bad}`, OUTPUT_LAYER_RULE);
  }
  if (hasKeras) kerasShape(spec.model.keras as Record<string, unknown>);
  const ev = spec.evaluation;
  if (ev) {
    if (ev.method !== 'holdout' && ev.testSize !== undefined) throw validationError('evaluation.testSize', 'only applies to method "holdout"');
    if (ev.method !== 'kfold' && (ev.folds !== undefined || ev.repeats !== undefined)) {
      throw validationError(ev.folds !== undefined ? 'evaluation.folds' : 'evaluation.repeats', 'only applies to method "kfold"');
    }
    if (ev.method === 'none' && ev.stratify) throw validationError('evaluation.stratify', 'needs method "holdout" or "kfold"');
  }
  if (r.preprocess.standardize && r.preprocess.minmax) {
    throw validationError('preprocess.minmax', 'give standardize or minmax, not both (choose per column with preprocess.columns)');
  }
  if (r.training.validationData === 'heldOut' && r.evaluation.method === 'none') {
    throw validationError('training.validationData', '"heldOut" needs evaluation.method "holdout" or "kfold"');
  }
  if (r.training.validationData && r.training.validationSplit !== undefined) {
    throw validationError('training.validationSplit', 'give either validationSplit or validationData, not both');
  }
  if (r.training.earlyStopping && r.training.earlyStopping.monitor.startsWith('val_') && !r.training.validationData && r.training.validationSplit === undefined) {
    throw validationError('training.earlyStopping.monitor', `monitors ${r.training.earlyStopping.monitor} but there is no validation data (set training.validationSplit or validationData)`);
  }
  if (r.evaluation.stratify && !isClassificationLoss(r.training.loss)) {
    throw validationError('evaluation.stratify', 'stratified splits need a classification loss (binary/categorical/sparse categorical cross-entropy)');
  }
  const units = unitCount(r);
  if (units > LIMITS.trainingUnits) {
    throw validationError('runs', `runs x folds x repeats = ${units} training units, over the limit of ${LIMITS.trainingUnits}`);
  }
  if (dataset) checkAgainstDataset(r, dataset);
  if (fleet) checkPriceCap(spec, fleet);
  return r;
}
