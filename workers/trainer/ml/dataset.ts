/**
 * From a data set URI to training arrays: load the table (builtin generators here,
 * dataset:/s3:// bytes through the caller's fetch), pick target columns, check that
 * features are numeric, encode labels, and describe the encoding in a JSON-able
 * ModelMeta that predict uses to preprocess rows and decode outputs.
 */
import { NightshiftError } from '../../../services/core/errors.ts';
import { isClassificationLoss, type ResolvedJobSpec } from '../../../services/core/job-defaults.ts';
import { resolveColumn } from '../../../services/core/dataset-summary.ts';
import { cellText, parseCsv, type Table } from '../../../services/platform/csv.ts';
import { generateBuiltin } from './generators.ts';
import type { ModelMeta, Task } from '../../../services/platform/model-meta.ts';

export { decodePredictions, type Encoding, type ModelMeta, type Task } from '../../../services/platform/model-meta.ts';


export interface PreparedDataset {
  rows: number;
  /** row-major rows x meta.featureCount */
  features: Float32Array;
  /** row-major rows x targetWidth */
  targets: Float32Array;
  /** columns per row of `targets` (1 for sparse labels, classes for one-hot) */
  targetWidth: number;
  /** class of each row, for stratified splits (classification only) */
  classIndex?: Int32Array;
  meta: ModelMeta;
}

export type FetchBytes = (uri: string) => Promise<Buffer | undefined>;

export async function loadTable(uri: string, header: boolean, fetch: FetchBytes): Promise<Table> {
  if (uri.startsWith('builtin:')) return generateBuiltin(uri);
  if (!uri.startsWith('dataset:') && !uri.startsWith('s3://')) {
    throw new NightshiftError('dataset_invalid', `unsupported data set URI ${JSON.stringify(uri)}: use dataset:<id>, s3://bucket/key or builtin:<generator>`, { field: 'dataset.uri' });
  }
  const bytes = await fetch(uri);
  if (bytes === undefined) throw new NightshiftError('dataset_not_found', `data set ${uri} not found`, { field: 'dataset.uri' });
  return parseCsv(bytes, { header });
}

const NUMERIC = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;

/** Sorted unique labels: numerically when every label looks like a number, else by code point. */
export function sortLabels(labels: Iterable<string>): string[] {
  const u = [...new Set(labels)];
  if (u.every((s) => NUMERIC.test(s))) return u.sort((a, b) => Number(a) - Number(b) || (a < b ? -1 : a > b ? 1 : 0));
  return u.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function columnName(t: Table, c: number): string {
  return t.header ? `column ${c} ("${t.header[c]}")` : `column ${c}`;
}

export function prepareDataset(table: Table, spec: Pick<ResolvedJobSpec, 'dataset' | 'training'>): PreparedDataset {
  const targetColumns = spec.dataset.target.map((t) => {
    const c = resolveColumn(t, table.columns);
    if (c === undefined) {
      throw new NightshiftError('target_out_of_range', `dataset.target: column ${t} is out of range, the data set has ${table.columns} columns`, { field: 'dataset.target' });
    }
    return c;
  });
  if (new Set(targetColumns).size !== targetColumns.length) throw new NightshiftError('spec_invalid', 'dataset.target: names the same column twice', { field: 'dataset.target' });
  const isTarget = new Set(targetColumns);
  const featureCols: number[] = [];
  for (let c = 0; c < table.columns; c++) if (!isTarget.has(c)) featureCols.push(c);
  if (featureCols.length === 0) throw new NightshiftError('dataset_invalid', 'dataset.target: leaves no feature columns', { field: 'dataset.target' });
  const rows = table.rows;
  const fc = featureCols.length;
  const features = new Float32Array(rows * fc);
  featureCols.forEach((c, j) => {
    const col = table.data[c];
    for (let r = 0; r < rows; r++) {
      const v = col.kind === 'number' ? col.values[r] : NUMERIC.test(col.values[r]) ? Number(col.values[r]) : NaN;
      if (!Number.isFinite(v)) {
        throw new NightshiftError('non_numeric_feature', `non-numeric value ${JSON.stringify(cellText(col, r))} in feature ${columnName(table, c)} (0-based) at row ${r + 1} (1-based, header excluded); only target columns may hold labels`);
      }
      features[r * fc + j] = v;
    }
  });

  const loss = spec.training.loss;
  const classification = isClassificationLoss(loss);
  const anyString = targetColumns.some((c) => table.data[c].kind === 'string');
  const base = { featureCount: fc, targetColumns };

  if (!classification && !anyString) {
    const k = targetColumns.length;
    const targets = new Float32Array(rows * k);
    targetColumns.forEach((c, t) => {
      const v = table.data[c].values as Float64Array;
      for (let r = 0; r < rows; r++) targets[r * k + t] = v[r];
    });
    return { rows, features, targets, targetWidth: k, meta: { ...base, outputs: k, task: 'regression', encoding: 'none' } };
  }
  if (!classification) {
    // a regression target that is numbers with a few other cells ("?", "NA") is missing data, not labels
    for (const c of targetColumns) {
      const col = table.data[c];
      if (col.kind !== 'string') continue;
      const bad = col.values.findIndex((v) => !NUMERIC.test(v));
      const numeric = col.values.length - col.values.filter((v) => !NUMERIC.test(v)).length;
      if (numeric > 0 && bad >= 0) {
        throw new NightshiftError('dataset_invalid', `dataset.target: target ${columnName(table, c)} (0-based) is numeric but holds ${JSON.stringify(col.values[bad])} at row ${bad + 1} (1-based, header excluded); ${loss} needs a number in every row`, { field: 'dataset.target' });
      }
    }
  }
  if (targetColumns.length !== 1) {
    if (loss === 'binaryCrossentropy' && !anyString) return multiLabel(table, rows, features, targetColumns, base);
    throw new NightshiftError('spec_invalid', `dataset.target: ${classification ? loss : 'label-encoded targets'} needs a single target column, got ${targetColumns.length}`, { field: 'dataset.target' });
  }
  const target = table.data[targetColumns[0]];
  const raw = Array.from({ length: rows }, (_, r) => cellText(target, r));
  const labels = sortLabels(raw);
  const index = new Map(labels.map((l, i) => [l, i]));
  const classIndex = new Int32Array(rows);
  for (let r = 0; r < rows; r++) classIndex[r] = index.get(raw[r])!;
  const k = labels.length;
  if (loss === 'categoricalCrossentropy') {
    const targets = new Float32Array(rows * k);
    for (let r = 0; r < rows; r++) targets[r * k + classIndex[r]] = 1;
    return { rows, features, targets, targetWidth: k, classIndex, meta: { ...base, outputs: k, task: 'multiclass', labels, encoding: 'onehot' } };
  }
  const targets = Float32Array.from(classIndex);
  if (loss === 'sparseCategoricalCrossentropy') {
    return { rows, features, targets, targetWidth: 1, classIndex, meta: { ...base, outputs: k, task: 'multiclass', labels, encoding: 'sparse' } };
  }
  if (loss === 'binaryCrossentropy' && k > 2) {
    throw new NightshiftError('spec_invalid', `training.loss: binaryCrossentropy needs 2 classes but the target has ${k}; use categoricalCrossentropy or sparseCategoricalCrossentropy`, { field: 'training.loss' });
  }
  const task: Task = loss === 'binaryCrossentropy' ? 'binary' : 'regression';
  return { rows, features, targets, targetWidth: 1, ...(classification ? { classIndex } : {}), meta: { ...base, outputs: 1, task, labels, encoding: 'label' } };
}

/** binaryCrossentropy over several 0/1 target columns (multi-label): kept as they are. */
function multiLabel(table: Table, rows: number, features: Float32Array, targetColumns: number[], base: Pick<ModelMeta, 'featureCount' | 'targetColumns'>): PreparedDataset {
  const k = targetColumns.length;
  const targets = new Float32Array(rows * k);
  targetColumns.forEach((c, t) => {
    const v = table.data[c].values as Float64Array;
    for (let r = 0; r < rows; r++) {
      if (v[r] !== 0 && v[r] !== 1) throw new NightshiftError('spec_invalid', `dataset.target: binaryCrossentropy over ${k} target columns needs 0/1 values; column ${c} row ${r + 1} holds ${v[r]}`, { field: 'dataset.target' });
      targets[r * k + t] = v[r];
    }
  });
  return { rows, features, targets, targetWidth: k, meta: { ...base, outputs: k, task: 'binary', encoding: 'none' } };
}
