/**
 * Rules that need the data set's summary: target columns in range, the preprocess
 * columns, the model's input and output widths, enough rows for the evaluation, and
 * the smallest class against stratified folds.
 */
import { asSubmissionError, validationError } from './errors.ts';
import { normalizeLayers, type NormalizedLayer } from './layers.ts';
import { PreprocessColumnError, scalingPlan } from './preprocess.ts';
import { resolveColumn, type DatasetSummary } from './dataset-summary.ts';
import { isClassificationLoss, type ResolvedJobSpec } from './job-defaults.ts';

/** The resolved spec against the data set's summary. Throws a validation error naming the field. */
export function checkAgainstDataset(r: ResolvedJobSpec, d: DatasetSummary): void {
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
