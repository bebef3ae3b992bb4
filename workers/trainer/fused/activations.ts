/**
 * Activations of the fused engine, forward and backward, over whole mini-batches.
 * Formulas follow the tfjs-layers activations (and their autodiff gradients):
 * hardSigmoid = clip(0.2x + 0.5, 0, 1), elu alpha 1, selu with the Keras constants,
 * swish = x * sigmoid(x), mish = x * tanh(softplus(x)), gelu = x * Phi(x) with the
 * same erf approximation as the tfjs cpu kernel.
 */

import { canonicalActivation } from '../../../services/core/vocabulary.ts';

export const ACTIVATION_KINDS = [
  'linear', 'relu', 'relu6', 'sigmoid', 'hardSigmoid', 'tanh', 'softmax', 'softplus',
  'softsign', 'elu', 'selu', 'swish', 'mish', 'gelu',
] as const;
export type ActivationKind = (typeof ACTIVATION_KINDS)[number];

/** Canonical activation kind (through the vocabulary table), or undefined when the fused engine has no such activation. */
export function activationKind(name: string): ActivationKind | undefined {
  const c = canonicalActivation(name);
  return c !== undefined && (ACTIVATION_KINDS as readonly string[]).includes(c) ? (c as ActivationKind) : undefined;
}

const SELU_ALPHA = 1.6732632423543772848170429916717;
const SELU_SCALE = 1.0507009873554804934193349852946;
const INV_SQRT2 = 1 / Math.SQRT2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

export const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
/** log(1 + exp(x)) without overflow. */
export const softplus = (x: number): number => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));

/** erf, Abramowitz & Stegun 7.1.26 (the approximation the tfjs cpu backend uses). */
export function erf(x: number): number {
  const s = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return s * (1 - poly * Math.exp(-a * a));
}

/** Scalar activation (not softmax, which needs the whole row). */
export function activateScalar(kind: ActivationKind, x: number): number {
  switch (kind) {
    case 'linear': return x;
    case 'relu': return x > 0 ? x : 0;
    case 'relu6': return x > 0 ? (x < 6 ? x : 6) : 0;
    case 'sigmoid': return sigmoid(x);
    case 'hardSigmoid': { const y = 0.2 * x + 0.5; return y < 0 ? 0 : y > 1 ? 1 : y; }
    case 'tanh': return Math.tanh(x);
    case 'softplus': return softplus(x);
    case 'softsign': return x / (1 + Math.abs(x));
    case 'elu': return x > 0 ? x : Math.expm1(x);
    case 'selu': return x > 0 ? SELU_SCALE * x : SELU_SCALE * SELU_ALPHA * Math.expm1(x);
    case 'swish': return x * sigmoid(x);
    case 'mish': return x * Math.tanh(softplus(x));
    case 'gelu': return x * 0.5 * (1 + erf(x * INV_SQRT2));
    case 'softmax': throw new Error('softmax is a row activation');
  }
}

/** Derivative da/dz given the pre-activation z and the activation a = f(z). */
export function derivative(kind: ActivationKind, z: number, a: number): number {
  switch (kind) {
    case 'linear': return 1;
    case 'relu': return z > 0 ? 1 : 0;
    case 'relu6': return z > 0 && z < 6 ? 1 : 0;
    case 'sigmoid': return a * (1 - a);
    case 'hardSigmoid': { const y = 0.2 * z + 0.5; return y >= 0 && y <= 1 ? 0.2 : 0; }
    case 'tanh': return 1 - a * a;
    case 'softplus': return sigmoid(z);
    case 'softsign': { const d = 1 + Math.abs(z); return 1 / (d * d); }
    case 'elu': return z > 0 ? 1 : a + 1;
    case 'selu': return z > 0 ? SELU_SCALE : SELU_SCALE * SELU_ALPHA * Math.exp(z);
    case 'swish': { const s = sigmoid(z); return s + z * s * (1 - s); }
    case 'mish': {
      const t = Math.tanh(softplus(z));
      return t + z * (1 - t * t) * sigmoid(z);
    }
    case 'gelu': return 0.5 * (1 + erf(z * INV_SQRT2)) + z * INV_SQRT_2PI * Math.exp(-0.5 * z * z);
    case 'softmax': throw new Error('softmax is a row activation');
  }
}

/** a = f(z) for `rows` rows of `cols` values. */
export function activate(kind: ActivationKind, z: Float32Array, a: Float32Array, rows: number, cols: number): void {
  const n = rows * cols;
  switch (kind) {
    case 'linear':
      a.set(z.subarray(0, n));
      return;
    case 'relu':
      for (let i = 0; i < n; i++) { const v = z[i]; a[i] = v > 0 ? v : 0; }
      return;
    case 'sigmoid':
      for (let i = 0; i < n; i++) a[i] = sigmoid(z[i]);
      return;
    case 'softmax':
      for (let r = 0; r < rows; r++) {
        const o = r * cols;
        let max = -Infinity;
        for (let c = 0; c < cols; c++) if (z[o + c] > max) max = z[o + c];
        let sum = 0;
        for (let c = 0; c < cols; c++) sum += Math.exp(z[o + c] - max);
        const lse = max + Math.log(sum);
        for (let c = 0; c < cols; c++) a[o + c] = Math.exp(z[o + c] - lse);
      }
      return;
    default:
      for (let i = 0; i < n; i++) a[i] = activateScalar(kind, z[i]);
  }
}

/**
 * dz = da * f'(z) for `rows` x `cols` values (softmax: the row Jacobian-vector product
 * dz = a * (da - sum(da * a))). `dz` may alias `da`.
 */
export function backprop(kind: ActivationKind, z: Float32Array, a: Float32Array, da: Float32Array, dz: Float32Array, rows: number, cols: number): void {
  const n = rows * cols;
  switch (kind) {
    case 'linear':
      if (dz !== da) dz.set(da.subarray(0, n));
      return;
    case 'relu':
      for (let i = 0; i < n; i++) dz[i] = z[i] > 0 ? da[i] : 0;
      return;
    case 'sigmoid':
      for (let i = 0; i < n; i++) { const v = a[i]; dz[i] = da[i] * v * (1 - v); }
      return;
    case 'softmax':
      for (let r = 0; r < rows; r++) {
        const o = r * cols;
        let dot = 0;
        for (let c = 0; c < cols; c++) dot += da[o + c] * a[o + c];
        for (let c = 0; c < cols; c++) dz[o + c] = a[o + c] * (da[o + c] - dot);
      }
      return;
    default:
      for (let i = 0; i < n; i++) dz[i] = da[i] * derivative(kind, z[i], a[i]);
  }
}
