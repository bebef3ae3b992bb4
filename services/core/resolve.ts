/**
 * Defaults and cross-field rules of a JobSpec, as pure functions. `resolveJobSpec`
 * fills every default so workers never guess; `checkJobSpec` raises a
 * validation error that names the field at fault. Rules that need the data set
 * (target range, smallest class vs folds) take its column summary.
 */
import { LIMITS, type JobSpec, type LayerSpecT } from './spec.ts';
import { asSubmissionError, validationError } from './errors.ts';
import { onDemandUsd } from './prices.ts';
import { canonicalLossName, canonicalMetricName } from './vocabulary.ts';
import { defaultTarget } from './generator-params.ts';
import { normalizeLayers, outputLayerProblem, OUTPUT_LAYER_RULE, type NormalizedLayer } from './layers.ts';
import { PreprocessColumnError, scalingPlan, type PreprocessSpec, type ScaleKind } from './preprocess.ts';
import { computeEstimate, denseParameters, kerasShape, type ComputeEstimate } from './model-limits.ts';
import { acceleratorOf } from './machines.ts';

export type EvaluationMethod = 'none' | 'holdout' | 'kfold';

export interface ResolvedJobSpec {
  name: string;
  dataset: { uri: string; header: boolean; target: number[] };
  preprocess: PreprocessSpec;
  model: { layers?: LayerSpecT[]; keras?: Record<string, unknown> };
  training: {
    loss: string;
    optimizer: { name: string; learningRate?: number; momentum?: number; nesterov?: boolean; decay?: number; beta1?: number; beta2?: number; epsilon?: number; rho?: number };
    metrics: string[];
    epochs: number;
    batchSize: number;
    shuffle: boolean;
    validationSplit?: number;
    validationData?: 'heldOut';
    engine: 'auto' | 'tfjs' | 'fused';
    earlyStopping?: { monitor: string; patience: number; minDelta: number; mode: 'auto' | 'min' | 'max'; restoreBestWeights: boolean };
    checkpointEvery: number;
  };
  evaluation: { method: EvaluationMethod; testSize: number; folds: number; repeats: number; stratify: boolean; shuffle: boolean; seed: number };
  runs: number;
  final: { fit: boolean };
  resources: { accelerator: 'gpu' | 'cpu' | 'any'; instanceTypes?: string[]; spot: 'no' | 'prefer' | 'require'; maxHourlyUsd?: number };
  priority: number;
  maxAttempts: number;
  timeoutMinutes: number;
  seed: number;
}

/** Canonical names through the vocabulary tables; an unknown name is returned as it is (the schema rejects it). */
export const canonicalLoss = (name: string): string => canonicalLossName(name) ?? name;
export const canonicalMetric = (name: string): string => canonicalMetricName(name) ?? name;

/** Primary metric of a job: the first of training.metrics, else the loss. */
export function primaryMetric(spec: Pick<ResolvedJobSpec, 'training'>): string {
  return spec.training.metrics[0] ?? spec.training.loss;
}

export function resolveJobSpec(spec: JobSpec): ResolvedJobSpec {
  const t = spec.training;
  const ev = spec.evaluation;
  const method: EvaluationMethod = ev?.method ?? 'none';
  const seed = spec.seed ?? 7;
  const es = t.earlyStopping;
  return {
    name: spec.name ?? 'job',
    dataset: { uri: spec.dataset.uri, header: spec.dataset.header ?? false, target: spec.dataset.target ?? defaultTarget(spec.dataset.uri) },
    preprocess: {
      standardize: spec.preprocess?.standardize ?? false,
      minmax: spec.preprocess?.minmax ?? false,
      columns: { ...((spec.preprocess?.columns ?? {}) as Record<string, ScaleKind>) },
    },
    model: { ...(spec.model.layers ? { layers: spec.model.layers } : {}), ...(spec.model.keras ? { keras: spec.model.keras as Record<string, unknown> } : {}) },
    training: {
      loss: canonicalLoss(t.loss as string),
      optimizer: { name: 'adam', ...(t.optimizer ?? {}) } as ResolvedJobSpec['training']['optimizer'],
      metrics: ((t.metrics ?? []) as string[]).map(canonicalMetric),
      epochs: t.epochs,
      batchSize: t.batchSize ?? 32,
      shuffle: t.shuffle ?? true,
      ...(t.validationSplit !== undefined && t.validationSplit > 0 ? { validationSplit: t.validationSplit } : {}),
      ...(t.validationData ? { validationData: t.validationData } : {}),
      engine: (t.engine ?? 'auto') as 'auto' | 'tfjs' | 'fused',
      ...(es
        ? {
            earlyStopping: {
              monitor: es.monitor ?? 'val_loss',
              patience: es.patience ?? 0,
              minDelta: es.minDelta ?? 0,
              mode: (es.mode ?? 'auto') as 'auto' | 'min' | 'max',
              restoreBestWeights: es.restoreBestWeights ?? false,
            },
          }
        : {}),
      checkpointEvery: t.checkpointEvery ?? 10,
    },
    evaluation: {
      method,
      testSize: ev?.testSize ?? 0.33,
      folds: ev?.folds ?? 10,
      repeats: method === 'kfold' ? ev?.repeats ?? 1 : 1,
      stratify: ev?.stratify ?? false,
      shuffle: ev?.shuffle ?? true,
      seed: ev?.seed ?? seed,
    },
    runs: spec.runs ?? 1,
    final: { fit: spec.final?.fit ?? false },
    resources: {
      accelerator: (spec.resources?.accelerator ?? 'any') as 'gpu' | 'cpu' | 'any',
      ...(spec.resources?.instanceTypes ? { instanceTypes: spec.resources.instanceTypes } : {}),
      spot: (spec.resources?.spot ?? 'no') as 'no' | 'prefer' | 'require',
      ...(spec.resources?.maxHourlyUsd !== undefined ? { maxHourlyUsd: spec.resources.maxHourlyUsd } : {}),
    },
    priority: spec.priority ?? 50,
    maxAttempts: spec.maxAttempts ?? 3,
    timeoutMinutes: spec.timeoutMinutes ?? 240,
    seed,
  };
}

/** What the API knows about a data set before training: enough to reject specs early. */
export interface DatasetSummary {
  rows: number;
  columns: number;
  /** per column: class counts when the column is categorical (or few distinct values) */
  classCounts?: Array<Record<string, number> | null>;
  /** per column: rows whose value is not listed in classCounts (summaries list at most the 50 most frequent values) */
  other?: number[];
}

const CLASSIFICATION_LOSSES = new Set(['binaryCrossentropy', 'categoricalCrossentropy', 'sparseCategoricalCrossentropy']);
export const isClassificationLoss = (loss: string): boolean => CLASSIFICATION_LOSSES.has(canonicalLoss(loss));

/** Resolve a possibly negative column index; undefined when out of range. */
export function resolveColumn(index: number, columns: number): number | undefined {
  const c = index < 0 ? columns + index : index;
  return c >= 0 && c < columns ? c : undefined;
}

/** Number of training units (child jobs) a spec fans out to. */
export function unitCount(spec: ResolvedJobSpec): number {
  const e = spec.evaluation;
  const perRun = e.method === 'kfold' ? e.folds * e.repeats : e.method === 'holdout' ? 1 : 0;
  const evalUnits = perRun * spec.runs;
  return evalUnits + (spec.final.fit || e.method === 'none' ? 1 : 0);
}

/** The fleet a job would run on, for rules about prices (EC2 only). */
export interface FleetDefaults {
  instanceTypes: string[];
  /** types of CPU classes (resources.accelerator "cpu"); "any" may land on either list */
  cpuInstanceTypes?: string[];
  spot: 'no' | 'prefer' | 'require';
}

/** What the operator allows any job to ask for (NIGHTSHIFT_EC2_ALLOWED_TYPES, NIGHTSHIFT_EC2_MAX_HOURLY_USD). */
export interface OperatorLimits {
  allowedTypes: readonly string[];
  maxHourlyUsd?: number;
}

/** resources.instanceTypes and maxHourlyUsd against the operator's limits and the accelerator asked for. */
export function checkResources(spec: JobSpec, limits: OperatorLimits): void {
  const r = spec.resources;
  if (!r) return;
  const types = r.instanceTypes ?? [];
  const refused = types.filter((t) => !limits.allowedTypes.includes(t));
  if (refused.length) {
    throw validationError('resources.instanceTypes', `${refused.join(', ')} ${refused.length > 1 ? 'are' : 'is'} not allowed on this installation; allowed: ${limits.allowedTypes.join(', ')}`);
  }
  const accs = new Set(types.map((t) => acceleratorOf(t)));
  if (accs.size > 1) throw validationError('resources.instanceTypes', 'mixes GPU and CPU instance types; a job runs on one kind');
  const acc = r.accelerator ?? 'any';
  const typesAcc = [...accs][0];
  if (typesAcc && acc !== 'any' && typesAcc !== acc) {
    throw validationError('resources.instanceTypes', `${types.join(', ')} ${types.length > 1 ? 'are' : 'is'} not ${acc.toUpperCase()} instance types, but resources.accelerator is "${acc}"`);
  }
  if (limits.maxHourlyUsd !== undefined && r.maxHourlyUsd !== undefined && r.maxHourlyUsd > limits.maxHourlyUsd) {
    throw validationError('resources.maxHourlyUsd', `${r.maxHourlyUsd} USD/h is above this installation's cap of ${limits.maxHourlyUsd} USD/h`);
  }
}

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
  const max = spec.resources?.maxHourlyUsd;
  if (fleet && max !== undefined && (spec.resources?.spot ?? fleet.spot) === 'no') {
    const acc = spec.resources?.accelerator ?? 'any';
    const types = spec.resources?.instanceTypes
      ?? (acc === 'cpu' ? fleet.cpuInstanceTypes ?? [] : acc === 'gpu' ? fleet.instanceTypes : [...fleet.instanceTypes, ...(fleet.cpuInstanceTypes ?? [])]);
    const cheapest = Math.min(...types.map((t) => onDemandUsd(t)));
    if (types.length && cheapest > max) {
      throw validationError('resources.maxHourlyUsd', `${max} USD/h is below the on-demand price of every instance type (${types.map((t) => `${t} ${onDemandUsd(t)}`).join(', ')}); raise it, allow spot ("prefer") or pick cheaper resources.instanceTypes`);
    }
  }
  return r;
}

function checkAgainstDataset(r: ResolvedJobSpec, d: DatasetSummary): void {
  const targets: number[] = [];
  r.dataset.target.forEach((t, i) => {
    const c = resolveColumn(t, d.columns);
    if (c === undefined) throw validationError(`dataset.target.${i}`, `column ${t} is out of range: the data set has ${d.columns} columns`);
    targets.push(c);
  });
  if (new Set(targets).size !== targets.length) throw validationError('dataset.target', 'names the same column twice');
  if (targets.length >= d.columns) throw validationError('dataset.target', 'leaves no feature columns');
  const features: number[] = [];
  for (let c = 0; c < d.columns; c++) if (!targets.includes(c)) features.push(c);
  try {
    scalingPlan(r.preprocess, features, d.columns);
  } catch (e) {
    if (e instanceof PreprocessColumnError) throw validationError(`preprocess.columns.${e.key}`, e.reason);
    throw e;
  }
  // the model as the worker will build it: Keras JSON normalised the same way, input width checked
  let layers: NormalizedLayer[];
  try {
    layers = normalizeLayers(r, d.columns - targets.length);
  } catch (e) {
    throw asSubmissionError(e);
  }
  checkOutputUnits(r, layers, targets, d);
  const e = r.evaluation;
  const needRows = e.method === 'kfold' ? e.folds : e.method === 'holdout' ? 2 : 1;
  if (d.rows < needRows) {
    throw validationError(e.method === 'kfold' ? 'evaluation.folds' : 'dataset.uri', `the data set has ${d.rows} rows, fewer than ${needRows}`);
  }
  if (e.method === 'holdout') {
    const test = Math.ceil(d.rows * e.testSize);
    if (test < 1 || d.rows - test < 1) throw validationError('evaluation.testSize', `leaves an empty train or test set with ${d.rows} rows`);
  }
  if (e.stratify && e.method === 'kfold' && targets.length === 1) {
    const counts = d.classCounts?.[targets[0]];
    const listed = counts ? Object.values(counts) : [];
    if (listed.length > 0) {
      // with unlisted values ("other") the smallest class is at most the smallest listed one
      const smallest = Math.min(...listed);
      if (e.folds > smallest) {
        throw validationError('evaluation.folds', `${e.folds} stratified folds need at least ${e.folds} rows of every class; the smallest class has ${smallest}`);
      }
    }
  }
}

/**
 * The output layer's width where the data set summary fixes it: one unit per target
 * column for regression losses and binary cross-entropy, one per class for the
 * categorical losses when the class counts are known.
 */
function checkOutputUnits(r: ResolvedJobSpec, layers: NormalizedLayer[], targets: number[], d: DatasetSummary): void {
  const last = layers[layers.length - 1];
  if (last.type !== 'dense') return;
  const loss = r.training.loss;
  let need: number | undefined;
  let why = '';
  if (!isClassificationLoss(loss) || loss === 'binaryCrossentropy') {
    need = targets.length;
    why = targets.length === 1 ? ' (one target column)' : ` (one per target column: ${r.dataset.target.join(', ')})`;
  } else if (targets.length === 1) {
    const counts = d.classCounts?.[targets[0]];
    if (counts) {
      need = Object.keys(counts).length;
      why = ` (one per class: ${Object.keys(counts).length} classes)`;
    }
  }
  if (need !== undefined && last.units !== need) {
    const field = r.model.layers ? `model.layers.${r.model.layers.length - 1}.units` : 'model.keras';
    throw validationError(field, `the output layer has ${last.units} units but the targets need ${need}${why}`);
  }
}

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
