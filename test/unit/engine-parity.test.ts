/**
 * Engine parity on data unlike the tutorials': every case of support/parity.ts
 * runs each unit of its k-fold protocol through the fused engine and through tfjs
 * (cpu backend) with the same splits and seeds. The fused mean must lie within the
 * tfjs mean +- 3 combined standard errors (at least 0.01 accuracy / 1% of the baseline
 * error), and both must beat the trivial baseline. training.engine "auto" picks the
 * fused engine only inside PARITY_COVERED, which these cases must cover entry by entry.
 * bench/engine-parity.ts runs the same cases bigger.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../services/platform/tf-backend.ts';
import { chooseEngine, fusedEngine } from '../../workers/trainer/ml/fused-engine.ts';
import { tfjsEngine } from '../../workers/trainer/ml/train-tfjs.ts';
import { PARITY_COVERED } from '../../workers/trainer/fused/index.ts';
import { normalizeLayers } from '../../services/core/layers.ts';
import { resolveJobSpec } from '../../services/core/job-defaults.ts';
import type { JobSpec } from '../../services/core/spec.ts';
import { beatsBaseline, caseFeatures, parityCases, parityTolerance, runCase } from '../../support/parity.ts';

const cases = parityCases();

beforeAll(async () => {
  expect((await selectBackend('cpu')).name).toBe('cpu');
});

describe('engine parity on unseen shapes', () => {
  it('the cases cover every entry of PARITY_COVERED, and nothing outside it', () => {
    const seen = { activations: new Set<string>(), kernelInitializers: new Set<string>(), biasInitializers: new Set<string>(), losses: new Set<string>(), optimizers: new Set<string>(), metrics: new Set<string>() };
    let dropout = false, maxNorm = false, noBias = false;
    for (const c of cases) {
      const f = caseFeatures(c);
      for (const k of Object.keys(seen) as Array<keyof typeof seen>) for (const v of f[k]) seen[k].add(v);
      dropout ||= f.dropout;
      maxNorm ||= f.maxNorm;
      noBias ||= f.noBias;
    }
    for (const k of Object.keys(seen) as Array<keyof typeof seen>) expect([...seen[k]].sort(), k).toEqual([...PARITY_COVERED[k]].sort());
    expect(dropout).toBe(PARITY_COVERED.dropout);
    expect(maxNorm).toBe(PARITY_COVERED.maxNorm);
    expect(noBias).toBe(PARITY_COVERED.noBias);
  });

  it('covers the shapes the tutorials lack', () => {
    expect(cases.map((c) => c.name)).toEqual(['unscaled', 'imbalanced', 'softmax10', 'regression-hundreds', 'tiny', 'wide']);
    const byName = Object.fromEntries(cases.map((c) => [c.name, c]));
    const col = (name: string, j: number) => [...(byName[name].table.data[j].values as Float64Array)];
    const absMax = (xs: number[]) => Math.max(...xs.map(Math.abs));
    expect(absMax(col('unscaled', 0))).toBeLessThan(0.01);
    expect(absMax(col('unscaled', 7))).toBeGreaterThan(1000);
    expect(col('imbalanced', 10).filter((v) => v === 1).length / byName.imbalanced.table.rows).toBeCloseTo(0.05, 2);
    expect(new Set(col('softmax10', 12)).size).toBe(10);
    expect(Math.min(...col('regression-hundreds', 6))).toBeGreaterThan(-100);
    expect(col('regression-hundreds', 8).reduce((a, b) => a + b, 0) / 240).toBeGreaterThan(400);
    expect(byName.tiny.table.rows).toBe(50);
    expect(byName.wide.table.columns - 1).toBe(500);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s: the engines agree and neither sits at the baseline', async (_name, c) => {
    const fused = await runCase(c, fusedEngine);
    const tfjs = await runCase(c, tfjsEngine);
    const tol = parityTolerance(c, fused, tfjs);
    const report = `${c.name}: fused ${fused.mean.toFixed(4)} (se ${fused.stderr.toFixed(4)}), tfjs ${tfjs.mean.toFixed(4)} (se ${tfjs.stderr.toFixed(4)}), tolerance ${tol.toFixed(4)}, baseline ${c.baseline.toFixed(4)}`;
    console.log(report);
    expect(fused.scores.length).toBe(tfjs.scores.length);
    expect(fused.scores.length).toBeGreaterThanOrEqual(3);
    expect(Math.abs(fused.mean - tfjs.mean), report).toBeLessThanOrEqual(tol);
    expect(beatsBaseline(c, fused), report).toBe(true);
    expect(beatsBaseline(c, tfjs), report).toBe(true);
  }, 180_000);
});

describe('auto picks fused only where parity is proven, and says why', () => {
  const spec = (layers: unknown[], training: Record<string, unknown> = {}) => resolveJobSpec({
    dataset: { uri: 'dataset:x' }, model: { layers }, training: { loss: 'binaryCrossentropy', epochs: 1, metrics: ['accuracy'], ...training },
  } as unknown as JobSpec);
  const mlp = [{ type: 'dense', units: 8, activation: 'relu', kernelInitializer: 'he_uniform' }, { type: 'dense', units: 1, activation: 'sigmoid' }];
  const choose = (s: ReturnType<typeof spec>, backend = 'cpu') => chooseEngine(s, normalizeLayers(s, 4), backend);

  it.each([
    ['a covered MLP on a JS backend', spec(mlp), 'cpu', 'fused', /inside what the engine parity suite covers/],
    ['a native TensorFlow backend', spec(mlp), 'tensorflow', 'tfjs', /native TensorFlow backend \(tensorflow\)/],
    ['an activation parity does not cover', spec([{ type: 'dense', units: 8, activation: 'elu' }, mlp[1]]), 'cpu', 'tfjs', /layer 0: activation elu is outside/],
    ['an initializer parity does not cover', spec([{ type: 'dense', units: 8, activation: 'relu', kernelInitializer: 'lecun_normal' }, mlp[1]]), 'cpu', 'tfjs', /kernel initializer leCunNormal is outside/],
    ['l2 regularization', spec([{ type: 'dense', units: 8, activation: 'relu', kernelRegularizer: { l2: 0.01 } }, mlp[1]]), 'cpu', 'tfjs', /l1\/l2 kernel regularization is outside/],
    ['an optimizer the fused engine lacks', spec(mlp, { optimizer: { name: 'adamax' } }), 'cpu', 'tfjs', /fused engine cannot train this model \(optimizer adamax is not supported\)/],
    ['learning-rate decay', spec(mlp, { optimizer: { name: 'sgd', momentum: 0.9, decay: 0.001 } }), 'cpu', 'tfjs', /optimizer decay is outside/],
    ['SGD with momentum (no Nesterov), as the sonar tutorials train', spec(mlp, { optimizer: { name: 'sgd', learningRate: 0.01, momentum: 0.8 } }), 'cpu', 'fused', /inside what the engine parity suite covers/],
    ['plain SGD, which no case trains', spec(mlp, { optimizer: { name: 'sgd', learningRate: 0.1 } }), 'cpu', 'tfjs', /optimizer sgd is outside/],
    ['Adam with its own moments', spec(mlp, { optimizer: { name: 'adam', beta1: 0.8 } }), 'cpu', 'tfjs', /optimizer adam with its beta1 set is outside/],
    ['Adam with the default moments written out', spec(mlp, { optimizer: { name: 'adam', beta1: 0.9, beta2: 0.999 } }), 'cpu', 'fused', /inside/],
    ['RMSprop with momentum', spec(mlp, { optimizer: { name: 'rmsprop', momentum: 0.5 } }), 'cpu', 'tfjs', /optimizer rmsprop with its momentum set is outside/],
    ['a dense layer without a bias', spec([{ ...mlp[0], useBias: false }, mlp[1]]), 'cpu', 'fused', /inside/],
    ['a metric parity does not cover', spec(mlp, { metrics: ['precision'] }), 'cpu', 'tfjs', /metric precision/],
  ] as const)('%s', (_what, s, backend, engine, reason) => {
    const e = choose(s, backend);
    expect(e.name).toBe(engine);
    expect(e.reason).toMatch(reason);
  });

  it('an explicit engine is taken as asked, and says so', () => {
    expect(choose(spec(mlp, { engine: 'tfjs' })).reason).toBe('training.engine is "tfjs"');
    expect(choose(spec([{ type: 'dense', units: 8, activation: 'elu' }, mlp[1]], { engine: 'fused' })).name).toBe('fused');
  });
});
