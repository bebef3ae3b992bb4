/**
 * Analytic gradients of the fused engine against central finite differences of an
 * independent float64 reference forward pass, for every activation, every loss (fused
 * and general output paths) and l1/l2 regularization.
 */
import { describe, expect, it } from 'vitest';
import { createRng } from '../../services/core/rng.ts';
import type { NormalizedLayer } from '../../services/core/layers.ts';
import { createFusedModel, type LossKind } from '../../workers/trainer/fused/index.ts';

type Dense = Extract<NormalizedLayer, { type: 'dense' }>;
const dense = (units: number, activation: string, extra: Partial<Dense> = {}): Dense => ({
  type: 'dense', units, activation, useBias: true, kernelInitializer: 'glorotNormal', biasInitializer: 'randomNormal005', ...extra,
});

/** erf by its Taylor series (accurate to ~1e-12 for |x| < 4). */
function erf(x: number): number {
  if (Math.abs(x) >= 4) return Math.sign(x);
  let term = x;
  let sum = x;
  for (let n = 1; n < 80; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
const sig = (v: number): number => 1 / (1 + Math.exp(-v));
const sp = (v: number): number => Math.log(1 + Math.exp(v));
const REF: Record<string, (v: number) => number> = {
  linear: (v) => v,
  relu: (v) => Math.max(0, v),
  relu6: (v) => Math.min(6, Math.max(0, v)),
  sigmoid: sig,
  hardSigmoid: (v) => Math.min(1, Math.max(0, 0.2 * v + 0.5)),
  tanh: Math.tanh,
  softplus: sp,
  softsign: (v) => v / (1 + Math.abs(v)),
  elu: (v) => (v > 0 ? v : Math.exp(v) - 1),
  selu: (v) => 1.0507009873554805 * (v > 0 ? v : 1.6732632423543772 * (Math.exp(v) - 1)),
  swish: (v) => v * sig(v),
  mish: (v) => v * Math.tanh(sp(v)),
  gelu: (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)),
};

const E = 1e-7;
const clip = (p: number): number => Math.min(1 - E, Math.max(E, p));

/** Mean loss plus penalties, all in float64. */
function refLoss(
  layers: Dense[], w: Float64Array[], x: Float32Array, y: Float32Array, rows: number, inputDim: number, loss: LossKind,
  masks: (Float32Array | null)[] = [],
): number {
  let total = 0;
  const outAct = layers[layers.length - 1].activation;
  // Keras semantics: cross-entropy after sigmoid / softmax is computed from the logits
  const fromLogits = (loss === 'binaryCrossentropy' && outAct === 'sigmoid')
    || (outAct === 'softmax' && (loss === 'categoricalCrossentropy' || loss === 'sparseCategoricalCrossentropy'));
  for (let r = 0; r < rows; r++) {
    let h = Array.from(x.subarray(r * inputDim, (r + 1) * inputDim));
    let logits: number[] = [];
    let k = 0;
    for (const [j, l] of layers.entries()) {
      const mask = masks[j];
      if (mask) h = h.map((v, i) => v * mask[r * h.length + i]);
      const W = w[k++];
      const b = l.useBias ? w[k++] : null;
      const z = Array.from({ length: l.units }, (_, o) => h.reduce((s, v, i) => s + v * W[i * l.units + o], b ? b[o] : 0));
      logits = z;
      if (l.activation === 'softmax') {
        const m = Math.max(...z);
        const e = z.map((v) => Math.exp(v - m));
        const s = e.reduce((a, v) => a + v, 0);
        h = e.map((v) => v / s);
      } else h = z.map(REF[l.activation]);
    }
    const n = h.length;
    const t = loss === 'sparseCategoricalCrossentropy' ? [] : Array.from(y.subarray(r * n, (r + 1) * n));
    if (fromLogits) {
      if (loss === 'binaryCrossentropy') {
        // -t log(sigmoid z) - (1 - t) log(1 - sigmoid z), written without overflow
        total += logits.reduce((s, z, c) => s + t[c] * Math.log1p(Math.exp(-z)) + (1 - t[c]) * Math.log1p(Math.exp(z)), 0) / n;
      } else {
        const m = Math.max(...logits);
        const lse = m + Math.log(logits.reduce((a, z) => a + Math.exp(z - m), 0));
        total += loss === 'sparseCategoricalCrossentropy' ? lse - logits[y[r]] : logits.reduce((a, z, c) => a + t[c] * (lse - z), 0);
      }
      continue;
    }
    switch (loss) {
      case 'mse': total += h.reduce((s, v, c) => s + (v - t[c]) ** 2, 0) / n; break;
      case 'mae': total += h.reduce((s, v, c) => s + Math.abs(v - t[c]), 0) / n; break;
      case 'binaryCrossentropy': total += h.reduce((s, v, c) => s - t[c] * Math.log(clip(v)) - (1 - t[c]) * Math.log(1 - clip(v)), 0) / n; break;
      case 'categoricalCrossentropy': {
        const s = h.reduce((a, v) => a + v, 0);
        total -= h.reduce((a, v, c) => a + t[c] * Math.log(clip(v / s)), 0);
        break;
      }
      case 'sparseCategoricalCrossentropy': {
        const p = h.map(clip);
        const s = p.reduce((a, v) => a + v, 0);
        total -= Math.log(clip(p[y[r]] / s));
        break;
      }
    }
  }
  let penalty = 0;
  let k = 0;
  for (const l of layers) {
    const W = w[k++];
    if (l.useBias) k++;
    for (const v of W) penalty += (l.l1 ?? 0) * Math.abs(v) + (l.l2 ?? 0) * v * v;
  }
  return total / rows + penalty;
}

function check(name: string, all: NormalizedLayer[], loss: LossKind, opts: { scaleLast?: number; rows?: number; dropout?: boolean } = {}): void {
  const layers = all.filter((l): l is Dense => l.type === 'dense');
  const inputDim = 3;
  const rows = opts.rows ?? 6;
  const outputs = layers[layers.length - 1].units;
  const rng = createRng(name.length * 7919 + 13);
  const x = Float32Array.from({ length: rows * inputDim }, () => rng.next() * 3 - 1.5);
  const yCols = loss === 'sparseCategoricalCrossentropy' ? 1 : outputs;
  const y = Float32Array.from({ length: rows * yCols }, () =>
    loss === 'sparseCategoricalCrossentropy' ? rng.int(outputs)
      : loss === 'binaryCrossentropy' ? (rng.next() < 0.5 ? 0 : 1)
        : loss === 'categoricalCrossentropy' ? rng.next() : rng.normal());
  const net = createFusedModel(all, inputDim, 17);
  if (opts.scaleLast) {
    const w = net.weights();
    const idx = w.length - (layers[layers.length - 1].useBias ? 2 : 1);
    w[idx] = w[idx].map((v) => v * opts.scaleLast!);
    net.setWeights(w);
  }
  const ws = net.workspace(rows);
  net.gather(ws, x, y, yCols, null, 0, rows);
  const analyticLoss = net.trainBatch(ws, rows, loss, [], new Float64Array(0), opts.dropout ? createRng(5) : undefined);
  // with dropout the reference replays the masks the forward pass drew
  const masks = opts.dropout ? ws.mask.map((m) => (m ? Float32Array.from(m) : null)) : [];
  if (opts.dropout) expect(masks.some((m) => m && m.includes(0))).toBe(true);
  const ref = (w: Float64Array[]): number => refLoss(layers, w, x, y, rows, inputDim, loss, masks);
  const base = net.weights().map((a) => Float64Array.from(a));
  expect(analyticLoss, `${name}: loss`).toBeCloseTo(ref(base), 5);
  const h = 1e-6;
  let checked = 0;
  base.forEach((arr, p) => {
    for (let i = 0; i < arr.length; i++) {
      const keep = arr[i];
      arr[i] = keep + h;
      const up = ref(base);
      arr[i] = keep - h;
      const down = ref(base);
      arr[i] = keep;
      const numeric = (up - down) / (2 * h);
      const analytic = ws.grads[p][i];
      expect(Math.abs(analytic - numeric), `${name}: weight ${p}[${i}] analytic ${analytic} numeric ${numeric}`)
        .toBeLessThan(2e-4 + 2e-3 * Math.abs(numeric));
      if (numeric !== 0) checked++;
    }
  });
  expect(checked).toBeGreaterThan(0);
}

describe('fused gradients match finite differences', () => {
  for (const act of Object.keys(REF).concat('softmax')) {
    it(`hidden activation ${act}`, () => check(act, [dense(4, act), dense(2, 'linear')], 'mse'));
  }
  it('mse, linear output', () => check('mse', [dense(4, 'tanh'), dense(3, 'linear')], 'mse'));
  it('mae, linear output', () => check('mae', [dense(4, 'tanh'), dense(2, 'linear')], 'mae'));
  it('binary crossentropy, sigmoid output (fused)', () => check('bce-sig', [dense(4, 'relu'), dense(2, 'sigmoid')], 'binaryCrossentropy'));
  it('binary crossentropy, hardSigmoid output (general)', () => check('bce-hard', [dense(4, 'tanh'), dense(1, 'hardSigmoid')], 'binaryCrossentropy'));
  it('categorical crossentropy, softmax output (fused), soft targets', () => check('cce-soft', [dense(4, 'elu'), dense(3, 'softmax')], 'categoricalCrossentropy'));
  it('categorical crossentropy, sigmoid output (general)', () => check('cce-sig', [dense(4, 'elu'), dense(3, 'sigmoid')], 'categoricalCrossentropy'));
  it('sparse categorical, softmax output (fused)', () => check('scce', [dense(4, 'swish'), dense(4, 'softmax')], 'sparseCategoricalCrossentropy'));
  it('sparse categorical, saturated softmax: from the logits, no clipping', () =>
    check('scce-sat', [dense(4, 'relu'), dense(4, 'softmax')], 'sparseCategoricalCrossentropy', { scaleLast: 40, rows: 10 }));
  it('binary crossentropy, saturated sigmoid: from the logits, the gradient does not vanish', () =>
    check('bce-sat', [dense(4, 'relu'), dense(1, 'sigmoid')], 'binaryCrossentropy', { scaleLast: 400, rows: 10 }));
  it('categorical crossentropy, saturated softmax, one-hot targets', () =>
    check('cce-sat', [dense(4, 'tanh'), dense(3, 'softmax')], 'categoricalCrossentropy', { scaleLast: 60, rows: 8 }));
  it('sparse categorical, softplus output (general)', () => check('scce-sp', [dense(4, 'tanh'), dense(3, 'softplus')], 'sparseCategoricalCrossentropy'));
  it('l1 and l2 penalties, no bias', () =>
    check('reg', [dense(4, 'tanh', { l1: 0.01, l2: 0.03, useBias: false }), dense(2, 'linear', { l2: 0.1 })], 'mse'));
  it('dropout on inputs and between layers uses the forward masks', () =>
    check('drop', [{ type: 'dropout', rate: 0.3 }, dense(6, 'relu'), { type: 'dropout', rate: 0.5 }, { type: 'dropout', rate: 0.2 }, dense(4, 'tanh'),
      { type: 'dropout', rate: 0.4 }, dense(1, 'sigmoid')], 'binaryCrossentropy', { dropout: true, rows: 12 }));
  it('three dense layers', () => check('deep', [dense(5, 'selu'), dense(4, 'gelu'), dense(1, 'sigmoid')], 'binaryCrossentropy'));
});
