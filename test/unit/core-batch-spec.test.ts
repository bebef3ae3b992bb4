/** BatchSpec expansion: grid, random and merge-patch jobs, and the paths errors name. */
import { describe, expect, it } from 'vitest';
import { diffLeaves, expandBatch, mergePatch, schemaHasPath, type BatchSpec } from '../../services/core/batch-spec.ts';

const base = {
  dataset: { uri: 'builtin:make_regression?n_samples=50' },
  model: { layers: [{ type: 'dense', units: 4 }, { type: 'dropout', rate: 0.2 }, { type: 'dense', units: 1 }] },
  training: { loss: 'mse', epochs: 2, optimizer: { name: 'adam' } },
};
const msg = (b: BatchSpec): string => {
  try {
    expandBatch(b);
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
};

describe('grid', () => {
  it('is the cartesian product, the last path varying fastest, with params and names', () => {
    const jobs = expandBatch({ name: 'g', base, grid: { 'model.layers.0.units': [2, 3], 'model.layers.1.rate': [0.1, 0.5], 'training.batchSize': [8] } });
    expect(jobs.map((j) => j.params)).toEqual([
      { 'model.layers.0.units': 2, 'model.layers.1.rate': 0.1, 'training.batchSize': 8 },
      { 'model.layers.0.units': 2, 'model.layers.1.rate': 0.5, 'training.batchSize': 8 },
      { 'model.layers.0.units': 3, 'model.layers.1.rate': 0.1, 'training.batchSize': 8 },
      { 'model.layers.0.units': 3, 'model.layers.1.rate': 0.5, 'training.batchSize': 8 },
    ]);
    expect(jobs[3].spec.model.layers![0]).toEqual({ type: 'dense', units: 3 });
    expect(jobs[3].spec.model.layers![1]).toEqual({ type: 'dropout', rate: 0.5 });
    expect(jobs[3].spec.name).toBe('g units=3 rate=0.5 batchSize=8');
    expect(base.model.layers[0].units).toBe(4); // the base is not modified
  });
  it('applies the batch priority and resources to every job', () => {
    const [j] = expandBatch({ base: { ...base, resources: { accelerator: 'gpu' } }, grid: { 'training.epochs': [3] }, priority: 80, resources: { spot: 'require' } });
    expect(j.spec.priority).toBe(80);
    expect(j.spec.resources).toEqual({ accelerator: 'gpu', spot: 'require' });
  });
  it.each<[string, BatchSpec, string]>([
    ['a path the JobSpec lacks', { base, grid: { 'training.epochz': [1] } }, 'grid.training.epochz: is not a JobSpec field'],
    ['an element the base lacks', { base, grid: { 'model.layers.3.units': [1] } }, 'grid.model.layers.3.units: model.layers.3 does not exist in base (it has 3 elements)'],
    ['a refused value, by its index', { base, grid: { 'training.epochs': [1, 2, 0] } }, 'grid.training.epochs[2]: must be >= 1'],
    ['an empty grid', { base, grid: {} }, 'grid: is empty: name at least one path with values'],
    ['no values', { base, grid: { 'training.epochs': [] } }, 'grid.training.epochs: has no values'],
    ['no variation at all', { base }, 'grid: give one of grid, random or jobs'],
    ['two variations', { base, grid: { 'training.epochs': [1] }, random: { count: 1, space: { 'training.epochs': { int: [1, 2] } } } }, 'random: give only one of grid, random or jobs (also got grid)'],
    ['more than 1000 jobs', { base, grid: { 'training.epochs': Array.from({ length: 50 }, (_, i) => i + 1), 'training.batchSize': Array.from({ length: 21 }, (_, i) => i + 1) } }, 'grid: makes more than 1000 jobs (the limit of a batch)'],
    ['a base field the schema refuses', { base: { ...base, training: { ...base.training, epochs: 0 } }, grid: { 'training.batchSize': [1] } }, 'base.training.epochs: must be >= 1'],
  ])('refuses %s', (_what, spec, message) => {
    expect(msg(spec).startsWith(message), msg(spec)).toBe(true);
  });
});

describe('random', () => {
  const spec: BatchSpec = {
    base, random: { count: 50, seed: 3, space: {
      'training.optimizer.learningRate': { logUniform: [1e-4, 1e-1] }, 'model.layers.0.units': { int: [8, 16] },
      'model.layers.1.rate': { uniform: [0.1, 0.3] }, 'training.optimizer.name': { choice: ['adam', 'sgd'] },
    } },
  };
  it('samples within the ranges, reproducibly for a seed', () => {
    const a = expandBatch(spec);
    expect(a).toHaveLength(50);
    expect(expandBatch(spec).map((j) => j.params)).toEqual(a.map((j) => j.params));
    const lrs = a.map((j) => j.params['training.optimizer.learningRate'] as number);
    expect(Math.min(...lrs)).toBeGreaterThanOrEqual(1e-4);
    expect(Math.max(...lrs)).toBeLessThan(1e-1);
    expect(lrs.filter((x) => x < 1e-2).length).toBeGreaterThan(20); // log-uniform: two thirds below 1e-2
    const units = new Set(a.map((j) => j.params['model.layers.0.units']));
    expect([...units].every((u) => Number.isInteger(u) && (u as number) >= 8 && (u as number) <= 16)).toBe(true);
    expect(units.size).toBeGreaterThan(5);
    expect(new Set(a.map((j) => j.params['training.optimizer.name']))).toEqual(new Set(['adam', 'sgd']));
    expect(expandBatch({ ...spec, random: { ...spec.random!, seed: 4 } })[0].params).not.toEqual(a[0].params);
  });
  it.each<[string, BatchSpec['random'], string]>([
    ['an empty range', { count: 2, space: { 'training.epochs': { int: [5, 2] } } }, 'random.space.training.epochs: range [5, 2] is empty'],
    ['a log range through 0', { count: 2, space: { 'training.optimizer.learningRate': { logUniform: [0, 1] } } }, 'random.space.training.optimizer.learningRate: logUniform needs a range above 0'],
    ['an unknown path', { count: 2, space: { 'training.lr': { uniform: [0, 1] } } }, 'random.space.training.lr: is not a JobSpec field'],
  ])('refuses %s', (_what, random, message) => {
    expect(msg({ base, random })).toBe(message);
  });
});

describe('jobs', () => {
  it('are merge patches onto base: objects merge, arrays and values replace, null deletes', () => {
    const jobs = expandBatch({ base, jobs: [{ training: { epochs: 7 } }, { training: { optimizer: null, epochs: 9 }, model: { layers: [{ type: 'dense', units: 1 }] } }] });
    expect(jobs[0].spec.training).toEqual({ loss: 'mse', epochs: 7, optimizer: { name: 'adam' } });
    expect(jobs[1].spec.training).toEqual({ loss: 'mse', epochs: 9 });
    expect(jobs[1].spec.model.layers).toEqual([{ type: 'dense', units: 1 }]);
    expect(jobs[0].params).toEqual({ 'training.epochs': 7 });
    expect(jobs[1].params).toMatchObject({ 'training.epochs': 9, 'training.optimizer.name': null });
  });
  it('are full JobSpecs without a base; a bad one is named by its index', () => {
    expect(expandBatch({ jobs: [base, { ...base, name: 'own' }] }).map((j) => j.spec.name)).toEqual(['batch #1', 'own']);
    expect(msg({ jobs: [base, { ...base, dataset: undefined }] })).toBe('jobs.1.dataset: is required');
  });
});

describe('helpers', () => {
  it('mergePatch follows RFC 7386', () => {
    expect(mergePatch({ a: 'b', c: { d: 'e', f: 'g' } }, { a: 'z', c: { f: null } })).toEqual({ a: 'z', c: { d: 'e' } });
    expect(mergePatch({ a: [1, 2] }, { a: [3] })).toEqual({ a: [3] });
    expect(mergePatch({ a: 1 }, 'x')).toBe('x');
  });
  it('diffLeaves lists the dotted paths that differ', () => {
    expect(diffLeaves({ a: { b: 1, c: 2 }, d: [1] }, { a: { b: 1, c: 3 }, d: [2], e: true })).toEqual({ 'a.c': 3, d: [2], e: true });
  });
  it.each([
    ['training.epochs', true], ['model.layers.7.units', true], ['model.layers.0.rate', true], ['model.keras.config.layers', true],
    ['training.optimizer.learningRate', true], ['evaluation.folds', true], ['training.epoch', false], ['model.layers.x.units', false], ['', false],
  ])('schemaHasPath(%s) = %s', (path, has) => {
    expect(schemaHasPath(path)).toBe(has);
  });
});
