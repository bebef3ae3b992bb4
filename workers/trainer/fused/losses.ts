/**
 * Losses (value and gradient at the output layer) and metrics of the fused engine.
 * Per-sample losses are means over the outputs (mae, mse, binary crossentropy) or sums
 * (categorical); sparse targets hold a class index per row.
 *
 * Cross-entropy after the activation that produces its probabilities (sigmoid + binary,
 * softmax + categorical / sparse categorical) is computed as Keras computes it inside
 * model.fit: from the logits z, value and gradient (log(1 + e^-|z|) + max(z, 0) - y z;
 * logsumexp(z) - z_y), so the gradient sigma(z) - y never vanishes on a saturated unit.
 * Any other pairing follows tfjs-layers: probabilities clipped to [1e-7, 1 - 1e-7]
 * (gradient zero where clipped), categorical probabilities first normalised by their sum.
 */
import { backprop, type ActivationKind } from './activations.ts';

export const LOSS_KINDS = ['mae', 'mse', 'binaryCrossentropy', 'categoricalCrossentropy', 'sparseCategoricalCrossentropy'] as const;
export type LossKind = (typeof LOSS_KINDS)[number];
export const isLossKind = (name: string): name is LossKind => (LOSS_KINDS as readonly string[]).includes(name);

export type MetricKind = 'binaryAccuracy' | 'categoricalAccuracy' | 'sparseCategoricalAccuracy' | 'mae' | 'mse' | 'mape';
const DIRECT_METRICS = new Set<string>(['binaryAccuracy', 'categoricalAccuracy', 'sparseCategoricalAccuracy', 'mae', 'mse', 'mape']);

/** What a canonical metric name computes; 'accuracy' picks by loss and output width as Keras does. */
export function metricKind(name: string, loss: LossKind, outputUnits: number): MetricKind | undefined {
  if (name === 'accuracy') {
    if (outputUnits === 1 || loss === 'binaryCrossentropy') return 'binaryAccuracy';
    if (loss === 'sparseCategoricalCrossentropy') return 'sparseCategoricalAccuracy';
    return 'categoricalAccuracy';
  }
  return DIRECT_METRICS.has(name) ? (name as MetricKind) : undefined;
}

/** Columns of y per row: one class index for sparse targets, else one per output. */
export const targetWidth = (loss: LossKind, outputUnits: number): number => (loss === 'sparseCategoricalCrossentropy' ? 1 : outputUnits);

/** tfjs-layers epsilon() clipped as float32, like clipByValue on a float32 tensor. */
export const EPS = Math.fround(1e-7);
export const ONE_MINUS_EPS = Math.fround(1 - 1e-7);
const clip = (p: number): number => (p < EPS ? EPS : p > ONE_MINUS_EPS ? ONE_MINUS_EPS : p);
const inRange = (p: number): boolean => p >= EPS && p <= ONE_MINUS_EPS;

/** Whether the loss is computed from the logits of the output activation (Keras semantics). */
export function lossFromLogits(loss: LossKind, act: ActivationKind | string): boolean {
  return (loss === 'binaryCrossentropy' && act === 'sigmoid')
    || (act === 'softmax' && (loss === 'categoricalCrossentropy' || loss === 'sparseCategoricalCrossentropy'));
}

/** Sum over `rows` of the per-sample cross-entropy from logits `z` (rows x cols); see lossFromLogits. */
export function logitLossSum(loss: LossKind, z: Float32Array, y: Float32Array, rows: number, cols: number): number {
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    if (loss === 'binaryCrossentropy') {
      let s = 0;
      for (let c = 0; c < cols; c++) {
        const v = z[o + c];
        s += Math.max(v, 0) - v * y[o + c] + Math.log1p(Math.exp(-Math.abs(v)));
      }
      total += s / cols;
      continue;
    }
    let max = -Infinity;
    for (let c = 0; c < cols; c++) if (z[o + c] > max) max = z[o + c];
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += Math.exp(z[o + c] - max);
    const lse = max + Math.log(sum);
    if (loss === 'sparseCategoricalCrossentropy') {
      total += lse - z[o + Math.floor(y[r])];
    } else {
      let s = 0;
      for (let c = 0; c < cols; c++) if (y[o + c] !== 0) s += y[o + c] * (lse - z[o + c]);
      total += s;
    }
  }
  return total;
}

/**
 * Sum over `rows` of the per-sample loss for outputs `a` (rows x cols). With the
 * pre-activations `z` of an output whose activation pairs with the loss (see
 * lossFromLogits), the loss comes from the logits.
 */
export function lossSum(loss: LossKind, a: Float32Array, y: Float32Array, rows: number, cols: number, logits?: { z: Float32Array; act: ActivationKind }): number {
  if (logits && lossFromLogits(loss, logits.act)) return logitLossSum(loss, logits.z, y, rows, cols);
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let s = 0;
    switch (loss) {
      case 'mse':
        for (let c = 0; c < cols; c++) { const d = a[o + c] - y[o + c]; s += d * d; }
        s /= cols;
        break;
      case 'mae':
        for (let c = 0; c < cols; c++) s += Math.abs(a[o + c] - y[o + c]);
        s /= cols;
        break;
      case 'binaryCrossentropy':
        for (let c = 0; c < cols; c++) {
          const p = clip(a[o + c]);
          const t = y[o + c];
          s -= t * Math.log(p) + (1 - t) * Math.log(1 - p);
        }
        s /= cols;
        break;
      case 'categoricalCrossentropy': {
        let sum = 0;
        for (let c = 0; c < cols; c++) sum += a[o + c];
        for (let c = 0; c < cols; c++) if (y[o + c] !== 0) s -= y[o + c] * Math.log(clip(a[o + c] / sum));
        break;
      }
      case 'sparseCategoricalCrossentropy': {
        let sum = 0;
        for (let c = 0; c < cols; c++) sum += clip(a[o + c]);
        s = -Math.log(clip(clip(a[o + Math.floor(y[r])]) / sum));
        break;
      }
    }
    total += s;
  }
  return total;
}

/**
 * Gradient of (scale * sum of per-sample losses) with respect to the output layer's
 * pre-activation `z`, written to `dz`; `da` is scratch (rows x cols). Sigmoid + binary
 * crossentropy and softmax + categorical crossentropy are computed from the logits:
 * sigma(z) - y and softmax(z) * sum(y) - y, with no clipping.
 */
export function outputGradient(
  loss: LossKind, act: ActivationKind, z: Float32Array, a: Float32Array, y: Float32Array,
  rows: number, cols: number, scale: number, da: Float32Array, dz: Float32Array,
): void {
  if (loss === 'binaryCrossentropy' && act === 'sigmoid') {
    const k = scale / cols;
    for (let i = 0, n = rows * cols; i < n; i++) dz[i] = (a[i] - y[i]) * k;
    return;
  }
  if (act === 'softmax' && (loss === 'categoricalCrossentropy' || loss === 'sparseCategoricalCrossentropy')) {
    softmaxCrossentropy(loss, a, y, rows, cols, scale, dz);
    return;
  }
  for (let r = 0; r < rows; r++) outputRowGradient(loss, a, y, r, cols, scale, da);
  backprop(act, z, a, da, dz, rows, cols);
}

/** Softmax + (sparse) categorical crossentropy from the logits: dz = softmax(z) * sum(y) - y. */
function softmaxCrossentropy(loss: LossKind, a: Float32Array, y: Float32Array, rows: number, cols: number, scale: number, dz: Float32Array): void {
  const sparse = loss === 'sparseCategoricalCrossentropy';
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const target = sparse ? Math.floor(y[r]) : -1;
    let mass = 1;
    if (!sparse) {
      mass = 0;
      for (let c = 0; c < cols; c++) mass += y[o + c];
    }
    for (let c = 0; c < cols; c++) {
      const t = sparse ? (c === target ? 1 : 0) : y[o + c];
      dz[o + c] = (a[o + c] * mass - t) * scale;
    }
  }
}

/** dL/da for one row (scaled), through the clips and the normalisation. */
function outputRowGradient(loss: LossKind, a: Float32Array, y: Float32Array, r: number, cols: number, scale: number, da: Float32Array): void {
  const o = r * cols;
  switch (loss) {
    case 'mse': {
      const k = (2 * scale) / cols;
      for (let c = 0; c < cols; c++) da[o + c] = (a[o + c] - y[o + c]) * k;
      return;
    }
    case 'mae': {
      // tfjs' abs gradient is step(x, -1): +1 for x > 0, -1 otherwise
      const k = scale / cols;
      for (let c = 0; c < cols; c++) da[o + c] = a[o + c] - y[o + c] > 0 ? k : -k;
      return;
    }
    case 'binaryCrossentropy': {
      const k = scale / cols;
      for (let c = 0; c < cols; c++) {
        const p = a[o + c];
        da[o + c] = inRange(p) ? ((p - y[o + c]) / (p * (1 - p))) * k : 0;
      }
      return;
    }
    case 'categoricalCrossentropy':
    case 'sparseCategoricalCrossentropy': {
      const sparse = loss === 'sparseCategoricalCrossentropy';
      const target = sparse ? Math.floor(y[r]) : -1;
      // sparse targets clip the probabilities once before the categorical loss
      let sum = 0;
      for (let c = 0; c < cols; c++) sum += sparse ? clip(a[o + c]) : a[o + c];
      // g_c = dL/dq_c with q = clip(p / sum); then through the normalisation
      let gq = 0;
      for (let c = 0; c < cols; c++) {
        const t = sparse ? (c === target ? 1 : 0) : y[o + c];
        const q = (sparse ? clip(a[o + c]) : a[o + c]) / sum;
        const g = t !== 0 && inRange(q) ? -t / q : 0;
        da[o + c] = g;
        gq += g * q;
      }
      for (let c = 0; c < cols; c++) {
        let g = ((da[o + c] - gq) / sum) * scale;
        if (sparse && !inRange(a[o + c])) g = 0;
        da[o + c] = g;
      }
      return;
    }
  }
}

/** Sum over `rows` of the per-sample metric (sparse accuracy reads one class index per row). */
export function metricSum(metric: MetricKind, a: Float32Array, y: Float32Array, rows: number, cols: number): number {
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    switch (metric) {
      case 'binaryAccuracy': {
        let hit = 0;
        for (let c = 0; c < cols; c++) if ((a[o + c] > 0.5 ? 1 : 0) === y[o + c]) hit++;
        total += hit / cols;
        break;
      }
      case 'categoricalAccuracy':
        total += argmax(a, o, cols) === argmax(y, o, cols) ? 1 : 0;
        break;
      case 'sparseCategoricalAccuracy':
        total += argmax(a, o, cols) === y[r] ? 1 : 0;
        break;
      case 'mae': {
        let s = 0;
        for (let c = 0; c < cols; c++) s += Math.abs(a[o + c] - y[o + c]);
        total += s / cols;
        break;
      }
      case 'mse': {
        let s = 0;
        for (let c = 0; c < cols; c++) { const d = a[o + c] - y[o + c]; s += d * d; }
        total += s / cols;
        break;
      }
      case 'mape': {
        let s = 0;
        for (let c = 0; c < cols; c++) {
          const t = y[o + c];
          s += Math.abs((t - a[o + c]) / Math.max(Math.abs(t), EPS));
        }
        total += (100 * s) / cols;
        break;
      }
    }
  }
  return total;
}

function argmax(v: Float32Array, o: number, n: number): number {
  let best = 0;
  for (let c = 1; c < n; c++) if (v[o + c] > v[o + best]) best = c;
  return best;
}
