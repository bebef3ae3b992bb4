/**
 * Trust the numbers, end to end through runUnit: the tutorial-shaped binary problem on
 * raw, unscaled features learns with "auto" (which picks the fused engine and says
 * why); a saturated sigmoid output keeps its gradient in both engines (cross-entropy
 * from the logits, as Keras computes it); a configuration that still cannot learn
 * records its training-health warnings;
 * preprocessing is fitted on the training rows only and travels with the model.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveJobSpec } from '../../services/core/job-defaults.ts';
import type { JobSpec } from '../../services/core/spec.ts';
import { planUnits, type UnitRef } from '../../services/core/units.ts';
import { memoryArtifactStore } from '../../services/core/artifacts.ts';
import { selectBackend } from '../../services/platform/tf-backend.ts';
import { parseCsv } from '../../services/platform/csv.ts';
import { chooseEngine } from '../../workers/trainer/ml/fused-engine.ts';
import { runUnit, type UnitHooks } from '../../workers/trainer/ml/run-unit.ts';
import { saveModelToStore } from '../../services/platform/model-store.ts';
import { createPredictor } from '../../services/platform/predict.ts';
import { pimaLikeCsv, pimaLikeRows, pimaSpec, saturatingSpec } from '../support/pima-like.ts';

const hooks: UnitHooks = { onEpoch: () => undefined, control: () => 'continue', saveCheckpoint: async () => undefined };
const table = parseCsv(Buffer.from(pimaLikeCsv()), { header: false });
const evalUnit = (s: ReturnType<typeof resolveJobSpec>): UnitRef => planUnits(s).find((u) => u.kind === 'eval')!;

beforeAll(async () => {
  expect((await selectBackend('cpu')).name).toBe('cpu');
});

describe('the unscaled tutorial problem', () => {
  it('has the shape of the report: 768 rows, 8 raw features in the tens to hundreds, 35% positives', () => {
    const rows = pimaLikeRows();
    expect(rows).toHaveLength(768);
    expect(rows[0]).toHaveLength(9);
    expect(rows.filter((r) => r[8] === 1).length / 768).toBeCloseTo(0.35, 2);
    expect(Math.max(...rows.map((r) => r[1]))).toBeGreaterThan(150);
    expect(Math.max(...rows.map((r) => r[4]))).toBeGreaterThan(300);
  });

  it('reaches >= 0.68 held-out accuracy with engine "auto" (Keras JSON, Adam, binary cross-entropy, 150 epochs, batch 10, holdout 33%)', async () => {
    const spec = resolveJobSpec(pimaSpec('dataset:pima') as unknown as JobSpec);
    const out = await runUnit({ spec, unit: evalUnit(spec), table, hooks, engine: (layers) => chooseEngine(spec, layers, 'cpu') });
    expect(out.engine).toBe('fused');
    expect(out.engineReason).toMatch(/^auto: a dense\/dropout MLP inside what the engine parity suite covers/);
    expect(out.testRows).toBe(254);
    expect(out.history).toHaveLength(150);
    expect(out.history[149].loss).toBeLessThan(out.history[0].loss);
    expect(out.score).toBeGreaterThanOrEqual(0.68);
    expect(out.warnings.map((w) => w.code)).not.toContain('constant_class');
  }, 60_000);

  it('a saturating configuration that still fails says so: constant class, flat loss, unscaled features', async () => {
    const spec = resolveJobSpec(saturatingSpec('dataset:pima') as unknown as JobSpec);
    const out = await runUnit({ spec, unit: evalUnit(spec), table, hooks, engine: (layers) => chooseEngine(spec, layers, 'cpu') });
    const codes = out.warnings.map((w) => w.code);
    expect(codes).toContain('constant_class');
    expect(codes).toContain('loss_flat');
    const cls = out.warnings.find((w) => w.code === 'constant_class')!;
    expect(cls.message).toMatch(/^the model predicts the same class \(1\) for every one of its 254 held-out rows; features are unscaled \(values up to \d+\) — try preprocess.standardize/);
  }, 30_000);
});

describe('a saturated sigmoid keeps its gradient in both engines (cross-entropy from the logits)', () => {
  // one dense unit with weights of one on raw features in the hundreds: z is in the hundreds
  // from the first batch, so sigmoid(z) rounds to 1 for every row
  const saturated = (activation: string, engine: string) => resolveJobSpec({
    dataset: { uri: 'dataset:pima' },
    model: { layers: [{ type: 'dense', units: 1, activation, kernelInitializer: 'ones' }] },
    training: { loss: 'binaryCrossentropy', optimizer: { name: 'adam', learningRate: 0.01 }, metrics: ['accuracy'], epochs: 5, batchSize: 32, engine },
    evaluation: { method: 'holdout', testSize: 0.33, seed: 7 },
  } as unknown as JobSpec);
  // binary cross-entropy on probabilities clipped to [1e-7, 1 - 1e-7] cannot exceed -ln(1e-7)
  const CLIPPED_MAX = -Math.log(1e-7);

  it.each(['fused', 'tfjs'])('%s: the loss is the unclipped logit loss and it falls', async (engine) => {
    const spec = saturated('sigmoid', engine);
    const out = await runUnit({ spec, unit: evalUnit(spec), table, hooks, engine: (layers) => chooseEngine(spec, layers, 'cpu') });
    expect(out.engine).toBe(engine);
    const losses = out.history.map((h) => h.loss);
    expect(losses[0], losses.join(' ')).toBeGreaterThan(10 * CLIPPED_MAX);
    expect(losses[4], losses.join(' ')).toBeLessThan(0.5 * losses[0]);
    expect(out.warnings.map((w) => w.code)).not.toContain('loss_flat');
  }, 30_000);

  it.each(['fused', 'tfjs'])('%s: a clipped pairing (hardSigmoid) stays stuck and says so', async (engine) => {
    const spec = saturated('hardSigmoid', engine);
    const out = await runUnit({ spec, unit: evalUnit(spec), table, hooks, engine: (layers) => chooseEngine(spec, layers, 'cpu') });
    const losses = out.history.map((h) => h.loss);
    expect(Math.max(...losses)).toBeLessThanOrEqual(CLIPPED_MAX);
    expect(out.warnings.map((w) => w.code)).toEqual(expect.arrayContaining(['loss_flat', 'constant_class']));
  }, 30_000);
});

describe('preprocessing', () => {
  const base = (preprocess: Record<string, unknown>) => resolveJobSpec({
    ...pimaSpec('dataset:pima'),
    preprocess,
    model: { layers: [{ type: 'dense', units: 4, activation: 'relu' }, { type: 'dense', units: 1, activation: 'sigmoid' }] },
    training: { loss: 'binaryCrossentropy', metrics: ['accuracy'], epochs: 2, batchSize: 64 },
  } as unknown as JobSpec);

  it('minmax and per-column choices are fitted on the unit\'s training rows only', async () => {
    const spec = base({ minmax: true, columns: { '1': 'standardize', '-2': 'none' } });
    const out = await runUnit({ spec, unit: evalUnit(spec), table, hooks, engine: (layers) => chooseEngine(spec, layers, 'cpu') });
    const s = out.meta.scaling!;
    expect(s.kinds).toEqual(['minmax', 'standardize', 'minmax', 'minmax', 'minmax', 'minmax', 'minmax', 'none']);
    // recompute over the training rows of the same split: the held-out rows never enter the statistics
    const rows = pimaLikeRows();
    const { unitSplit } = await import('../../workers/trainer/ml/run-unit.ts');
    const split = unitSplit(spec, evalUnit(spec), rows.length);
    const train = [...split.train].map((i) => rows[i]);
    const all = rows;
    const minOf = (rs: number[][], j: number) => Math.min(...rs.map((r) => Math.fround(r[j])));
    expect(s.offset[4]).toBe(minOf(train, 4));
    const glucose = train.map((r) => Math.fround(r[1]));
    const m = glucose.reduce((a, b) => a + b, 0) / glucose.length;
    expect(s.offset[1]).toBeCloseTo(m, 4);
    expect([s.offset[7], s.scale[7]]).toEqual([0, 1]);
    // a test row outside the training range would shift a statistic fitted on all rows
    const allMax = Math.max(...all.map((r) => r[6])), trainMax = Math.max(...train.map((r) => r[6]));
    if (allMax !== trainMax) expect(s.offset[6] + s.scale[6]).toBeCloseTo(trainMax, 4);
  });

  it('the final model keeps its scaling and predict applies it', async () => {
    const spec = base({ minmax: true });
    const unit = planUnits({ ...spec, final: { fit: true } }).find((u) => u.kind === 'final')!;
    const out = await runUnit({ spec, unit, table, hooks, engine: (layers) => chooseEngine(spec, layers, 'cpu') });
    const store = memoryArtifactStore();
    await saveModelToStore(out.model!, store, 'm/');
    await store.putJson('m/meta.json', out.meta);
    out.model!.dispose();
    const predictor = await createPredictor(store, 'm/');
    const row = pimaLikeRows()[0].slice(0, 8);
    const scaled = row.map((v, j) => (v - out.meta.scaling!.offset[j]) / out.meta.scaling!.scale[j]);
    expect(Math.max(...scaled)).toBeLessThanOrEqual(1.0001);
    const direct = await createPredictor(store, 'm/');
    const a = await predictor.predict([row]);
    // the same row given already scaled, to a predictor told there is no scaling, answers the same
    (direct.meta as { scaling?: unknown }).scaling = undefined;
    const b = await direct.predict([scaled]);
    expect(a.predictions[0][0]).toBeCloseTo(b.predictions[0][0], 5);
    predictor.dispose();
    direct.dispose();
  });
});
