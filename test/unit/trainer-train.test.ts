import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { resolveJobSpec } from '../../services/core/job-defaults.ts';
import type { JobSpec } from '../../services/core/spec.ts';
import { planUnits, type UnitRef } from '../../services/core/units.ts';
import { memoryArtifactStore } from '../../services/core/artifacts.ts';
import { selectBackend } from '../../services/platform/tf-backend.ts';
import { generateBuiltin } from '../../workers/trainer/ml/generators.ts';
import { parseCsv } from '../../services/platform/csv.ts';
import { runUnit, type Checkpoint, type UnitHooks } from '../../workers/trainer/ml/run-unit.ts';
import { chooseEngine } from '../../workers/trainer/ml/fused-engine.ts';
import { saveModelToStore, loadModelFromStore } from '../../services/platform/model-store.ts';
import { createPredictor } from '../../services/platform/predict.ts';

const REG = 'builtin:make_regression?n_samples=200&n_features=5&n_informative=5&noise=0.1&random_state=1';

function spec(over: Record<string, unknown> = {}, training: Record<string, unknown> = {}): ReturnType<typeof resolveJobSpec> {
  return resolveJobSpec({
    dataset: { uri: REG },
    preprocess: { standardize: true },
    model: { layers: [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 1 }] },
    training: { loss: 'mse', epochs: 20, batchSize: 16, optimizer: { name: 'adam', learningRate: 0.05 }, ...training },
    ...over,
  } as unknown as JobSpec);
}

const FINAL: UnitRef = { kind: 'final', run: 0, repeat: 0, fold: 0, key: 'final' };
const EVAL0: UnitRef = { kind: 'eval', run: 0, repeat: 0, fold: 0, key: 'r0-p0-f0' };

function hooks(over: Partial<UnitHooks> = {}): UnitHooks & { checkpoints: Checkpoint[]; epochs: number[] } {
  const checkpoints: Checkpoint[] = [];
  const epochs: number[] = [];
  return {
    checkpoints,
    epochs,
    onEpoch: (e) => void epochs.push(e),
    control: () => 'continue',
    saveCheckpoint: async (c) => void checkpoints.push(JSON.parse(JSON.stringify(c)) as Checkpoint),
    ...over,
  };
}

beforeAll(async () => {
  const b = await selectBackend('cpu');
  expect(b.name).toBe('cpu');
});

describe('runUnit (tfjs, cpu backend)', () => {
  it('regression with validationSplit: loss goes down, history has loss and val_loss', async () => {
    const s = spec({}, { validationSplit: 0.33 });
    const out = await runUnit({ spec: s, unit: FINAL, table: generateBuiltin(REG), hooks: hooks() });
    expect(out.status).toBe('done');
    expect(out.history).toHaveLength(20);
    expect(out.history.map((h) => h.epoch)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(Object.keys(out.history[0]).sort()).toEqual(['epoch', 'loss', 'val_loss']);
    expect(out.history[19].loss).toBeLessThan(out.history[0].loss / 5);
    expect(out.trainRows).toBe(134); // Keras: floor(200 * (1 - 0.33)) rows train, the last 66 validate
    expect(out.meta.standardize?.mean).toHaveLength(5);
    expect(out.model).toBeDefined();
    out.model!.dispose();
  });

  it('holdout with validationData heldOut: val_* are the held-out metrics; score is the primary metric there', async () => {
    const s = spec({ evaluation: { method: 'holdout', testSize: 0.25 } }, { metrics: ['mae'], validationData: 'heldOut', epochs: 5 });
    const before = tf.memory().numTensors;
    const counts: number[] = [];
    const out = await runUnit({ spec: s, unit: EVAL0, table: generateBuiltin(REG), hooks: hooks({ onEpoch: () => void counts.push(tf.memory().numTensors) }) });
    expect(out.testRows).toBe(50);
    expect(out.trainRows).toBe(150);
    const last = out.history[4];
    expect(Object.keys(last).sort()).toEqual(['epoch', 'loss', 'mae', 'val_loss', 'val_mae']);
    expect(out.heldOut!.loss).toBeCloseTo(last.val_loss, 3);
    expect(out.heldOut!.mae).toBeCloseTo(last.val_mae, 3);
    expect(out.score).toBe(out.heldOut!.mae);
    expect(out.model).toBeUndefined();
    expect(new Set(counts).size).toBe(1); // no tensor growth per epoch
    expect(tf.memory().numTensors).toBe(before);
  });

  it('early stopping stops after patience and restores the best weights', async () => {
    // monitor val_loss in "max" mode: the first epoch stays best, so training stops at epoch 1 + patience
    const s = spec({ evaluation: { method: 'holdout', testSize: 0.25 } }, {
      validationData: 'heldOut', epochs: 30, earlyStopping: { monitor: 'val_loss', patience: 2, mode: 'max', restoreBestWeights: true },
    });
    const out = await runUnit({ spec: s, unit: EVAL0, table: generateBuiltin(REG), hooks: hooks() });
    expect(out.history).toHaveLength(3);
    expect(out.heldOut!.loss).toBeCloseTo(out.history[0].val_loss, 3);
    expect(out.heldOut!.loss).toBeGreaterThan(out.history[2].val_loss);
  });

  it('checkpoint at epoch k, then resume: full-length history identical to an uninterrupted run', async () => {
    const s = spec({ evaluation: { method: 'kfold', folds: 3 } }, { epochs: 8, checkpointEvery: 2 });
    const table = generateBuiltin(REG);
    const before = tf.memory().numTensors;
    const full = await runUnit({ spec: s, unit: EVAL0, table, hooks: hooks() });
    expect(tf.memory().numTensors).toBe(before); // checkpoints leave no optimizer tensors behind
    let n = 0;
    const h1 = hooks({ onEpoch: () => void n++, control: () => (n >= 5 ? 'stop' : 'continue') });
    const first = await runUnit({ spec: s, unit: EVAL0, table, hooks: h1 });
    expect(first.status).toBe('interrupted');
    expect(h1.checkpoints.map((c) => c.epoch)).toEqual([2, 4, 5]);
    const ck = h1.checkpoints[2];
    expect(ck.engine).toBe('tfjs');
    const h2 = hooks();
    const resumed = await runUnit({ spec: s, unit: EVAL0, table, checkpoint: ck, hooks: h2 });
    expect(resumed.status).toBe('done');
    expect(tf.memory().numTensors).toBe(before); // nor does restoring the optimizer from one
    expect(h2.epochs).toEqual([6, 7, 8]);
    expect(resumed.history.map((h) => h.epoch)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
    resumed.history.forEach((h, i) => expect(rel(h.loss, full.history[i].loss)).toBeLessThan(1e-5));
    expect(rel(resumed.score!, full.score!)).toBeLessThan(1e-5);
  });

  it.each(['tfjs', 'fused'])('%s: without checkpointEvery, periodic checkpoints follow training time (none in a short unit, every epoch when the interval is 0)', async (engine) => {
    const table = generateBuiltin(REG);
    const run = (s: ReturnType<typeof spec>, h: ReturnType<typeof hooks>) =>
      runUnit({ spec: s, unit: EVAL0, table, hooks: h, engine: (layers) => chooseEngine(s, layers, 'cpu') });
    const quick = hooks();
    const short = await run(spec({}, { epochs: 6, engine }), quick);
    expect(short.engine).toBe(engine);
    expect(quick.checkpoints).toEqual([]); // the default is 30 s of training; this unit takes well under that
    const always = hooks();
    await run(spec({}, { epochs: 6, engine, checkpointSeconds: 0 }), always);
    expect(always.checkpoints.map((c) => c.epoch)).toEqual([1, 2, 3, 4, 5]); // the last epoch ends the unit instead
  });

  it('a NaN loss fails with training_diverged naming the epoch', async () => {
    const s = spec({ preprocess: { standardize: false } }, { optimizer: { name: 'sgd', learningRate: 10 }, epochs: 5 });
    await expect(runUnit({ spec: s, unit: FINAL, table: generateBuiltin(REG), hooks: hooks() }))
      .rejects.toMatchObject({ code: 'training_diverged', message: expect.stringMatching(/loss became NaN at epoch \d/) });
  });

  it('stratified k-fold classification reports accuracy; the output width is checked', async () => {
    const uri = 'builtin:make_classification?n_samples=300&n_features=6&n_informative=4&n_redundant=0&n_classes=3&random_state=3';
    const s = resolveJobSpec({
      dataset: { uri },
      preprocess: { standardize: true },
      model: { layers: [{ type: 'dense', units: 16, activation: 'relu', kernelInitializer: 'he_uniform' }, { type: 'dense', units: 3, activation: 'softmax' }] },
      training: { loss: 'categorical_crossentropy', metrics: ['accuracy'], epochs: 15, optimizer: { name: 'adam', learningRate: 0.02 } },
      evaluation: { method: 'kfold', folds: 5, stratify: true },
    } as unknown as JobSpec);
    const units = planUnits(s);
    const out = await runUnit({ spec: s, unit: units[2], table: generateBuiltin(uri), hooks: hooks() });
    expect(out.testRows).toBe(60);
    expect(out.history[14].accuracy).toBeGreaterThan(0.6);
    expect(out.score).toBe(out.heldOut!.accuracy);
    expect(out.meta.encoding).toBe('onehot');
    const bad = { ...s, model: { layers: [{ type: 'dense', units: 1 }] } } as typeof s;
    await expect(runUnit({ spec: bad, unit: units[0], table: generateBuiltin(uri), hooks: hooks() })).rejects.toMatchObject({ code: 'spec_invalid', field: 'model.layers.0.units' });
  });

  it('sgd with momentum, nesterov and time-based decay trains', async () => {
    const s = spec({}, { optimizer: { name: 'sgd', learningRate: 0.0005, momentum: 0.9, nesterov: true, decay: 0.01 }, epochs: 10 });
    const out = await runUnit({ spec: s, unit: FINAL, table: generateBuiltin(REG), hooks: hooks() });
    expect(out.history[9].loss).toBeLessThan(out.history[0].loss);
    out.model?.dispose();
    // a large decay shrinks the step size batch by batch, so training lags behind
    const slow = await runUnit({ spec: { ...s, training: { ...s.training, optimizer: { ...s.training.optimizer, decay: 1 } } }, unit: FINAL, table: generateBuiltin(REG), hooks: hooks() });
    expect(slow.history[9].loss).toBeGreaterThan(out.history[9].loss * 1.5);
    slow.model?.dispose();
  });
});

describe('model artifacts and predict', () => {
  const rows = Array.from({ length: 120 }, (_, i) => {
    const a = ((i * 37) % 100) / 10, b = ((i * 11) % 50) / 10;
    return { a, b, label: a + b > 7 ? 'yes' : 'no' };
  });
  const csv = ['a,b,label', ...rows.map((r) => `${r.a},${r.b},'${r.label}'`)].join('\n');

  it('IOHandler round-trip gives identical predictions; predict decodes string labels and checks row width', async () => {
    const s = resolveJobSpec({
      dataset: { uri: 'dataset:x', header: true },
      preprocess: { standardize: true },
      model: { layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 1, activation: 'sigmoid' }] },
      training: { loss: 'binaryCrossentropy', metrics: ['accuracy'], epochs: 40, optimizer: { name: 'adam', learningRate: 0.05 } },
    } as unknown as JobSpec);
    const out = await runUnit({ spec: s, unit: FINAL, table: parseCsv(csv, { header: true }), hooks: hooks() });
    expect(out.meta.labels).toEqual(['no', 'yes']);
    const store = memoryArtifactStore();
    await saveModelToStore(out.model!, store, 'jobs/j1/model/');
    await store.putJson('jobs/j1/model/meta.json', out.meta);
    const mj = (await store.getJson<{ format: string; weightsManifest: { paths: string[] }[] }>('jobs/j1/model/model.json'))!;
    expect(mj.format).toBe('layers-model');
    expect(mj.weightsManifest[0].paths).toEqual(['weights.bin']);

    const x = tf.tensor2d([[0.5, -1], [1, 1.2]]);
    const loaded = await loadModelFromStore(tf, store, 'jobs/j1/model/');
    expect(Array.from((loaded.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from((out.model!.predict(x) as tf.Tensor).dataSync()));
    loaded.dispose();
    x.dispose();
    out.model!.dispose();

    const p = await createPredictor(store, 'j1');
    const r = await p.predict([[9, 4.5], [0.1, 0.2]]);
    expect(r.labels).toEqual(['yes', 'no']);
    expect(r.predictions[0][0]).toBeGreaterThan(0.5);
    await expect(p.predict([[1, 2], [1, 2, 3]])).rejects.toMatchObject({ code: 'predict_input_invalid', field: 'rows.1' });
    p.dispose();
    await expect(createPredictor(store, 'nope')).rejects.toMatchObject({ code: 'model_unavailable' });
  });
});
