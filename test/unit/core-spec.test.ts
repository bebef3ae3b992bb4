import { describe, expect, it } from 'vitest';
import { Value } from '@sinclair/typebox/value';
import { JobSpecSchema, type JobSpec } from '../../services/core/spec.ts';
import { checkJobSpec } from '../../services/core/job-rules.ts';
import { resolveJobSpec, unitCount, primaryMetric } from '../../services/core/job-defaults.ts';
import { parseResourceClass, resourceClassOf } from '../../services/core/resource-class.ts';
import { planUnits, splitSeed, modelSeed } from '../../services/core/units.ts';
import { artifactKey, keys } from '../../services/core/keys.ts';
import { NightshiftError } from '../../services/core/errors.ts';

const base = (): JobSpec => ({
  dataset: { uri: 'builtin:make_regression?n_samples=100', target: [-1] },
  model: { layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 1 }] },
  training: { loss: 'mse', epochs: 5 },
});

const fieldOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return (e as NightshiftError).field;
  }
  return undefined;
};

describe('JobSpec schema limits', () => {
  it.each([
    ['layers over 32', (s: any) => (s.model.layers = Array.from({ length: 33 }, () => ({ type: 'dense', units: 2 })))],
    ['units over 4096', (s: any) => (s.model.layers[0].units = 4097)],
    ['epochs over 10000', (s: any) => (s.training.epochs = 10_001)],
    ['batch size 0', (s: any) => (s.training.batchSize = 0)],
    ['folds 1', (s: any) => (s.evaluation = { method: 'kfold', folds: 1 })],
    ['folds 101', (s: any) => (s.evaluation = { method: 'kfold', folds: 101 })],
    ['repeats 101', (s: any) => (s.evaluation = { method: 'kfold', repeats: 101 })],
    ['testSize 1', (s: any) => (s.evaluation = { method: 'holdout', testSize: 1 })],
    ['testSize 0', (s: any) => (s.evaluation = { method: 'holdout', testSize: 0 })],
    ['unknown field', (s: any) => (s.training.epoch = 3)],
    ['epochs as a string', (s: any) => (s.training.epochs = '100')],
    ['unknown loss', (s: any) => (s.training.loss = 'hinge')],
    ['unknown activation', (s: any) => (s.model.layers[0].activation = 'relu9')],
    ['dropout rate 1', (s: any) => (s.model.layers[0] = { type: 'dropout', rate: 1 })],
  ])('rejects %s', (_name, mutate) => {
    const s = base() as any;
    expect(Value.Check(JobSpecSchema, s)).toBe(true);
    mutate(s);
    expect(Value.Check(JobSpecSchema, s)).toBe(false);
  });

  it('accepts the Keras initializer names of the tutorials', () => {
    for (const init of ['he_uniform', 'he_normal', 'normal', 'uniform', 'glorot_uniform', 'heNormal']) {
      const s = base() as any;
      s.model.layers[0].kernelInitializer = init;
      expect(Value.Check(JobSpecSchema, s)).toBe(true);
    }
  });
});

describe('cross-field rules name the field at fault', () => {
  it.each<[string, (s: any) => void, string]>([
    ['both layers and keras', (s) => (s.model.keras = { class_name: 'Sequential' }), 'model'],
    ['neither layers nor keras', (s) => delete s.model.layers, 'model'],
    ['dropout as the last layer', (s) => s.model.layers.push({ type: 'dropout', rate: 0.2 }), 'model.layers.2'],
    ['testSize with kfold', (s) => (s.evaluation = { method: 'kfold', testSize: 0.3 }), 'evaluation.testSize'],
    ['folds with holdout', (s) => (s.evaluation = { method: 'holdout', folds: 5 }), 'evaluation.folds'],
    ['heldOut validation without evaluation', (s) => (s.training.validationData = 'heldOut'), 'training.validationData'],
    ['stratified regression', (s) => (s.evaluation = { method: 'kfold', stratify: true }), 'evaluation.stratify'],
    ['early stopping on val_loss without validation', (s) => (s.training.earlyStopping = { monitor: 'val_loss' }), 'training.earlyStopping.monitor'],
    ['too many units', (s) => ((s.evaluation = { method: 'kfold', folds: 100, repeats: 100 }), (s.runs = 1)), 'runs'],
  ])('%s', (_n, mutate, field) => {
    const s = base() as any;
    mutate(s);
    expect(fieldOf(() => checkJobSpec(s))).toBe(field);
  });

  it.each<[string, (s: any) => void, any, string]>([
    ['target out of range', (s) => (s.dataset.target = [7]), { rows: 100, columns: 5 }, 'dataset.target.0'],
    ['negative target out of range', (s) => (s.dataset.target = [-6]), { rows: 100, columns: 5 }, 'dataset.target.0'],
    ['no feature columns left', (s) => (s.dataset.target = [0, 1]), { rows: 100, columns: 2 }, 'dataset.target'],
    ['more folds than rows', (s) => (s.evaluation = { method: 'kfold', folds: 10 }), { rows: 9, columns: 3 }, 'evaluation.folds'],
    [
      'stratified folds over the smallest class',
      (s) => ((s.training.loss = 'binaryCrossentropy'), (s.evaluation = { method: 'kfold', folds: 10, stratify: true })),
      { rows: 100, columns: 3, classCounts: [null, null, { a: 95, b: 5 }] },
      'evaluation.folds',
    ],
  ])('against the data set: %s', (_n, mutate, summary, field) => {
    const s = base() as any;
    mutate(s);
    expect(fieldOf(() => checkJobSpec(s, summary))).toBe(field);
  });

  it('a valid spec passes with the data set summary', () => {
    const s = base() as any;
    s.training.loss = 'binaryCrossentropy';
    s.evaluation = { method: 'kfold', folds: 5, stratify: true };
    expect(() => checkJobSpec(s, { rows: 100, columns: 3, classCounts: [null, null, { a: 95, b: 5 }] })).not.toThrow();
  });
});

describe('resolution and fan-out', () => {
  it('fills defaults and canonical names', () => {
    const s = base() as any;
    s.training.loss = 'mean_absolute_error';
    s.training.metrics = ['acc'];
    const r = resolveJobSpec(s);
    expect(r.training.loss).toBe('mae');
    expect(r.training.metrics).toEqual(['accuracy']);
    expect(r.training.batchSize).toBe(32);
    expect(r.training.optimizer.name).toBe('adam');
    expect(r.evaluation.method).toBe('none');
    expect(primaryMetric(r)).toBe('accuracy');
  });

  it.each<[string, any, number, string[]]>([
    ['none trains one final unit', { evaluation: { method: 'none' } }, 1, ['final']],
    ['holdout', { evaluation: { method: 'holdout' } }, 1, ['r0-p0-f0']],
    ['holdout + final', { evaluation: { method: 'holdout' }, final: { fit: true } }, 2, ['r0-p0-f0', 'final']],
    ['10-fold x 3 repeats', { evaluation: { method: 'kfold', folds: 10, repeats: 3 } }, 30, ['r0-p0-f0', 'r0-p2-f9']],
    ['5-fold x 2 runs + final', { evaluation: { method: 'kfold', folds: 5 }, runs: 2, final: { fit: true } }, 11, ['r1-p0-f4', 'final']],
  ])('%s', (_n, patch, count, someKeys) => {
    const r = resolveJobSpec({ ...base(), ...patch });
    const units = planUnits(r);
    expect(units).toHaveLength(count);
    expect(unitCount(r)).toBe(count);
    expect(new Set(units.map((u) => u.key)).size).toBe(count);
    for (const k of someKeys) expect(units.map((u) => u.key)).toContain(k);
  });

  it('repeats reshuffle with new split seeds; runs draw new model seeds but share splits', () => {
    const r = resolveJobSpec({ ...base(), evaluation: { method: 'kfold', folds: 3, repeats: 2 }, runs: 2 });
    expect(splitSeed(r, 0)).not.toBe(splitSeed(r, 1));
    const u = planUnits(r);
    const seeds = new Set(u.map((x) => modelSeed(r, x)));
    expect(seeds.size).toBe(u.length);
  });

  it('artifact names map into the job prefix only', () => {
    expect(artifactKey('job_1', 'history.json')).toBe(keys.history('job_1'));
    expect(artifactKey('job_1', 'model.json')).toBe('jobs/job_1/model/model.json');
    expect(artifactKey('job_1', 'units/r0-p0-f3/history.json')).toBe('jobs/job_1/units/r0-p0-f3/history.json');
    expect(artifactKey('job_1', '../job_2/summary.json')).toBeUndefined();
    expect(artifactKey('job_1', 'units/../../x/history.json')).toBeUndefined();
  });
});

describe('resource classes', () => {
  const spec = (resources?: object) => resolveJobSpec({ ...base(), ...(resources ? { resources } : {}) } as JobSpec);
  it.each<[object | undefined, 'no' | 'prefer' | 'require' | undefined, string]>([
    [undefined, undefined, 'any'],
    [{ accelerator: 'gpu' }, undefined, 'gpu'],
    [{ accelerator: 'gpu', spot: 'prefer' }, 'prefer', 'gpu/spot=prefer'],
    [{ accelerator: 'cpu', instanceTypes: ['c5.xlarge', 'm5.xlarge'], maxHourlyUsd: 0.5 }, undefined, 'cpu/types=c5.xlarge+m5.xlarge/max=0.5'],
  ])('%j (spot %s) -> %s, and back', (resources, spot, cls) => {
    const r = spec(resources);
    expect(resourceClassOf(r, spot)).toBe(cls);
    const back = parseResourceClass(cls);
    expect(back.accelerator).toBe(r.resources.accelerator);
    expect(back.spot).toBe(spot);
    expect(back.instanceTypes).toEqual(r.resources.instanceTypes);
    expect(back.maxHourlyUsd).toBe(r.resources.maxHourlyUsd);
  });

  it('a price cap below every on-demand type is refused when the job cannot use spot', () => {
    const s = { ...base(), resources: { instanceTypes: ['p3.2xlarge'], maxHourlyUsd: 1 } } as JobSpec;
    expect(fieldOf(() => checkJobSpec(s, undefined, { instanceTypes: ['p3.2xlarge'], spot: 'no' }))).toBe('resources.maxHourlyUsd');
    expect(() => checkJobSpec({ ...s, resources: { ...s.resources, spot: 'prefer' } } as JobSpec, undefined, { instanceTypes: ['p3.2xlarge'], spot: 'no' })).not.toThrow();
    expect(() => checkJobSpec({ ...s, resources: { instanceTypes: ['g4dn.xlarge'], maxHourlyUsd: 1 } } as JobSpec, undefined, { instanceTypes: ['p3.2xlarge'], spot: 'no' })).not.toThrow();
    // local compute: no fleet prices to check against
    expect(() => checkJobSpec(s)).not.toThrow();
  });
});
