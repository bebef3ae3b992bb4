/**
 * The fused engine against tfjs 4.22 (cpu backend): same initial weights, one epoch
 * without shuffling, then the weights, the reported loss and metrics and the
 * predictions must agree.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { createRng } from '../../services/core/rng.ts';
import type { NormalizedLayer } from '../../services/core/layers.ts';
import { createFusedModel, trainFused, weightShapes, type FusedTrainOptions } from '../../workers/trainer/fused/index.ts';

type Loss = FusedTrainOptions['loss'];
const TF_LOSS: Record<Loss, string> = {
  mae: 'meanAbsoluteError', mse: 'meanSquaredError', binaryCrossentropy: 'binaryCrossentropy',
  categoricalCrossentropy: 'categoricalCrossentropy', sparseCategoricalCrossentropy: 'sparseCategoricalCrossentropy',
};

const dense = (units: number, activation: string, extra: Partial<Extract<NormalizedLayer, { type: 'dense' }>> = {}): NormalizedLayer => ({
  type: 'dense', units, activation, useBias: true, kernelInitializer: 'glorotUniform', biasInitializer: 'zeros', ...extra,
});

function buildTf(layers: NormalizedLayer[], inputDim: number): tf.Sequential {
  const m = tf.sequential();
  layers.forEach((l, i) => {
    const shape = i === 0 ? { inputShape: [inputDim] } : {};
    if (l.type === 'dropout') {
      m.add(tf.layers.dropout({ rate: l.rate, ...shape }));
      return;
    }
    const reg = l.l1 || l.l2 ? { kernelRegularizer: tf.regularizers.l1l2({ l1: l.l1 ?? 0, l2: l.l2 ?? 0 }) } : {};
    m.add(tf.layers.dense({ units: l.units, activation: l.activation as never, useBias: l.useBias, ...shape, ...reg }));
  });
  return m;
}

interface Data { x: Float32Array; y: Float32Array; rows: number; inputDim: number; yCols: number }

/** Features in [-1, 1]; targets shaped for the loss. */
function data(rows: number, inputDim: number, outputs: number, loss: Loss, seed: number): Data {
  const rng = createRng(seed);
  const x = Float32Array.from({ length: rows * inputDim }, () => rng.next() * 2 - 1);
  const yCols = loss === 'sparseCategoricalCrossentropy' ? 1 : outputs;
  const y = new Float32Array(rows * yCols);
  for (let r = 0; r < rows; r++) {
    const s = x.subarray(r * inputDim, (r + 1) * inputDim).reduce((a, v, i) => a + v * (i % 2 ? -1 : 1.5), 0);
    if (loss === 'binaryCrossentropy') for (let c = 0; c < outputs; c++) y[r * outputs + c] = s + c * 0.3 > 0 ? 1 : 0;
    else if (loss === 'categoricalCrossentropy') y[r * outputs + (s < -0.5 ? 0 : s < 0.5 ? 1 : 2) % outputs] = 1;
    else if (loss === 'sparseCategoricalCrossentropy') y[r] = (s < -0.5 ? 0 : s < 0.5 ? 1 : 2) % outputs;
    else for (let c = 0; c < outputs; c++) y[r * outputs + c] = s * (c + 1) + 0.1 * rng.normal();
  }
  return { x, y, rows, inputDim, yCols };
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return m;
}

interface Case {
  name: string;
  layers: NormalizedLayer[];
  loss: Loss;
  metrics: string[];
  optimizer: FusedTrainOptions['optimizer'];
  tfOptimizer: () => tf.Optimizer;
  batchSize?: number;
  /** emulates the Keras legacy decay in tfjs by setting the rate before each batch */
  decay?: number;
}

async function compare(c: Case, epochs = 1): Promise<void> {
  const inputDim = 5;
  const last = c.layers[c.layers.length - 1] as Extract<NormalizedLayer, { type: 'dense' }>;
  const d = data(37, inputDim, last.units, c.loss, 11);
  const fused = createFusedModel(c.layers, inputDim, 3);
  const initial = fused.weights();
  const batchSize = c.batchSize ?? 8;

  const m = buildTf(c.layers, inputDim);
  const shapes = weightShapes(c.layers, inputDim);
  m.setWeights(initial.map((w, i) => tf.tensor(w, shapes[i])));
  const opt = c.tfOptimizer();
  m.compile({ optimizer: opt, loss: TF_LOSS[c.loss], metrics: c.metrics });
  const xs = tf.tensor2d(d.x, [d.rows, inputDim]);
  const ys = tf.tensor2d(d.y, [d.rows, d.yCols]);
  let iteration = 0;
  const lr = c.optimizer.learningRate ?? 0.01;
  const h = await m.fit(xs, ys, {
    epochs, batchSize, shuffle: false, verbose: 0,
    callbacks: c.decay ? { onBatchBegin: () => { (opt as tf.SGDOptimizer).setLearningRate(lr / (1 + c.decay! * iteration++)); } } : undefined,
  });

  const res = await trainFused(fused, {
    layers: c.layers, inputDim, loss: c.loss, optimizer: { ...c.optimizer, ...(c.decay ? { decay: c.decay } : {}) }, metrics: c.metrics,
    x: d.x, y: d.y, rows: d.rows, outputs: d.yCols, epochs, batchSize, shuffle: false, seed: 1,
    onEpochEnd: () => 'continue',
  });

  const tfWeights = m.getWeights().map((t) => t.dataSync());
  const got = fused.weights();
  tfWeights.forEach((w, i) => expect(maxDiff(got[i], w), `${c.name}: weight ${i}`).toBeLessThan(1e-4));
  // weights really moved, so the comparison is not vacuous
  expect(maxDiff(got[0], initial[0])).toBeGreaterThan(1e-3);
  for (let e = 0; e < epochs; e++) {
    expect(res.history[e].loss, `${c.name}: loss`).toBeCloseTo(h.history.loss[e] as number, 4);
    for (const metric of c.metrics) {
      const key = metric === 'accuracy' ? 'acc' : metric;
      expect(res.history[e][metric], `${c.name}: ${metric}`).toBeCloseTo(h.history[key][e] as number, 4);
    }
  }
  const pred = (m.predict(xs) as tf.Tensor).dataSync();
  expect(maxDiff(fused.predict(d.x, d.rows), pred), `${c.name}: predictions`).toBeLessThan(1e-4);
  tf.dispose([xs, ys]);
  m.dispose();
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('fused engine matches tfjs after training', () => {
  const cases: Case[] = [
    { name: 'mse + sgd, tanh, two outputs', layers: [dense(8, 'tanh'), dense(2, 'linear')], loss: 'mse', metrics: ['mae', 'mse'],
      optimizer: { name: 'sgd', learningRate: 0.05 }, tfOptimizer: () => tf.train.sgd(0.05) },
    { name: 'binary crossentropy + adam, relu', layers: [dense(6, 'relu', { kernelInitializer: 'heNormal' }), dense(1, 'sigmoid')],
      loss: 'binaryCrossentropy', metrics: ['accuracy'], optimizer: { name: 'adam', learningRate: 0.01 }, tfOptimizer: () => tf.train.adam(0.01) },
    { name: 'categorical + nesterov momentum, elu, softmax', layers: [dense(7, 'elu'), dense(3, 'softmax')],
      loss: 'categoricalCrossentropy', metrics: ['accuracy'], optimizer: { name: 'sgd', learningRate: 0.05, momentum: 0.9, nesterov: true },
      tfOptimizer: () => tf.train.momentum(0.05, 0.9, true) },
    { name: 'sparse categorical + rmsprop with momentum, swish', layers: [dense(5, 'swish'), dense(3, 'softmax')],
      loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], optimizer: { name: 'rmsprop', learningRate: 0.01, momentum: 0.5 },
      tfOptimizer: () => tf.train.rmsprop(0.01, 0.9, 0.5) },
    { name: 'mae + adam, l1/l2 regularization, selu, no bias', layers: [dense(4, 'selu', { l1: 0.01, l2: 0.02, useBias: false }), dense(1, 'linear', { l2: 0.05 })],
      loss: 'mae', metrics: ['mape'], optimizer: { name: 'adam', learningRate: 0.02 }, tfOptimizer: () => tf.train.adam(0.02) },
    { name: 'multi-label binary, momentum, mish + gelu, batch larger than data', layers: [dense(6, 'mish'), dense(4, 'gelu'), dense(2, 'sigmoid')],
      loss: 'binaryCrossentropy', metrics: ['accuracy'], optimizer: { name: 'sgd', learningRate: 0.1, momentum: 0.8 },
      tfOptimizer: () => tf.train.momentum(0.1, 0.8), batchSize: 64 },
    { name: 'sgd with legacy decay', layers: [dense(6, 'softplus'), dense(1, 'linear')], loss: 'mse', metrics: [],
      optimizer: { name: 'sgd', learningRate: 0.05 }, tfOptimizer: () => tf.train.sgd(0.05), decay: 0.1 },
  ];
  for (const c of cases) it(c.name, () => compare(c));

  it('three epochs of adam stay in step', () =>
    compare({ name: '3 epochs', layers: [dense(10, 'relu'), dense(5, 'tanh'), dense(1, 'sigmoid')], loss: 'binaryCrossentropy', metrics: ['accuracy'],
      optimizer: { name: 'adam', learningRate: 0.005 }, tfOptimizer: () => tf.train.adam(0.005) }, 3));

  for (const act of ['linear', 'relu', 'relu6', 'sigmoid', 'hardSigmoid', 'tanh', 'softplus', 'softsign', 'elu', 'selu', 'swish', 'mish', 'gelu', 'softmax']) {
    it(`activation ${act}: one sgd epoch`, () =>
      compare({ name: act, layers: [dense(6, act, { kernelInitializer: 'glorotNormal', biasInitializer: 'randomNormal005' }), dense(1, 'linear')],
        loss: 'mse', metrics: [], optimizer: { name: 'sgd', learningRate: 0.1 }, tfOptimizer: () => tf.train.sgd(0.1) }));
  }
});

describe('max-norm as Keras applies it', () => {
  it('matches tfjs with the constraint applied after every batch', async () => {
    const layers: NormalizedLayer[] = [dense(6, 'relu', { maxNorm: 0.5 }), dense(1, 'sigmoid', { maxNorm: 0.7 })];
    const d = data(40, 5, 1, 'binaryCrossentropy', 5);
    const fused = createFusedModel(layers, 5, 9);
    const m = buildTf(layers, 5);
    const shapes = weightShapes(layers, 5);
    m.setWeights(fused.weights().map((w, i) => tf.tensor(w, shapes[i])));
    m.compile({ optimizer: tf.train.sgd(0.5), loss: 'binaryCrossentropy' });
    // tfjs' fit leaves kernel constraints unapplied, so the test applies them itself
    const constrain = (): void => {
      const ws = m.getWeights();
      const next = ws.map((w, i) => (i === 0 || i === 2 ? tf.constraints.maxNorm({ maxValue: i === 0 ? 0.5 : 0.7, axis: 0 }).apply(w) : w));
      m.setWeights(next);
    };
    await m.fit(tf.tensor2d(d.x, [40, 5]), tf.tensor2d(d.y, [40, 1]), { epochs: 2, batchSize: 10, shuffle: false, verbose: 0, callbacks: { onBatchEnd: async () => constrain() } });
    await trainFused(fused, { layers, inputDim: 5, loss: 'binaryCrossentropy', optimizer: { name: 'sgd', learningRate: 0.5 }, metrics: [],
      x: d.x, y: d.y, rows: 40, outputs: 1, epochs: 2, batchSize: 10, shuffle: false, seed: 1, onEpochEnd: () => 'continue' });
    const tfWeights = m.getWeights().map((t) => t.dataSync());
    fused.weights().forEach((w, i) => expect(maxDiff(w, tfWeights[i])).toBeLessThan(1e-4));
    m.dispose();
  });
});

describe('initial weights', () => {
  it('load into a tf.Sequential with the same shapes and give the same predictions', () => {
    const layers: NormalizedLayer[] = [{ type: 'dropout', rate: 0.3 }, dense(9, 'relu', { kernelInitializer: 'heUniform' }), { type: 'dropout', rate: 0.2 }, dense(3, 'softmax', { useBias: false })];
    const fused = createFusedModel(layers, 4, 21);
    const m = buildTf(layers, 4);
    expect(m.getWeights().map((t) => t.shape)).toEqual(weightShapes(layers, 4));
    m.setWeights(fused.weights().map((w, i) => tf.tensor(w, weightShapes(layers, 4)[i])));
    const x = Float32Array.from({ length: 4 * 30 }, (_, i) => Math.sin(i));
    const pred = (m.predict(tf.tensor2d(x, [30, 4])) as tf.Tensor).dataSync();
    expect(maxDiff(fused.predict(x, 30), pred)).toBeLessThan(1e-5);
    m.dispose();
  });
});
