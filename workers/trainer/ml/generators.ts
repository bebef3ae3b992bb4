/**
 * Built-in synthetic data sets with scikit-learn's parameters and semantics:
 *   builtin:make_regression?n_samples=..&n_features=..&n_informative=..&n_targets=..&noise=..&bias=..&random_state=..
 *   builtin:make_classification?n_samples=..&n_features=..&n_informative=..&n_redundant=..&n_classes=..&random_state=..
 * The target columns are the last ones of the table (so dataset.target [-1] selects
 * a single target, [-3, -2, -1] three). Seeded with services/core/rng.ts; the numbers
 * differ from numpy's but the distributions are the same. Without random_state the
 * seed is 0, so a builtin URI always names the same data.
 */
import { NightshiftError } from '../../../services/core/errors.ts';
import { createRng, shuffleInPlace, type Rng } from '../../../services/core/rng.ts';
import type { Table } from './csv.ts';

export const GENERATOR_LIMITS = { samples: 1_000_000, features: 10_000, cells: 50_000_000 } as const;

const invalid = (message: string): NightshiftError => new NightshiftError('dataset_invalid', message, { field: 'dataset.uri' });

type ParamKind = 'int' | 'number' | 'bool' | 'numbers';
type ParamDef = { kind: ParamKind; dflt?: number | boolean; min?: number; max?: number };

function parseParams(gen: string, query: URLSearchParams, defs: Record<string, ParamDef>): Record<string, number | boolean | number[] | undefined> {
  const out: Record<string, number | boolean | number[] | undefined> = {};
  for (const key of query.keys()) {
    if (!(key in defs)) throw invalid(`${gen}: unknown parameter ${JSON.stringify(key)} (known: ${Object.keys(defs).join(', ')})`);
  }
  for (const [name, d] of Object.entries(defs)) {
    const raw = query.get(name);
    if (raw === null || raw === '' || raw === 'None' || raw === 'null') {
      out[name] = d.dflt;
      continue;
    }
    if (d.kind === 'bool') {
      if (!['true', 'false', 'True', 'False', '1', '0'].includes(raw)) throw invalid(`${gen}: parameter ${name} must be true or false, got ${JSON.stringify(raw)}`);
      out[name] = raw === 'true' || raw === 'True' || raw === '1';
      continue;
    }
    if (d.kind === 'numbers') {
      const xs = raw.replace(/^\[|\]$/g, '').split(',').map((s) => Number(s.trim()));
      if (xs.some((x) => !Number.isFinite(x) || x < 0)) throw invalid(`${gen}: parameter ${name} must be a comma-separated list of non-negative numbers, got ${JSON.stringify(raw)}`);
      out[name] = xs;
      continue;
    }
    const v = Number(raw);
    if (!Number.isFinite(v) || (d.kind === 'int' && !Number.isInteger(v))) {
      throw invalid(`${gen}: parameter ${name} must be ${d.kind === 'int' ? 'an integer' : 'a number'}, got ${JSON.stringify(raw)}`);
    }
    if ((d.min !== undefined && v < d.min) || (d.max !== undefined && v > d.max)) {
      throw invalid(`${gen}: parameter ${name} must be in [${d.min ?? '-inf'}, ${d.max ?? 'inf'}], got ${v}`);
    }
    out[name] = v;
  }
  return out;
}

function checkCells(gen: string, samples: number, columns: number): void {
  if (samples * columns > GENERATOR_LIMITS.cells) {
    throw invalid(`${gen}: n_samples x columns = ${samples * columns} cells, over the limit of ${GENERATOR_LIMITS.cells}`);
  }
}

const tableOf = (columns: Float64Array[]): Table => ({
  rows: columns[0].length,
  columns: columns.length,
  data: columns.map((values) => ({ kind: 'number' as const, values })),
});

/** Fisher-Yates row permutation applied to column-major data. */
function permuteRows(cols: Float64Array[], rng: Rng): void {
  const n = cols[0].length;
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  shuffleInPlace(perm, rng);
  const tmp = new Float64Array(n);
  for (const c of cols) {
    for (let i = 0; i < n; i++) tmp[i] = c[perm[i]];
    c.set(tmp);
  }
}

export interface RegressionResult {
  table: Table;
  /** ground-truth coefficients, [feature][target] (after the feature shuffle) */
  coef: number[][];
}

const REGRESSION_PARAMS: Record<string, ParamDef> = {
  n_samples: { kind: 'int', dflt: 100, min: 1, max: GENERATOR_LIMITS.samples },
  n_features: { kind: 'int', dflt: 100, min: 1, max: GENERATOR_LIMITS.features },
  n_informative: { kind: 'int', dflt: 10, min: 0, max: GENERATOR_LIMITS.features },
  n_targets: { kind: 'int', dflt: 1, min: 1, max: 1024 },
  bias: { kind: 'number', dflt: 0 },
  noise: { kind: 'number', dflt: 0, min: 0 },
  shuffle: { kind: 'bool', dflt: true },
  random_state: { kind: 'int', dflt: 0, min: 0, max: 2 ** 32 - 1 },
};

/** sklearn.datasets.make_regression (effective_rank=None). */
export function makeRegression(query: URLSearchParams): RegressionResult {
  const p = parseParams('make_regression', query, REGRESSION_PARAMS);
  const n = p.n_samples as number, f = p.n_features as number, k = p.n_targets as number;
  const inf = Math.min(f, p.n_informative as number);
  checkCells('make_regression', n, f + k);
  const rng = createRng(p.random_state as number);
  const x = Array.from({ length: f }, () => new Float64Array(n));
  for (let i = 0; i < n; i++) for (let j = 0; j < f; j++) x[j][i] = rng.normal(); // row-major draw order, as numpy
  const coef = Array.from({ length: f }, (_, j) => Array.from({ length: k }, () => 0));
  for (let j = 0; j < inf; j++) for (let t = 0; t < k; t++) coef[j][t] = 100 * rng.next();
  const y = Array.from({ length: k }, () => new Float64Array(n).fill(p.bias as number));
  for (let j = 0; j < inf; j++) {
    const xj = x[j];
    for (let t = 0; t < k; t++) {
      const c = coef[j][t], yt = y[t];
      for (let i = 0; i < n; i++) yt[i] += xj[i] * c;
    }
  }
  const noise = p.noise as number;
  if (noise > 0) for (let i = 0; i < n; i++) for (let t = 0; t < k; t++) y[t][i] += noise * rng.normal();
  let cols = x;
  let outCoef = coef;
  if (p.shuffle) {
    permuteRows([...x, ...y], rng);
    const idx = Array.from({ length: f }, (_, j) => j);
    shuffleInPlace(idx, rng);
    cols = idx.map((j) => x[j]);
    outCoef = idx.map((j) => coef[j]);
  }
  return { table: tableOf([...cols, ...y]), coef: outCoef };
}

const CLASSIFICATION_PARAMS: Record<string, ParamDef> = {
  n_samples: { kind: 'int', dflt: 100, min: 1, max: GENERATOR_LIMITS.samples },
  n_features: { kind: 'int', dflt: 20, min: 1, max: GENERATOR_LIMITS.features },
  n_informative: { kind: 'int', dflt: 2, min: 1, max: GENERATOR_LIMITS.features },
  n_redundant: { kind: 'int', dflt: 2, min: 0, max: GENERATOR_LIMITS.features },
  n_repeated: { kind: 'int', dflt: 0, min: 0, max: GENERATOR_LIMITS.features },
  n_classes: { kind: 'int', dflt: 2, min: 2, max: 1000 },
  n_clusters_per_class: { kind: 'int', dflt: 2, min: 1, max: 1000 },
  weights: { kind: 'numbers' },
  flip_y: { kind: 'number', dflt: 0.01, min: 0, max: 1 },
  class_sep: { kind: 'number', dflt: 1 },
  hypercube: { kind: 'bool', dflt: true },
  shift: { kind: 'number', dflt: 0 },
  scale: { kind: 'number', dflt: 1 },
  shuffle: { kind: 'bool', dflt: true },
  random_state: { kind: 'int', dflt: 0, min: 0, max: 2 ** 32 - 1 },
};

/** `count` distinct vertices of the {0,1}^dim hypercube, in random order. */
function hypercube(count: number, dim: number, rng: Rng): number[][] {
  const seen = new Set<string>();
  const out: number[][] = [];
  while (out.length < count) {
    const v = Array.from({ length: dim }, () => (rng.next() < 0.5 ? 0 : 1));
    const key = v.join('');
    if (!seen.has(key)) (seen.add(key), out.push(v));
  }
  return out;
}

/** sklearn.datasets.make_classification. Labels are 0..n_classes-1 in the last column. */
export function makeClassification(query: URLSearchParams): Table {
  const g = 'make_classification';
  const p = parseParams(g, query, CLASSIFICATION_PARAMS);
  const n = p.n_samples as number, f = p.n_features as number, inf = p.n_informative as number;
  const red = p.n_redundant as number, rep = p.n_repeated as number;
  const classes = p.n_classes as number, cpc = p.n_clusters_per_class as number;
  if (inf + red + rep > f) throw invalid(`${g}: n_informative + n_redundant + n_repeated (${inf + red + rep}) must be at most n_features (${f})`);
  if (Math.log2(classes * cpc) > inf) {
    throw invalid(`${g}: n_classes (${classes}) * n_clusters_per_class (${cpc}) must be at most 2**n_informative (${2 ** Math.min(inf, 52)})`);
  }
  checkCells(g, n, f + 1);
  let weights = (p.weights as number[] | undefined) ?? Array.from({ length: classes }, () => 1 / classes);
  if (weights.length === classes - 1) weights = [...weights, Math.max(0, 1 - weights.reduce((a, b) => a + b, 0))];
  if (weights.length !== classes) throw invalid(`${g}: parameter weights must have n_classes or n_classes - 1 entries, got ${weights.length}`);
  const rng = createRng(p.random_state as number);
  const clusters = classes * cpc;
  const perCluster = Array.from({ length: clusters }, (_, k) => Math.floor((n * weights[k % classes]) / cpc));
  const assigned = perCluster.reduce((a, b) => a + b, 0);
  for (let i = 0; i < n - assigned; i++) perCluster[i % clusters]++;

  const sep = p.class_sep as number;
  const centroids = hypercube(clusters, inf, rng).map((v) => v.map((b) => b * 2 * sep - sep));
  if (!p.hypercube) {
    const rowScale = centroids.map(() => rng.next());
    const colScale = Array.from({ length: inf }, () => rng.next());
    centroids.forEach((c, k) => c.forEach((_, j) => (c[j] *= rowScale[k] * colScale[j])));
  }
  const x = Array.from({ length: f }, () => new Float64Array(n));
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let j = 0; j < inf; j++) x[j][i] = rng.normal();
  let stop = 0;
  const row = new Float64Array(inf);
  for (let k = 0; k < clusters; k++) {
    const start = stop;
    stop += perCluster[k];
    const a = Array.from({ length: inf * inf }, () => 2 * rng.next() - 1); // a[r * inf + c]
    for (let i = start; i < stop; i++) {
      y[i] = k % classes;
      for (let j = 0; j < inf; j++) row[j] = x[j][i];
      for (let c = 0; c < inf; c++) {
        let s = 0;
        for (let r = 0; r < inf; r++) s += row[r] * a[r * inf + c];
        x[c][i] = s + centroids[k][c];
      }
    }
  }
  if (red > 0) {
    const b = Array.from({ length: inf * red }, () => 2 * rng.next() - 1);
    for (let c = 0; c < red; c++) {
      const out = x[inf + c];
      for (let r = 0; r < inf; r++) {
        const w = b[r * red + c], xr = x[r];
        for (let i = 0; i < n; i++) out[i] += xr[i] * w;
      }
    }
  }
  if (rep > 0) {
    const base = inf + red;
    for (let c = 0; c < rep; c++) x[base + c].set(x[Math.floor((base - 1) * rng.next() + 0.5)]);
  }
  for (let j = inf + red + rep; j < f; j++) for (let i = 0; i < n; i++) x[j][i] = rng.normal();
  const flip = p.flip_y as number;
  if (flip > 0) for (let i = 0; i < n; i++) if (rng.next() < flip) y[i] = rng.int(classes);
  const shift = p.shift as number, scale = p.scale as number;
  if (shift !== 0 || scale !== 1) for (const c of x) for (let i = 0; i < n; i++) c[i] = (c[i] + shift) * scale;
  let cols = x;
  if (p.shuffle) {
    permuteRows([...x, y], rng);
    const idx = Array.from({ length: f }, (_, j) => j);
    shuffleInPlace(idx, rng);
    cols = idx.map((j) => x[j]);
  }
  return tableOf([...cols, y]);
}

/** Table of a `builtin:<generator>?<params>` URI. */
export function generateBuiltin(uri: string): Table {
  const m = /^builtin:([A-Za-z_][A-Za-z0-9_]*)(?:\?(.*))?$/s.exec(uri);
  if (!m) throw invalid(`malformed builtin URI ${JSON.stringify(uri)}: expected builtin:<generator>?<params>`);
  const query = new URLSearchParams(m[2] ?? '');
  switch (m[1]) {
    case 'make_regression':
      return makeRegression(query).table;
    case 'make_classification':
      return makeClassification(query);
    default:
      throw invalid(`unknown generator ${JSON.stringify(m[1])} (known: make_regression, make_classification)`);
  }
}
