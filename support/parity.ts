/**
 * The engine parity suite's data sets and protocol, shared by the test
 * (test/unit/engine-parity.test.ts, small) and the benchmark (bench/engine-parity.ts,
 * bigger). Each case generates data unlike the tutorials' (unscaled features, 5%
 * positives, 10 classes, targets in the hundreds, 50 rows, 500 features), runs every
 * evaluation unit of one JobSpec through both engines with the same splits and seeds,
 * and compares the two engines' held-out scores.
 */
import { createRng, type Rng } from '../services/core/rng.ts';
import { resolveJobSpec, type ResolvedJobSpec } from '../services/core/job-defaults.ts';
import type { JobSpec } from '../services/core/spec.ts';
import { planUnits } from '../services/core/units.ts';
import { mean, std } from '../services/core/stats.ts';
import type { Table } from '../services/platform/csv.ts';
import type { EngineImpl } from '../workers/trainer/ml/engine.ts';
import { normalizeLayers, type NormalizedLayer } from '../services/core/layers.ts';
import { runUnit } from '../workers/trainer/ml/run-unit.ts';
import { optimizerVariant } from '../workers/trainer/fused/support.ts';

export interface ParityCase {
  name: string;
  /** what makes the data unlike the tutorials' */
  shape: string;
  spec: ResolvedJobSpec;
  table: Table;
  /** score of a model that ignores its inputs, on the same protocol (majority-class rate, or the MAE of the training mean) */
  baseline: number;
  higherIsBetter: boolean;
}

const columnsTable = (cols: Float64Array[]): Table => ({ rows: cols[0].length, columns: cols.length, data: cols.map((values) => ({ kind: 'number' as const, values })) });

function normal(rng: Rng): number {
  let u = 0;
  while (u === 0) u = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
}

/**
 * Binary labels from a linear score on standardized latent features (the last
 * `informative` ones carry the signal); `positives` of the rows are 1. Feature j is
 * stored as (z + 3) * scales[j]: positive raw values of very different magnitudes.
 */
function binaryTable(rng: Rng, rows: number, features: number, informative: number, positives: number, scales: number[]): Table {
  const z = Array.from({ length: features }, () => Float64Array.from({ length: rows }, () => normal(rng)));
  const w = Array.from({ length: features }, (_, j) => (j < features - informative ? 0 : (rng.next() < 0.5 ? -1 : 1) * (0.5 + rng.next())));
  const score = Float64Array.from({ length: rows }, (_, r) => w.reduce((s, wj, j) => s + wj * z[j][r], 0) + 0.3 * normal(rng));
  const cut = [...score].sort((a, b) => b - a)[Math.max(0, Math.round(rows * positives) - 1)];
  const label = Float64Array.from(score, (s) => (s >= cut ? 1 : 0));
  return columnsTable([...z.map((col, j) => Float64Array.from(col, (v) => (v + 3) * scales[j])), label]);
}

function spec(s: Record<string, unknown>): ResolvedJobSpec {
  return resolveJobSpec({ dataset: { uri: 'dataset:parity' }, ...s } as unknown as JobSpec);
}

function majorityRate(t: Table): number {
  const y = t.data[t.columns - 1].values as Float64Array;
  const counts = new Map<number, number>();
  for (const v of y) counts.set(v, (counts.get(v) ?? 0) + 1);
  return Math.max(...counts.values()) / y.length;
}

/** MAE of predicting the mean of every target column (over all rows: a generous baseline). */
function meanMae(t: Table, targets: number): number {
  let total = 0;
  for (let c = t.columns - targets; c < t.columns; c++) {
    const y = t.data[c].values as Float64Array;
    const m = mean([...y]);
    total += y.reduce((s, v) => s + Math.abs(v - m), 0) / y.length;
  }
  return total / targets;
}

export interface ParitySize {
  /** multiplies rows of every case but the tiny one */
  rows: number;
  /** multiplies epochs */
  epochs: number;
  /** repeats of the k-fold protocol */
  repeats: number;
}

export const TEST_SIZE: ParitySize = { rows: 1, epochs: 1, repeats: 1 };

export function parityCases(size: ParitySize = TEST_SIZE): ParityCase[] {
  const R = (n: number) => Math.round(n * size.rows);
  const E = (n: number) => Math.max(2, Math.round(n * size.epochs));
  const kfold = (folds: number, stratify: boolean) => ({ method: 'kfold', folds, repeats: size.repeats, stratify, shuffle: true, seed: 3 });
  const cases: ParityCase[] = [];

  // 1. raw features from 1e-3 to 1e3, no preprocessing, about a third positives (the unscaled failure mode)
  {
    const rng = createRng(101);
    // magnitudes 1e-3 to 1e3, raw; the label depends on the last five (raw values about 1 to 6000)
    const scales = [1e-3, 1e-2, 0.1, 1, 10, 50, 200, 1e3];
    const table = binaryTable(rng, R(240), 8, 5, 0.35, scales);
    cases.push({
      name: 'unscaled', shape: 'features 1e-3..1e3, unscaled; 35% positives', table, baseline: majorityRate(table), higherIsBetter: true,
      spec: spec({
        model: { layers: [{ type: 'dense', units: 12, activation: 'relu' }, { type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 1, activation: 'sigmoid' }] },
        training: { loss: 'binaryCrossentropy', optimizer: { name: 'adam', learningRate: 0.01 }, metrics: ['accuracy'], epochs: E(40), batchSize: 10 },
        evaluation: kfold(3, true),
      }),
    });
  }
  // 2. heavy class imbalance: 5% positives, standardized, stratified folds; SGD with
  //    (non-Nesterov) momentum, a hidden layer without a bias
  {
    const rng = createRng(202);
    const table = binaryTable(rng, R(400), 10, 4, 0.05, Array(10).fill(1));
    cases.push({
      name: 'imbalanced', shape: '5% positives', table, baseline: majorityRate(table), higherIsBetter: true,
      spec: spec({
        preprocess: { standardize: true },
        model: { layers: [{ type: 'dense', units: 16, activation: 'tanh', kernelInitializer: 'heNormal', useBias: false }, { type: 'dense', units: 1, activation: 'sigmoid' }] },
        training: { loss: 'binaryCrossentropy', optimizer: { name: 'sgd', learningRate: 0.05, momentum: 0.9 }, metrics: ['accuracy'], epochs: E(25), batchSize: 32 },
        evaluation: kfold(3, true),
      }),
    });
  }
  // 3. 10-class softmax on Gaussian blobs, one-hot targets
  {
    const rng = createRng(303);
    const rows = R(400), f = 12, k = 10;
    const centers = Array.from({ length: k }, () => Array.from({ length: f }, () => 3 * normal(rng)));
    const y = Float64Array.from({ length: rows }, (_, r) => r % k);
    const x = Array.from({ length: f }, (_, j) => Float64Array.from(y, (c) => centers[c][j] + normal(rng)));
    const table = columnsTable([...x, y]);
    cases.push({
      name: 'softmax10', shape: '10-class softmax', table, baseline: majorityRate(table), higherIsBetter: true,
      spec: spec({
        preprocess: { minmax: true },
        model: { layers: [{ type: 'dense', units: 24, activation: 'relu', kernelInitializer: 'heUniform' }, { type: 'dense', units: 10, activation: 'softmax' }] },
        training: { loss: 'categoricalCrossentropy', optimizer: { name: 'rmsprop', learningRate: 0.01 }, metrics: ['accuracy'], epochs: E(20), batchSize: 16 },
        evaluation: kfold(3, true),
      }),
    });
  }
  // 4. multi-output regression with targets in the hundreds
  {
    const rng = createRng(404);
    const rows = R(240), f = 6, k = 3;
    const x = Array.from({ length: f }, () => Float64Array.from({ length: rows }, () => normal(rng)));
    const w = Array.from({ length: k }, () => Array.from({ length: f }, () => 40 * normal(rng)));
    const ys = w.map((wt, t) => Float64Array.from({ length: rows }, (_, r) => 300 + 100 * t + wt.reduce((s, v, j) => s + v * x[j][r], 0) + 5 * normal(rng)));
    const table = columnsTable([...x, ...ys]);
    cases.push({
      name: 'regression-hundreds', shape: '3 targets in the hundreds', table, baseline: meanMae(table, 3), higherIsBetter: false,
      spec: spec({
        dataset: { uri: 'dataset:parity', target: [-3, -2, -1] },
        preprocess: { columns: { '0': 'standardize', '1': 'minmax', '2': 'standardize', '3': 'none', '4': 'standardize', '5': 'minmax' } },
        model: { layers: [{ type: 'dense', units: 32, activation: 'relu', kernelInitializer: 'uniform' }, { type: 'dense', units: 3 }] },
        training: { loss: 'mae', optimizer: { name: 'adam', learningRate: 0.05 }, metrics: ['mae', 'mse'], epochs: E(40), batchSize: 16 },
        evaluation: kfold(3, false),
      }),
    });
  }
  // 5. tiny data: 50 rows, 3 classes as class indices, SGD with Nesterov momentum
  {
    const rng = createRng(505);
    const rows = 50, f = 4, k = 3;
    const centers = Array.from({ length: k }, () => Array.from({ length: f }, () => 2.5 * normal(rng)));
    const y = Float64Array.from({ length: rows }, (_, r) => r % k);
    const x = Array.from({ length: f }, (_, j) => Float64Array.from(y, (c) => centers[c][j] + normal(rng)));
    const table = columnsTable([...x, y]);
    cases.push({
      name: 'tiny', shape: '50 rows', table, baseline: majorityRate(table), higherIsBetter: true,
      spec: spec({
        model: { layers: [{ type: 'dense', units: 8, activation: 'relu', kernelInitializer: 'heNormal' }, { type: 'dense', units: 3, activation: 'softmax' }] },
        training: { loss: 'sparseCategoricalCrossentropy', optimizer: { name: 'sgd', learningRate: 0.05, momentum: 0.9, nesterov: true }, metrics: ['accuracy'], epochs: E(40), batchSize: 8 },
        evaluation: kfold(5, true),
      }),
    });
  }
  // 6. wide data: 500 features, two classes a little apart on every feature (like expression
  //    profiles); mean squared error on a sigmoid output, max-norm, dropout after the hidden layer
  {
    const rng = createRng(606);
    const rows = R(200), f = 500;
    const shift = Array.from({ length: f }, () => (rng.next() < 0.5 ? -0.15 : 0.15));
    const y = Float64Array.from({ length: rows }, (_, r) => r % 2);
    const x = Array.from({ length: f }, (_, j) => Float64Array.from(y, (c) => c * shift[j] + normal(rng)));
    const table = columnsTable([...x, y]);
    cases.push({
      name: 'wide', shape: '500 features', table, baseline: majorityRate(table), higherIsBetter: true,
      spec: spec({
        model: { layers: [{ type: 'dense', units: 16, activation: 'relu', kernelConstraint: { maxNorm: 3 } }, { type: 'dropout', rate: 0.2 }, { type: 'dense', units: 1, activation: 'sigmoid' }] },
        training: { loss: 'mse', optimizer: { name: 'adam', learningRate: 0.005 }, metrics: ['accuracy'], epochs: E(15), batchSize: 16 },
        evaluation: kfold(3, false),
      }),
    });
  }
  return cases;
}

export interface EngineScores {
  engine: string;
  scores: number[];
  mean: number;
  /** standard error of the mean (sample std / sqrt(n)) */
  stderr: number;
  ms: number;
}

/** Every evaluation unit of a case through one engine, same splits and seeds as the other engine. */
export async function runCase(c: ParityCase, engine: EngineImpl): Promise<EngineScores> {
  const started = Date.now();
  const scores: number[] = [];
  const hooks = { onEpoch: () => undefined, control: () => 'continue' as const, saveCheckpoint: async () => undefined };
  for (const unit of planUnits(c.spec).filter((u) => u.kind === 'eval')) {
    const out = await runUnit({ spec: c.spec, unit, table: c.table, hooks, engine });
    if (out.score === undefined) throw new Error(`${c.name} ${unit.key}: no score`);
    scores.push(out.score);
  }
  const n = scores.length;
  return { engine: engine.name, scores, mean: mean(scores), stderr: n > 1 ? std(scores) * Math.sqrt(n / (n - 1)) / Math.sqrt(n) : 0, ms: Date.now() - started };
}

/**
 * The agreement rule: the fused mean lies within the tfjs mean +- 3 combined standard
 * errors (sqrt(se_fused^2 + se_tfjs^2)), with a floor of 1% of the metric's scale
 * (0.01 for accuracy, 1% of the baseline error for regression) when both engines are
 * nearly deterministic.
 */
export function parityTolerance(c: ParityCase, a: EngineScores, b: EngineScores): number {
  const combined = Math.sqrt(a.stderr ** 2 + b.stderr ** 2);
  const floor = c.higherIsBetter ? 0.01 : 0.01 * c.baseline;
  return Math.max(3 * combined, floor);
}

/** Better than the trivial baseline by a margin (accuracy: 1 point; error: 10% lower). */
export function beatsBaseline(c: ParityCase, s: EngineScores): boolean {
  return c.higherIsBetter ? s.mean > c.baseline + 0.01 : s.mean < 0.9 * c.baseline;
}

/** Every activation, initializer, loss, optimizer and metric the cases exercise, for the coverage check. */
export function caseFeatures(c: ParityCase): { activations: string[]; kernelInitializers: string[]; biasInitializers: string[]; losses: string[]; optimizers: string[]; metrics: string[]; dropout: boolean; maxNorm: boolean; noBias: boolean } {
  const layers: NormalizedLayer[] = normalizeLayers(c.spec, c.table.columns - c.spec.dataset.target.length);
  const dense = layers.filter((l): l is Extract<NormalizedLayer, { type: 'dense' }> => l.type === 'dense');
  return {
    activations: dense.map((l) => l.activation),
    kernelInitializers: dense.map((l) => l.kernelInitializer),
    biasInitializers: dense.filter((l) => l.useBias).map((l) => l.biasInitializer),
    losses: [c.spec.training.loss],
    optimizers: [optimizerVariant(c.spec.training.optimizer)],
    metrics: c.spec.training.metrics,
    dropout: layers.some((l) => l.type === 'dropout'),
    maxNorm: dense.some((l) => l.maxNorm !== undefined),
    noBias: dense.some((l) => !l.useBias),
  };
}
