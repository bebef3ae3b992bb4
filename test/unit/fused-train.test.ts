/** Training behaviour of the fused engine: constraints, dropout, determinism, resume, learning, errors, support check. */
import { describe, expect, it } from 'vitest';
import { createRng } from '../../services/core/rng.ts';
import type { NormalizedLayer } from '../../services/core/layers.ts';
import {
  createFusedModel, fusedSupport, optimizerStateFromArrays, optimizerStateToArrays, trainFused, weightShapes,
  type FusedOptimizerState, type FusedTrainOptions,
} from '../../workers/trainer/fused/index.ts';

type Dense = Extract<NormalizedLayer, { type: 'dense' }>;
const dense = (units: number, activation: string, extra: Partial<Dense> = {}): Dense => ({
  type: 'dense', units, activation, useBias: true, kernelInitializer: 'glorotUniform', biasInitializer: 'zeros', ...extra,
});

/** make_regression-like: y = X w + small noise, 10 features, 3 targets. */
function regression(rows: number, seed: number) {
  const rng = createRng(seed);
  const d = 10;
  const coef = Array.from({ length: d * 3 }, (_, i) => (i % 2 === 0 ? rng.normal() : 0));
  const x = Float32Array.from({ length: rows * d }, () => rng.normal());
  const y = new Float32Array(rows * 3);
  for (let r = 0; r < rows; r++) for (let t = 0; t < 3; t++) {
    let s = 0;
    for (let i = 0; i < d; i++) s += x[r * d + i] * coef[i * 3 + t];
    y[r * 3 + t] = s + 0.01 * rng.normal();
  }
  return { x, y, rows, d };
}

/** mammography-like: 6 features, ~2% positives in a shifted cluster. */
function mammography(rows: number, seed: number) {
  const rng = createRng(seed);
  const d = 6;
  const x = new Float32Array(rows * d);
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const pos = rng.next() < 0.023;
    y[r] = pos ? 1 : 0;
    for (let i = 0; i < d; i++) x[r * d + i] = rng.normal() + (pos ? (i < 3 ? 2.5 : -1.5) : 0);
  }
  return { x, y, rows, d };
}

const base = (layers: NormalizedLayer[], data: { x: Float32Array; y: Float32Array; rows: number; d: number }, extra: Partial<FusedTrainOptions> = {}): FusedTrainOptions => ({
  layers, inputDim: data.d, loss: 'binaryCrossentropy', optimizer: { name: 'adam' }, metrics: ['accuracy'],
  x: data.x, y: data.y, rows: data.rows, outputs: 1, epochs: 3, batchSize: 32, shuffle: true, seed: 5,
  onEpochEnd: () => 'continue', ...extra,
});

const MLP: NormalizedLayer[] = [dense(12, 'relu', { kernelInitializer: 'heNormal' }), { type: 'dropout', rate: 0.2 }, dense(1, 'sigmoid')];

describe('fused training', () => {
  it('keeps every kernel column norm at or below maxNorm', async () => {
    const layers: NormalizedLayer[] = [dense(16, 'relu', { maxNorm: 0.8 }), dense(1, 'sigmoid', { maxNorm: 1.5 })];
    const data = mammography(400, 1);
    const model = createFusedModel(layers, data.d, 2);
    let before = 0;
    const w0 = model.weights()[0];
    for (let o = 0; o < 16; o++) before = Math.max(before, Math.hypot(...Array.from({ length: data.d }, (_, i) => w0[i * 16 + o])));
    expect(before).toBeGreaterThan(0.8);
    await trainFused(model, base(layers, data, { optimizer: { name: 'sgd', learningRate: 0.5 }, epochs: 2 }));
    const shapes = weightShapes(layers, data.d);
    const w = model.weights();
    for (const k of [0, 2]) {
      const [rows, cols] = shapes[k];
      const max = k === 0 ? 0.8 : 1.5;
      for (let o = 0; o < cols; o++) {
        let ss = 0;
        for (let i = 0; i < rows; i++) ss += w[k][i * cols + o] ** 2;
        expect(Math.sqrt(ss)).toBeLessThanOrEqual(max + 1e-5);
      }
    }
  });

  it('uses dropout in training only', async () => {
    const data = mammography(300, 3);
    const layers: NormalizedLayer[] = [{ type: 'dropout', rate: 0.5 }, dense(8, 'tanh'), { type: 'dropout', rate: 0.5 }, dense(1, 'sigmoid')];
    const model = createFusedModel(layers, data.d, 4);
    const p1 = model.predict(data.x, data.rows);
    expect(model.predict(data.x, data.rows)).toEqual(p1);
    const evalLoss = model.evaluate(data.x, data.y, data.rows, 'binaryCrossentropy', []).loss;
    // a zero learning rate leaves the weights alone, so the reported training loss differs only by dropout
    const res = await trainFused(model, base(layers, data, { optimizer: { name: 'sgd', learningRate: 0 }, metrics: [], epochs: 1, validation: { x: data.x, y: data.y, rows: data.rows } }));
    expect(model.predict(data.x, data.rows)).toEqual(p1);
    expect(res.history[0].val_loss).toBeCloseTo(evalLoss, 6);
    expect(Math.abs(res.history[0].loss - evalLoss)).toBeGreaterThan(1e-3);
  });

  it('draws inverted-dropout masks: kept with probability 1 - rate, scaled by 1 / (1 - rate)', () => {
    const data = mammography(1000, 9);
    const net = createFusedModel([{ type: 'dropout', rate: 0.3 }, dense(4, 'linear')], data.d, 1);
    const ws = net.workspace(1000);
    net.gather(ws, data.x, null, 0, null, 0, 1000);
    net.forward(ws, 1000, createRng(3));
    const mask = ws.mask[0]!;
    const kept = mask.filter((m) => m !== 0);
    expect(new Set(kept)).toEqual(new Set([Math.fround(1 / 0.7)]));
    expect(kept.length / mask.length).toBeGreaterThan(0.68);
    expect(kept.length / mask.length).toBeLessThan(0.72);
  });

  it('is deterministic for a seed and differs across seeds', async () => {
    const data = mammography(500, 5);
    const run = async (seed: number) => {
      const model = createFusedModel(MLP, data.d, seed);
      const res = await trainFused(model, base(MLP, data, { seed }));
      return { w: model.weights(), h: res.history };
    };
    const a = await run(1);
    const b = await run(1);
    const c = await run(2);
    expect(b.w).toEqual(a.w);
    expect(b.h).toEqual(a.h);
    expect(c.w[0]).not.toEqual(a.w[0]);
  });

  it('resumes from weights, optimizer state and startEpoch exactly like an uninterrupted run', async () => {
    const data = mammography(300, 7);
    const full = createFusedModel(MLP, data.d, 8);
    const fullRes = await trainFused(full, base(MLP, data, { epochs: 4 }));

    const first = createFusedModel(MLP, data.d, 8);
    let saved: { w: Float32Array[]; s: FusedOptimizerState } | undefined;
    const firstRes = await trainFused(first, base(MLP, data, {
      epochs: 4,
      onEpochEnd: (epoch, _logs, weights, state) => {
        if (epoch === 2) { saved = { w: weights(), s: state() }; return 'stop'; }
        return 'continue';
      },
    }));
    expect(firstRes).toMatchObject({ epochsRun: 2, stopped: true });
    // the state goes through the flat checkpoint form on the way
    const arrays = optimizerStateToArrays(saved!.s, weightShapes(MLP, data.d));
    expect(arrays[0]).toMatchObject({ name: 'iter', shape: [] });
    expect(arrays[0].values[0]).toBe(2 * Math.ceil(300 / 32));
    const state = optimizerStateFromArrays('adam', arrays.map((a) => ({ name: a.name, values: Array.from(a.values) })));
    const resumed = createFusedModel(MLP, data.d, 999);
    const res = await trainFused(resumed, base(MLP, data, { epochs: 4, startEpoch: 2, initialWeights: saved!.w, initialOptimizerState: state }));
    expect(res.history.map((h) => h.epoch)).toEqual([3, 4]);
    expect(res.history).toEqual(fullRes.history.slice(2));
    expect(resumed.weights()).toEqual(full.weights());
  });

  it('learns a make_regression-like linear problem', async () => {
    const data = regression(600, 11);
    const layers: NormalizedLayer[] = [dense(20, 'relu', { kernelInitializer: 'heUniform' }), dense(3, 'linear')];
    const model = createFusedModel(layers, data.d, 1);
    const res = await trainFused(model, { ...base(layers, data), loss: 'mse', metrics: ['mae'], outputs: 3, epochs: 60, batchSize: 16, optimizer: { name: 'adam', learningRate: 0.01 } });
    const first = res.history[0].loss;
    const last = res.history[res.history.length - 1];
    expect(Object.keys(last).sort()).toEqual(['epoch', 'loss', 'mae']);
    expect(last.loss).toBeLessThan(first / 20);
    expect(last.loss).toBeLessThan(0.1);
  });

  it('learns a mammography-like imbalanced binary problem, reporting Keras history keys', async () => {
    const train = mammography(3000, 21);
    const test = mammography(1000, 22);
    const model = createFusedModel(MLP, train.d, 3);
    const res = await trainFused(model, base(MLP, train, { epochs: 15, validation: { x: test.x, y: test.y, rows: test.rows } }));
    const last = res.history[res.history.length - 1];
    expect(Object.keys(last).sort()).toEqual(['accuracy', 'epoch', 'loss', 'val_accuracy', 'val_loss']);
    expect(last.val_accuracy).toBeGreaterThan(0.985);
    expect(last.val_loss).toBeLessThan(0.06);
    const ev = model.evaluate(test.x, test.y, test.rows, 'binaryCrossentropy', ['accuracy']);
    expect(ev.accuracy).toBeCloseTo(last.val_accuracy, 10);
  });

  it('throws a NaN error naming the epoch when the loss diverges', async () => {
    const data = regression(200, 2);
    const layers: NormalizedLayer[] = [dense(10, 'linear'), dense(3, 'linear')];
    const model = createFusedModel(layers, data.d, 1);
    const scaled = { ...data, y: data.y.map((v) => v * 1e18) };
    await expect(trainFused(model, { ...base(layers, scaled), loss: 'mse', metrics: [], outputs: 3, optimizer: { name: 'sgd', learningRate: 0.5 } }))
      .rejects.toThrow(/NaN.*epoch 1/);
  });

  it('stops when onEpochEnd says so and yields to the event loop between epochs', async () => {
    const data = mammography(100, 1);
    let ticks = 0;
    const timer = setInterval(() => { ticks++; }, 0);
    const seen: number[] = [];
    const res = await trainFused(createFusedModel(MLP, data.d, 1), base(MLP, data, {
      epochs: 10,
      onEpochEnd: async (epoch) => {
        seen.push(ticks);
        await new Promise((r) => setTimeout(r, 2));
        return epoch === 3 ? 'stop' : 'continue';
      },
    }));
    clearInterval(timer);
    expect(res).toMatchObject({ epochsRun: 3, stopped: true });
    expect(res.history).toHaveLength(3);
    expect(seen[2]).toBeGreaterThan(seen[0]);
  });

  it('rejects data that does not fit the model', async () => {
    const data = mammography(50, 1);
    await expect(trainFused(createFusedModel(MLP, data.d, 1), base(MLP, { ...data, y: data.y.subarray(1) }))).rejects.toThrow(/y has/);
  });
});

describe('fusedSupport', () => {
  const training = { loss: 'binaryCrossentropy', optimizer: { name: 'adam' }, metrics: ['accuracy'] };
  it('accepts dense/dropout MLPs with supported settings', () => {
    expect(fusedSupport(MLP, training)).toEqual({ ok: true });
    expect(fusedSupport([dense(4, 'relu'), dense(3, 'softmax')], { loss: 'sparseCategoricalCrossentropy', optimizer: 'rmsprop', metrics: ['accuracy'] })).toEqual({ ok: true });
  });
  it.each([
    ['orthogonal initializer', [dense(4, 'relu', { kernelInitializer: 'orthogonal' }), dense(1, 'sigmoid')], training, /initializer orthogonal/],
    ['unknown activation', [dense(4, 'leakyRelu'), dense(1, 'sigmoid')], training, /activation leakyRelu/],
    ['dropout last', [dense(4, 'relu'), { type: 'dropout', rate: 0.1 }], training, /last layer/],
    ['precision metric', MLP, { ...training, metrics: ['precision'] }, /metric precision/],
    ['adagrad', MLP, { ...training, optimizer: { name: 'adagrad' } }, /optimizer adagrad/],
    ['hinge loss', MLP, { ...training, loss: 'hinge' }, /loss hinge/],
    ['mae with class indices', [dense(4, 'relu'), dense(3, 'softmax')], { ...training, loss: 'sparseCategoricalCrossentropy', metrics: ['mae'] }, /one-hot/],
  ] as const)('refuses %s', (_name, layers, t, reason) => {
    const r = fusedSupport(layers as NormalizedLayer[], t as never);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.reason).toMatch(reason);
  });
});
