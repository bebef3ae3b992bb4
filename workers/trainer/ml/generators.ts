/**
 * Built-in synthetic data sets with scikit-learn's parameters and semantics:
 *   builtin:make_regression?n_samples=..&n_features=..&n_informative=..&n_targets=..&noise=..&bias=..&random_state=..
 *   builtin:make_classification?n_samples=..&n_features=..&n_informative=..&n_redundant=..&n_classes=..&random_state=..
 * The target columns are the last ones of the table (so dataset.target [-1] selects
 * a single target, [-3, -2, -1] three). Both generators draw from numpy's legacy
 * RandomState (workers/trainer/ml/numpy-random.ts) in scikit-learn's order, so
 * `random_state=N` gives the same data set as scikit-learn's `random_state=N`.
 * Without random_state the seed is 0, so a builtin URI always names the same data.
 */
import { RandomState, fma } from './numpy-random.ts';
import type { Table } from '../../../services/platform/csv.ts';
import {
  GENERATOR_PARAMS, checkCells, checkClassificationParams, generatorInvalid, parseBuiltinUri, parseGeneratorParams,
} from '../../../services/core/generator-params.ts';

export { GENERATOR_LIMITS } from '../../../services/core/generator-params.ts';

const invalid = generatorInvalid;
const parseParams = parseGeneratorParams;
const REGRESSION_PARAMS = GENERATOR_PARAMS.make_regression;
const CLASSIFICATION_PARAMS = GENERATOR_PARAMS.make_classification;

const tableOf = (columns: Float64Array[]): Table => ({
  rows: columns[0].length,
  columns: columns.length,
  data: columns.map((values) => ({ kind: 'number' as const, values })),
});

/**
 * Column tables of a row-major n x f matrix after scikit-learn's shuffle: rows permuted by
 * `rows` (X = X[rows]) and then columns by `cols` (X[:, :] = X[:, cols]).
 */
function shuffledColumns(x: Float64Array, n: number, f: number, rows: Int32Array | null, cols: Int32Array | null): Float64Array[] {
  return Array.from({ length: f }, (_, j) => {
    const src = cols ? cols[j] : j;
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = x[(rows ? rows[i] : i) * f + src];
    return out;
  });
}

export interface RegressionResult {
  table: Table;
  /** ground-truth coefficients, [feature][target] (after the feature shuffle) */
  coef: number[][];
}

/**
 * sklearn.datasets.make_regression (effective_rank=None), draw for draw:
 * X = standard_normal((n, f)); ground_truth[:inf] = 100 * uniform((inf, k));
 * y = X @ ground_truth + bias; y += normal(scale=noise, (n, k)) if noise > 0;
 * then shuffle rows (X, y) and permute the features.
 */
export function makeRegression(query: URLSearchParams): RegressionResult {
  const p = parseParams('make_regression', query, REGRESSION_PARAMS);
  const n = p.n_samples as number, f = p.n_features as number, k = p.n_targets as number;
  const inf = Math.min(f, p.n_informative as number);
  checkCells('make_regression', n, f + k);
  const gen = new RandomState(p.random_state as number);
  const x = gen.standardNormalArray(n * f); // row-major [i * f + j]
  const gt = new Float64Array(f * k); // row-major [j * k + t]
  for (let j = 0; j < inf; j++) for (let t = 0; t < k; t++) gt[j * k + t] = 100 * gen.uniform();
  const bias = p.bias as number;
  const y = new Float64Array(n * k); // row-major [i * k + t]
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < k; t++) {
      let s = 0;
      for (let j = 0; j < inf; j++) s = fma(x[i * f + j], gt[j * k + t], s);
      y[i * k + t] = s + bias;
    }
  }
  const noise = p.noise as number;
  if (noise > 0) for (let c = 0; c < n * k; c++) y[c] += gen.normal(0, noise);
  let rows: Int32Array | null = null, cols: Int32Array | null = null;
  if (p.shuffle) {
    rows = gen.permutation(n); // sklearn.utils.shuffle(X, y): arange(n) shuffled
    cols = gen.permutation(f); // then the features: arange(f) shuffled
  }
  const coef = Array.from({ length: f }, (_, j) => Array.from({ length: k }, (_, t) => gt[(cols ? cols[j] : j) * k + t]));
  return { table: tableOf([...shuffledColumns(x, n, f, rows, cols), ...shuffledColumns(y, n, k, rows, null)]), coef };
}


/** sklearn.utils.random.sample_without_replacement(n_population, n_samples, method="auto"). */
export function sampleWithoutReplacement(population: number, count: number, gen: RandomState): number[] {
  const ratio = population !== 0 ? count / population : 1.0;
  if (ratio > 0.01 && ratio < 0.99) return Array.from(gen.permutation(population).subarray(0, count));
  if (ratio < 0.2) {
    // tracking selection
    const selected = new Set<number>();
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      let j = gen.randint(population);
      while (selected.has(j)) j = gen.randint(population);
      selected.add(j);
      out.push(j);
    }
    return out;
  }
  // reservoir sampling
  const out = Array.from({ length: count }, (_, i) => i);
  for (let i = count; i < population; i++) {
    const j = gen.randint(0, i + 1);
    if (j < count) out[j] = i;
  }
  return out;
}

/**
 * scikit-learn's `_generate_hypercube(samples, dimensions, rng)`: `samples` distinct vertices
 * of {0,1}^dimensions; beyond 30 dimensions the leading ones are random bits.
 */
function hypercube(samples: number, dim: number, gen: RandomState): number[][] {
  if (dim > 30) {
    const lead = Array.from({ length: samples }, () => Array.from({ length: dim - 30 }, () => gen.randint(2)));
    const tail = hypercube(samples, 30, gen);
    return lead.map((row, i) => [...row, ...tail[i]]);
  }
  // the last `dim` bits of each 32-bit sample, most significant first
  return sampleWithoutReplacement(2 ** dim, samples, gen).map((v) => Array.from({ length: dim }, (_, j) => (v >>> (dim - 1 - j)) & 1));
}

/** sklearn.datasets.make_classification, draw for draw. Labels are 0..n_classes-1 in the last column. */
export function makeClassification(query: URLSearchParams): Table {
  const g = 'make_classification';
  const p = parseParams(g, query, CLASSIFICATION_PARAMS);
  const n = p.n_samples as number, f = p.n_features as number, inf = p.n_informative as number;
  const red = p.n_redundant as number, rep = p.n_repeated as number;
  const classes = p.n_classes as number, cpc = p.n_clusters_per_class as number;
  checkClassificationParams(p);
  checkCells(g, n, f + 1);
  let weights = (p.weights as number[] | undefined) ?? Array.from({ length: classes }, () => 1 / classes);
  if (weights.length === classes - 1) weights = [...weights, Math.max(0, 1 - weights.reduce((a, b) => a + b, 0))];
  if (weights.length !== classes) throw invalid(`${g}: parameter weights must have n_classes or n_classes - 1 entries, got ${weights.length}`);
  const gen = new RandomState(p.random_state as number);
  const clusters = classes * cpc;
  const perCluster = Array.from({ length: clusters }, (_, k) => Math.floor((n * weights[k % classes]) / cpc));
  const assigned = perCluster.reduce((a, b) => a + b, 0);
  for (let i = 0; i < n - assigned; i++) perCluster[i % clusters]++;

  const sep = p.class_sep as number;
  const centroids = hypercube(clusters, inf, gen).map((v) => v.map((b) => b * (2 * sep) - sep));
  if (!p.hypercube) {
    const rowScale = Array.from({ length: clusters }, () => gen.uniform());
    const colScale = Array.from({ length: inf }, () => gen.uniform());
    for (let c = 0; c < clusters; c++) for (let j = 0; j < inf; j++) centroids[c][j] = centroids[c][j] * rowScale[c] * colScale[j];
  }
  const x = new Float64Array(n * f); // row-major [i * f + j]
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let j = 0; j < inf; j++) x[i * f + j] = gen.standardNormal();
  let stop = 0;
  const row = new Float64Array(inf);
  for (let k = 0; k < clusters; k++) {
    // weights summing over 1 overflow the n rows: later clusters are cut, as numpy's slices are
    const start = Math.min(stop, n);
    stop += perCluster[k];
    const end = Math.min(stop, n);
    const a = new Float64Array(inf * inf); // a[r * inf + c]
    for (let e = 0; e < inf * inf; e++) a[e] = 2 * gen.uniform() - 1;
    const centroid = centroids[k];
    for (let i = start; i < end; i++) {
      y[i] = k % classes;
      const base = i * f;
      for (let j = 0; j < inf; j++) row[j] = x[base + j];
      for (let c = 0; c < inf; c++) {
        let s = 0;
        for (let r = 0; r < inf; r++) s = fma(row[r], a[r * inf + c], s);
        x[base + c] = s + centroid[c];
      }
    }
  }
  if (red > 0) {
    const b = new Float64Array(inf * red);
    for (let e = 0; e < inf * red; e++) b[e] = 2 * gen.uniform() - 1;
    for (let i = 0; i < n; i++) {
      const base = i * f;
      for (let c = 0; c < red; c++) {
        let s = 0;
        for (let r = 0; r < inf; r++) s = fma(x[base + r], b[r * red + c], s);
        x[base + inf + c] = s;
      }
    }
  }
  if (rep > 0) {
    const useful = inf + red;
    const src = Array.from({ length: rep }, () => Math.floor((useful - 1) * gen.uniform() + 0.5));
    for (let i = 0; i < n; i++) for (let c = 0; c < rep; c++) x[i * f + useful + c] = x[i * f + src[c]];
  }
  for (let i = 0; i < n; i++) for (let j = inf + red + rep; j < f; j++) x[i * f + j] = gen.standardNormal();
  // as scikit-learn: the flip mask is drawn even when flip_y is 0
  const flip = p.flip_y as number;
  const flipped: number[] = [];
  for (let i = 0; i < n; i++) if (gen.uniform() < flip) flipped.push(i);
  for (const i of flipped) y[i] = gen.randint(classes);
  const shift = p.shift === null ? Array.from({ length: f }, () => (2 * gen.uniform() - 1) * sep) : null;
  const scale = p.scale === null ? Array.from({ length: f }, () => 1 + 100 * gen.uniform()) : null;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < f; j++) {
      const e = i * f + j;
      x[e] = (x[e] + (shift ? shift[j] : (p.shift as number))) * (scale ? scale[j] : (p.scale as number));
    }
  }
  let rows: Int32Array | null = null, cols: Int32Array | null = null;
  if (p.shuffle) {
    rows = gen.permutation(n); // sklearn.utils.shuffle(X, y): arange(n) shuffled
    cols = gen.permutation(f); // then the features: arange(f) shuffled
  }
  const labels = rows ? Float64Array.from(rows, (r) => y[r]) : y;
  return tableOf([...shuffledColumns(x, n, f, rows, cols), labels]);
}

/** Table of a `builtin:<generator>?<params>` URI. */
export function generateBuiltin(uri: string): Table {
  const { generator, query } = parseBuiltinUri(uri);
  switch (generator) {
    case 'make_regression':
      return makeRegression(query).table;
    case 'make_classification':
      return makeClassification(query);
  }
}
