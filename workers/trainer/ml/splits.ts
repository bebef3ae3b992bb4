/**
 * Index splits, deterministic from a seed, with scikit-learn semantics:
 *  - holdout: test size = ceil(n * testSize) (train_test_split); stratified holdout
 *    keeps each class's share (largest remainders);
 *  - KFold: contiguous chunks of the (shuffled) indices, the first n % k folds one row
 *    larger; StratifiedKFold: sklearn's allocation (sorted labels dealt round-robin
 *    to folds), so every fold holds each class within one row of its share.
 * Index arrays are returned sorted ascending. Standardization is fitted on the
 * training rows only.
 */
import { validationError } from '../../../services/core/errors.ts';
import { createRng, shuffleInPlace } from '../../../services/core/rng.ts';

export interface SplitOptions {
  seed: number;
  shuffle: boolean;
  /** class of each row: stratified split */
  stratify?: Int32Array;
}

export interface Split {
  train: Int32Array;
  test: Int32Array;
}

const range = (n: number): Int32Array => {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return a;
};

const sorted = (xs: ArrayLike<number>): Int32Array => Int32Array.from(xs).sort();

function complement(n: number, test: Int32Array): Int32Array {
  const inTest = new Uint8Array(n);
  for (const i of test) inTest[i] = 1;
  const out = new Int32Array(n - test.length);
  let k = 0;
  for (let i = 0; i < n; i++) if (!inTest[i]) out[k++] = i;
  return out;
}

function byClass(classes: Int32Array): Int32Array[] {
  let k = 0;
  for (const c of classes) k = Math.max(k, c + 1);
  const counts = new Int32Array(k);
  for (const c of classes) counts[c]++;
  const out = Array.from(counts, (c) => new Int32Array(c));
  const fill = new Int32Array(k);
  classes.forEach((c, i) => (out[c][fill[c]++] = i));
  return out.filter((a) => a.length > 0);
}

export function holdoutSplit(n: number, testSize: number, opts: SplitOptions): Split {
  const nTest = Math.ceil(n * testSize);
  if (nTest < 1 || nTest >= n) throw validationError('evaluation.testSize', `leaves an empty train or test set with ${n} rows`);
  const rng = createRng(opts.seed);
  if (!opts.stratify) {
    if (!opts.shuffle) return { train: range(n - nTest), test: range(n).slice(n - nTest) };
    const perm = range(n);
    shuffleInPlace(perm, rng);
    const test = sorted(perm.subarray(0, nTest));
    return { train: complement(n, test), test };
  }
  const groups = byClass(opts.stratify);
  // per-class test counts: floor of the exact share, remainders to the largest fractions
  const exact = groups.map((g) => (g.length * nTest) / n);
  const take = exact.map(Math.floor);
  let left = nTest - take.reduce((a, b) => a + b, 0);
  const order = exact.map((e, i) => i).sort((a, b) => exact[b] - take[b] - (exact[a] - take[a]) || a - b);
  for (const i of order) {
    if (left === 0) break;
    if (take[i] < groups[i].length) (take[i]++, left--);
  }
  const test: number[] = [];
  groups.forEach((g, i) => {
    const idx = Int32Array.from(g);
    if (opts.shuffle) shuffleInPlace(idx, rng);
    for (let j = 0; j < take[i]; j++) test.push(opts.shuffle ? idx[j] : idx[idx.length - 1 - j]);
  });
  const t = sorted(test);
  return { train: complement(n, t), test: t };
}

export function kfoldSplits(n: number, folds: number, opts: SplitOptions): Split[] {
  if (!Number.isInteger(folds) || folds < 2) throw validationError('evaluation.folds', `must be an integer >= 2, got ${folds}`);
  if (folds > n) throw validationError('evaluation.folds', `${folds} folds need at least ${folds} rows; the data set has ${n}`);
  const rng = createRng(opts.seed);
  const testFold = new Int32Array(n);
  if (!opts.stratify) {
    const perm = range(n);
    if (opts.shuffle) shuffleInPlace(perm, rng);
    const base = Math.floor(n / folds), extra = n % folds;
    let pos = 0;
    for (let f = 0; f < folds; f++) {
      const size = base + (f < extra ? 1 : 0);
      for (let j = 0; j < size; j++) testFold[perm[pos++]] = f;
    }
  } else {
    const groups = byClass(opts.stratify);
    const smallest = Math.min(...groups.map((g) => g.length));
    if (folds > smallest) {
      throw validationError('evaluation.folds', `${folds} stratified folds need at least ${folds} rows of every class; the smallest class has ${smallest}`);
    }
    // sklearn StratifiedKFold: deal the label-sorted rows round-robin to the folds
    let offset = 0;
    for (const g of groups) {
      const assign = new Int32Array(g.length);
      let k = 0;
      for (let f = 0; f < folds; f++) {
        // rows i of the sorted order with i % folds === f, within this class's block
        const first = (f - (offset % folds) + folds) % folds;
        const count = first < g.length ? Math.floor((g.length - 1 - first) / folds) + 1 : 0;
        for (let j = 0; j < count; j++) assign[k++] = f;
      }
      offset += g.length;
      if (opts.shuffle) shuffleInPlace(assign, rng);
      g.forEach((row, j) => (testFold[row] = assign[j]));
    }
  }
  const out: Split[] = [];
  for (let f = 0; f < folds; f++) {
    const test: number[] = [];
    const train: number[] = [];
    for (let i = 0; i < n; i++) (testFold[i] === f ? test : train).push(i);
    out.push({ train: Int32Array.from(train), test: Int32Array.from(test) });
  }
  return out;
}

export interface Standardization {
  mean: number[];
  std: number[];
}

/** Column means and population standard deviations over the given rows (std 0 -> 1). */
export function standardizeFit(x: Float32Array, rows: number, cols: number, indices?: ArrayLike<number>): Standardization {
  const idx = indices ?? range(rows);
  const mean = new Float64Array(cols), m2 = new Float64Array(cols);
  for (let k = 0; k < idx.length; k++) {
    const o = idx[k] * cols;
    for (let j = 0; j < cols; j++) mean[j] += x[o + j];
  }
  for (let j = 0; j < cols; j++) mean[j] /= Math.max(1, idx.length);
  for (let k = 0; k < idx.length; k++) {
    const o = idx[k] * cols;
    for (let j = 0; j < cols; j++) {
      const d = x[o + j] - mean[j];
      m2[j] += d * d;
    }
  }
  const std = Array.from(m2, (s) => {
    const v = Math.sqrt(s / Math.max(1, idx.length));
    return v > 0 && Number.isFinite(v) ? v : 1;
  });
  return { mean: Array.from(mean), std };
}

/** (x - mean) / std for every row; returns a new array. */
export function standardizeApply(x: Float32Array, cols: number, s: Standardization): Float32Array {
  const out = new Float32Array(x.length);
  for (let o = 0; o < x.length; o += cols) for (let j = 0; j < cols; j++) out[o + j] = (x[o + j] - s.mean[j]) / s.std[j];
  return out;
}

/** Rows `indices` of a row-major matrix, in that order. */
export function gatherRows(x: Float32Array, cols: number, indices: ArrayLike<number>): Float32Array {
  const out = new Float32Array(indices.length * cols);
  for (let k = 0; k < indices.length; k++) out.set(x.subarray(indices[k] * cols, indices[k] * cols + cols), k * cols);
  return out;
}
