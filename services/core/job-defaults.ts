/**
 * The defaults of a JobSpec, as a pure function: `resolveJobSpec` fills every default
 * so workers never guess, and the few facts read off a resolved spec (primary metric,
 * training unit count, classification or not).
 */
import type { JobSpec, LayerSpecT } from './spec.ts';
import { canonicalLossName, canonicalMetricName } from './vocabulary.ts';
import { defaultTarget } from './generator-params.ts';
import type { PreprocessSpec, ScaleKind } from './preprocess.ts';
import type { Accelerator, SpotPolicy } from './resource-class.ts';
import { DEFAULT_CHECKPOINT_SECONDS } from './checkpoints.ts';

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
    /** epochs between checkpoints when the spec sets it; otherwise checkpointSeconds decides (core/checkpoints.ts) */
    checkpointEvery?: number;
    checkpointSeconds: number;
  };
  evaluation: { method: EvaluationMethod; testSize: number; folds: number; repeats: number; stratify: boolean; shuffle: boolean; seed: number };
  runs: number;
  final: { fit: boolean };
  resources: { accelerator: Accelerator; instanceTypes?: string[]; spot: SpotPolicy; maxHourlyUsd?: number };
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
      ...(t.checkpointEvery !== undefined ? { checkpointEvery: t.checkpointEvery } : {}),
      checkpointSeconds: t.checkpointSeconds ?? DEFAULT_CHECKPOINT_SECONDS,
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
      accelerator: (spec.resources?.accelerator ?? 'any') as Accelerator,
      ...(spec.resources?.instanceTypes ? { instanceTypes: spec.resources.instanceTypes } : {}),
      spot: (spec.resources?.spot ?? 'no') as SpotPolicy,
      ...(spec.resources?.maxHourlyUsd !== undefined ? { maxHourlyUsd: spec.resources.maxHourlyUsd } : {}),
    },
    priority: spec.priority ?? 50,
    maxAttempts: spec.maxAttempts ?? 3,
    timeoutMinutes: spec.timeoutMinutes ?? 240,
    seed,
  };
}

const CLASSIFICATION_LOSSES = new Set(['binaryCrossentropy', 'categoricalCrossentropy', 'sparseCategoricalCrossentropy']);
export const isClassificationLoss = (loss: string): boolean => CLASSIFICATION_LOSSES.has(canonicalLoss(loss));

/** Number of training units (child jobs) a spec fans out to. */
export function unitCount(spec: ResolvedJobSpec): number {
  const e = spec.evaluation;
  const perRun = e.method === 'kfold' ? e.folds * e.repeats : e.method === 'holdout' ? 1 : 0;
  const evalUnits = perRun * spec.runs;
  return evalUnits + (spec.final.fit || e.method === 'none' ? 1 : 0);
}
