/**
 * One training unit, start to finish: encode the table, split it (eval units: the
 * unit's holdout or k-fold split, seeded by splitSeed so every fold of a repeat sees
 * the same partition; final unit: all rows), fit the feature scaling on the training
 * rows only,
 * carve the validation rows (Keras validation_split: the last fraction of the
 * training rows before shuffling, or the held-out rows), train with the engine and
 * score the held-out rows, then check the unit's training health. The BullMQ runtime calls this; it knows nothing of queues.
 */
import type * as tfjs from '@tensorflow/tfjs';
import { NightshiftError } from '../../../services/core/errors.ts';
import { primaryMetric, type ResolvedJobSpec } from '../../../services/core/job-defaults.ts';
import { modelSeed, splitSeed, type UnitRef } from '../../../services/core/units.ts';
import type { BackendName } from '../../../services/platform/tf-backend.ts';
import type { Table } from '../../../services/platform/csv.ts';
import { prepareDataset, type ModelMeta } from './dataset.ts';
import type { Checkpoint, EngineChoice, EngineImpl, EpochLogs, TrainArrays, UnitHooks } from './engine.ts';
import { normalizeLayers, type NormalizedLayer } from '../../../services/core/layers.ts';
import { kerasMetricName } from './model.ts';
import { gatherRows, holdoutSplit, kfoldSplits, type Split } from './splits.ts';
import { PreprocessColumnError, anyScaling, applyScaling, fitScaling, maxAbs, scalingPlan } from '../../../services/core/preprocess.ts';
import { trainingHealth, type TrainingWarning } from '../../../services/core/health.ts';
import { tfjsEngine } from './train-tfjs.ts';

export type { Checkpoint, EngineImpl, EpochLogs, UnitHooks } from './engine.ts';

export interface UnitRunInput {
  spec: ResolvedJobSpec;
  unit: UnitRef;
  table: Table;
  backend?: BackendName;
  checkpoint?: Checkpoint;
  hooks: UnitHooks;
  /** an engine other than tfjs (the fused MLP), or a chooser given the model's layers; tfjs when absent */
  engine?: EngineChoice | ((layers: NormalizedLayer[]) => EngineChoice);
}

export interface UnitRunOutput {
  status: 'done' | 'interrupted';
  history: EpochLogs[];
  heldOut?: Record<string, number>;
  score?: number;
  trainRows: number;
  testRows: number;
  meta: ModelMeta;
  /** the trained model of the final unit, for the caller to save */
  model?: tfjs.LayersModel;
  engine: string;
  /** why this engine trained the unit (auto's choice) */
  engineReason?: string;
  backend: string;
  /** training-health findings of this unit */
  warnings: TrainingWarning[];
}

/** Train/test row indices of a unit. */
export function unitSplit(spec: ResolvedJobSpec, unit: UnitRef, rows: number, classIndex?: Int32Array): Split {
  if (unit.kind === 'final' || spec.evaluation.method === 'none') {
    const all = new Int32Array(rows);
    for (let i = 0; i < rows; i++) all[i] = i;
    return { train: all, test: new Int32Array(0) };
  }
  const e = spec.evaluation;
  const opts = { seed: splitSeed(spec, unit.repeat), shuffle: e.shuffle, ...(e.stratify && classIndex ? { stratify: classIndex } : {}) };
  if (e.method === 'holdout') return holdoutSplit(rows, e.testSize, opts);
  const folds = kfoldSplits(rows, e.folds, opts);
  if (unit.fold < 0 || unit.fold >= folds.length) throw new NightshiftError('internal', `unit ${unit.key}: fold ${unit.fold} out of range`);
  return folds[unit.fold];
}

/** The output layer's width against what the targets need (one unit per regression target or class). */
export function checkOutputWidth(spec: ResolvedJobSpec, layers: NormalizedLayer[], meta: ModelMeta): void {
  const last = layers[layers.length - 1];
  if (last.type === 'dense' && last.units !== meta.outputs) {
    const field = spec.model.layers ? `model.layers.${spec.model.layers.length - 1}.units` : 'model.keras';
    const why = meta.encoding === 'onehot' || meta.encoding === 'sparse' ? ` (one per class: ${meta.labels?.join(', ')})` : '';
    throw new NightshiftError('spec_invalid', `${field}: the output layer has ${last.units} units but the targets need ${meta.outputs}${why}`, { field });
  }
}

export async function runUnit(input: UnitRunInput): Promise<UnitRunOutput> {
  const { spec, unit, table } = input;
  const data = prepareDataset(table, spec);
  const meta: ModelMeta = { ...data.meta };
  const fc = meta.featureCount;
  const layers = normalizeLayers(spec, fc);
  checkOutputWidth(spec, layers, meta);
  const split = unitSplit(spec, unit, data.rows, data.classIndex);

  let x = data.features;
  const scaled = anyScaling(spec.preprocess);
  if (scaled) {
    const featureColumns: number[] = [];
    for (let c = 0; c < table.columns; c++) if (!meta.targetColumns.includes(c)) featureColumns.push(c);
    let kinds;
    try {
      kinds = scalingPlan(spec.preprocess, featureColumns, table.columns);
    } catch (e) {
      if (e instanceof PreprocessColumnError) throw new NightshiftError('spec_invalid', e.message, { field: `preprocess.columns.${e.key}` });
      throw e;
    }
    // fitted on this unit's training rows only: the held-out rows never leak into the statistics
    meta.scaling = fitScaling(x, fc, split.train, kinds);
    if (kinds.every((k) => k === 'standardize')) meta.standardize = { mean: meta.scaling.offset, std: meta.scaling.scale };
    x = applyScaling(x, fc, meta.scaling);
  }
  const arrays = (idx: Int32Array): TrainArrays => ({ rows: idx.length, x: gatherRows(x, fc, idx), y: gatherRows(data.targets, data.targetWidth, idx) });

  let trainIdx = split.train;
  let validation: TrainArrays | undefined;
  const vs = spec.training.validationSplit;
  if (vs !== undefined && vs > 0) {
    const at = Math.floor(trainIdx.length * (1 - vs));
    if (at < 1 || at >= trainIdx.length) throw new NightshiftError('spec_invalid', `training.validationSplit: ${vs} of ${trainIdx.length} training rows leaves an empty train or validation set`, { field: 'training.validationSplit' });
    validation = arrays(trainIdx.subarray(at));
    trainIdx = trainIdx.subarray(0, at);
  }
  const test = split.test.length > 0 ? arrays(split.test) : undefined;
  if (spec.training.validationData === 'heldOut' && test) validation = test;

  const engine: EngineChoice = typeof input.engine === 'function' ? input.engine(layers) : input.engine ?? tfjsEngine;
  const checkpoint = input.checkpoint && input.checkpoint.engine === engine.name ? input.checkpoint : undefined;
  const seed = modelSeed(spec, unit);
  const result = await engine.run({
    spec, layers, meta, inputDim: fc, targetWidth: data.targetWidth,
    train: arrays(trainIdx), ...(validation ? { validation } : {}), ...(test ? { test } : {}),
    modelSeed: seed, shuffleSeed: (seed ^ 0x5bd1e995) >>> 0,
    ...(checkpoint ? { checkpoint } : {}), hooks: input.hooks, ...(input.backend ? { backend: input.backend } : {}),
  }, unit.kind === 'final');

  const primary = kerasMetricName(primaryMetric(spec));
  const score = result.heldOut ? result.heldOut[spec.training.metrics.length === 0 ? 'loss' : primary] : undefined;
  const warnings = result.status === 'done' ? trainingHealth({
    losses: result.history.map((h) => h.loss),
    epochs: spec.training.epochs,
    task: meta.task,
    ...(result.testPredictions ? { predictions: result.testPredictions, outputs: meta.outputs } : {}),
    ...(data.classIndex && test ? { classes: gatherClasses(data.classIndex, split.test) } : {}),
    featureMagnitude: maxAbs(gatherRows(x, fc, split.train)),
    scaled,
  }) : [];
  return {
    status: result.status,
    history: result.history,
    ...(result.heldOut ? { heldOut: result.heldOut } : {}),
    ...(score !== undefined ? { score } : {}),
    trainRows: trainIdx.length,
    testRows: split.test.length,
    meta,
    ...(result.model ? { model: result.model } : {}),
    engine: engine.name,
    ...(engine.reason ? { engineReason: engine.reason } : {}),
    backend: result.backend,
    warnings,
  };
}

function gatherClasses(classIndex: Int32Array, rows: Int32Array): Int32Array {
  const out = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = classIndex[rows[i]];
  return out;
}
