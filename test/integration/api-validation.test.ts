/**
 * POST /v1/jobs rejects what the caller got wrong with a 4xx whose message names
 * the field: schema (unknown fields at any depth, wrong types, limits), cross-field
 * rules, and rules that need the data set.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStack, type TestStack } from '../../support/app.ts';

let stack: TestStack;
let classes: string; // dataset:<id> with 3 columns, label column: 20 x "0", 3 x "1"

const base = () => ({
  name: 'mlp',
  dataset: { uri: 'builtin:make_regression?n_samples=200&n_features=8&n_targets=1&random_state=2', target: [-1] },
  model: { layers: [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 1 }] },
  training: { loss: 'mse', optimizer: { name: 'adam', learningRate: 0.01 }, epochs: 10, batchSize: 16 },
  evaluation: { method: 'kfold', folds: 5 },
}) as Record<string, any>;

type Case = [what: string, edit: (s: Record<string, any>) => unknown, field: string, fragment?: RegExp];

const CASES: Case[] = [
  ['unknown top-level field', (s) => (s.colour = 'red'), 'colour', /unknown field/],
  ['unknown field in training', (s) => (s.training.foo = 1), 'training.foo', /unknown field/],
  ['unknown field in training.optimizer', (s) => (s.training.optimizer.lr = 1), 'training.optimizer.lr', /unknown field/],
  ['unknown field in a layer', (s) => (s.model.layers[0].unit = 3), 'model.layers.0.unit', /unknown field/],
  ['unknown field in a dropout layer', (s) => s.model.layers.unshift({ type: 'dropout', rate: 0.2, keep: 1 }), 'model.layers.0.keep', /unknown field/],
  ['unknown field in evaluation', (s) => (s.evaluation.k = 10), 'evaluation.k', /unknown field/],
  ['epochs as a string', (s) => (s.training.epochs = '100'), 'training.epochs', /integer/],
  ['units as a float', (s) => (s.model.layers[0].units = 1.5), 'model.layers.0.units', /integer/],
  ['header as a string', (s) => (s.dataset.header = 'false'), 'dataset.header', /boolean/],
  ['target as a number', (s) => (s.dataset.target = -1), 'dataset.target', /array/],
  ['a missing loss', (s) => delete s.training.loss, 'training.loss', /required/],
  ['an unknown loss', (s) => (s.training.loss = 'mean_squared_eror'), 'training.loss', /must be one of .*"mse"/],
  ['an unknown layer type', (s) => (s.model.layers[0].type = 'conv2d'), 'model.layers.0'],
  ['more than 32 layers', (s) => (s.model.layers = Array.from({ length: 33 }, () => ({ type: 'dense', units: 2 }))), 'model.layers', /32/],
  ['more than 4096 units', (s) => (s.model.layers[0].units = 4097), 'model.layers.0.units', /<= 4096/],
  ['a dropout rate of 1', (s) => s.model.layers.unshift({ type: 'dropout', rate: 1 }), 'model.layers.0.rate', /< 1/],
  ['more than 10000 epochs', (s) => (s.training.epochs = 10_001), 'training.epochs', /<= 10000/],
  ['batchSize 0', (s) => (s.training.batchSize = 0), 'training.batchSize', />= 1/],
  ['1 fold', (s) => (s.evaluation.folds = 1), 'evaluation.folds', />= 2/],
  ['101 folds', (s) => (s.evaluation.folds = 101), 'evaluation.folds', /<= 100/],
  ['more than 100 repeats', (s) => (s.evaluation.repeats = 101), 'evaluation.repeats', /<= 100/],
  ['testSize 0', (s) => (s.evaluation = { method: 'holdout', testSize: 0 }), 'evaluation.testSize', /> 0/],
  ['testSize 1', (s) => (s.evaluation = { method: 'holdout', testSize: 1 }), 'evaluation.testSize', /< 1/],
  ['runs x folds x repeats over the limit', (s) => ((s.evaluation = { method: 'kfold', folds: 100, repeats: 10 }), (s.runs = 2)), 'runs', /2000 training units, over the limit of 1000/],
  ['folds with method holdout', (s) => (s.evaluation = { method: 'holdout', folds: 3 }), 'evaluation.folds', /kfold/],
  ['both layers and keras', (s) => (s.model.keras = { class_name: 'Sequential' }), 'model', /exactly one/],
  ['a dropout output layer', (s) => s.model.layers.push({ type: 'dropout', rate: 0.5 }), 'model.layers.2', /dense/],
  ['a target column out of range', (s) => (s.dataset.target = [9]), 'dataset.target.0', /out of range: the data set has 9 columns/],
  ['a builtin generator typo', (s) => (s.dataset.uri = 'builtin:make_regresion?n_samples=10'), 'dataset.uri', /unknown generator "make_regresion"/],
  ['a builtin parameter typo', (s) => (s.dataset.uri = 'builtin:make_regression?n_sample=10'), 'dataset.uri', /unknown parameter "n_sample"/],
  ['a non-numeric builtin parameter', (s) => (s.dataset.uri = 'builtin:make_classification?n_samples=many'), 'dataset.uri', /n_samples must be an integer/],
  ['a Keras JSON with a Conv2D layer (the worker cannot build it)', (s) => {
    delete s.model.layers;
    s.model.keras = { class_name: 'Sequential', config: { layers: [{ class_name: 'Conv2D', config: { filters: 4, kernel_size: [3, 3] } }, { class_name: 'Dense', config: { units: 1 } }] } };
  }, 'model.keras.config.layers.0', /unsupported layer class "Conv2D"/],
  ['a Keras JSON with an unknown activation', (s) => {
    delete s.model.layers;
    s.model.keras = { class_name: 'Sequential', config: { layers: [{ class_name: 'Dense', config: { units: 4, activation: 'leaky_relu', batch_input_shape: [null, 8] } }, { class_name: 'Dense', config: { units: 1 } }] } };
  }, 'model.keras.config.layers.0.config.activation', /unsupported activation "leaky_relu"/],
  ['a Keras JSON whose input width is not the data set\'s', (s) => {
    delete s.model.layers;
    s.model.keras = { class_name: 'Sequential', config: { layers: [{ class_name: 'Dense', config: { units: 4, batch_input_shape: [null, 5] } }, { class_name: 'Dense', config: { units: 1 } }] } };
  }, 'model.keras.config.layers.0', /expects 5 input features but the data set has 8/],
  ['an output layer wider than the targets', (s) => (s.model.layers[1].units = 3), 'model.layers.1.units', /3 units but the targets need 1/],
  ['a generator beyond the cell limit', (s) => (s.dataset.uri = 'builtin:make_regression?n_samples=1000000&n_features=100'), 'dataset.uri', /cells, over the limit of 50000000/],
  ['a generator parameter beyond its bound', (s) => (s.dataset.uri = 'builtin:make_regression?n_samples=10&noise=-1'), 'dataset.uri', /noise must be in \[0, inf\]/],
  ['make_classification with more informative features than features', (s) => (s.dataset.uri = 'builtin:make_classification?n_samples=50&n_features=3&n_informative=4'), 'dataset.uri', /must be at most n_features \(3\)/],
  ['both standardize and minmax', (s) => (s.preprocess = { standardize: true, minmax: true }), 'preprocess.minmax', /not both/],
  ['a per-column choice on the target column', (s) => (s.preprocess = { columns: { '-1': 'minmax' } }), 'preprocess.columns.-1', /is a target column/],
  ['a per-column choice out of range', (s) => (s.preprocess = { columns: { '12': 'minmax' } }), 'preprocess.columns.12', /out of range: the data set has 9 columns/],
  ['an unknown per-column choice', (s) => (s.preprocess = { columns: { '0': 'robust' } }), 'preprocess.columns.0', /must be one of "none", "standardize", "minmax"/],
  ['an unsupported URI scheme', (s) => (s.dataset.uri = 'http://example.com/x.csv'), 'dataset.uri'],
  ['an unknown dataset id', (s) => (s.dataset.uri = 'dataset:ds_0000000000000000000000'), 'dataset.uri', /not found/],
];

beforeAll(async () => {
  stack = await createTestStack({ label: 'api-validation' });
  const rows = [...Array.from({ length: 20 }, (_, i) => `${i},${i * 2},0`), ...Array.from({ length: 3 }, (_, i) => `${i},${-i},1`)];
  const up = await stack.app.inject({ method: 'POST', url: '/v1/datasets', headers: { ...stack.auth('acme'), 'content-type': 'text/csv' }, payload: rows.join('\n') + '\n' });
  expect(up.statusCode).toBe(201);
  classes = up.json().uri;
});
afterAll(async () => {
  await stack?.close();
});

const submit = (payload: unknown, url = '/v1/jobs?dryRun=true', tenant = 'acme') =>
  stack.app.inject({ method: 'POST', url, headers: stack.auth(tenant), payload: payload as object });

describe('POST /v1/jobs validation', () => {
  it('accepts the base spec (so every case below fails for its own reason)', async () => {
    const res = await submit(base());
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ valid: true, unitsTotal: 5, resolved: { training: { epochs: 10, shuffle: true } } });
  });

  it.each(CASES)('rejects %s, naming the field', async (_what, edit, field, fragment) => {
    const spec = base();
    edit(spec);
    const res = await submit(spec);
    expect(res.statusCode).toBe(400);
    const { error } = res.json();
    expect(error.message.startsWith(`${field}: `), error.message).toBe(true);
    expect(error.field).toBe(field);
    if (fragment) expect(error.message).toMatch(fragment);
    expect(['validation_failed', 'dataset_not_found']).toContain(error.code);
  });

  it('accepts silu in layers as it does in Keras JSON', async () => {
    const spec = base();
    spec.model.layers[0].activation = 'silu';
    expect((await submit(spec)).statusCode).toBe(200);
  });

  it('defaults the target of make_regression with n_targets=3 to its three target columns', async () => {
    const spec = base();
    spec.dataset = { uri: 'builtin:make_regression?n_samples=60&n_features=4&n_targets=3&random_state=1' };
    spec.model.layers[1].units = 3;
    const res = await submit(spec);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().resolved.dataset.target).toEqual([-3, -2, -1]);
    spec.model.layers[1].units = 1;
    const narrow = await submit(spec);
    expect(narrow.statusCode).toBe(400);
    expect(narrow.json().error.message).toMatch(/^model\.layers\.1\.units: the output layer has 1 units but the targets need 3/);
  });

  it('rejects the same cases without dryRun, creating nothing', async () => {
    const spec = base();
    spec.training.epochs = 10_001;
    const res = await submit(spec, '/v1/jobs');
    expect(res.statusCode).toBe(400);
    expect((await stack.app.inject({ url: '/v1/jobs', headers: stack.auth('acme') })).json().items).toEqual([]);
  });

  it('rejects more stratified folds than the smallest class of an uploaded data set has rows', async () => {
    const spec = base();
    spec.dataset = { uri: classes, target: [-1] };
    spec.model.layers[1].activation = 'sigmoid';
    spec.training.loss = 'binaryCrossentropy';
    spec.evaluation = { method: 'kfold', folds: 5, stratify: true };
    const res = await submit(spec);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toBe('evaluation.folds: 5 stratified folds need at least 5 rows of every class; the smallest class has 3');
    spec.evaluation.folds = 3;
    expect((await submit(spec)).statusCode).toBe(200);
  });

  it('does not let a tenant use another tenant\'s data set', async () => {
    const spec = base();
    spec.dataset = { uri: classes, target: [-1] };
    const res = await submit(spec, '/v1/jobs?dryRun=true', 'globex');
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'dataset_not_found', field: 'dataset.uri' });
  });

  it('answers 400 bad_request for malformed JSON', async () => {
    const res = await stack.app.inject({
      method: 'POST', url: '/v1/jobs', headers: { ...stack.auth('acme'), 'content-type': 'application/json' }, payload: '{"name": "x",',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('bad_request');
    expect(res.json().error.message).toMatch(/JSON/);
  });

  it('answers 415 for a body that is not JSON', async () => {
    const res = await stack.app.inject({
      method: 'POST', url: '/v1/jobs', headers: { ...stack.auth('acme'), 'content-type': 'text/csv' }, payload: '1,2,3\n',
    });
    expect(res.statusCode).toBe(415);
    expect(res.json().error.code).toBe('unsupported_media_type');
  });

  it('answers 413 for a body over the route limit', async () => {
    const spec = base();
    spec.name = 'x'.repeat(9 * 1024 * 1024);
    const res = await submit(spec, '/v1/jobs');
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('payload_too_large');
  });

  it('validates the query too: dryRun must be a boolean, limit 1..200', async () => {
    const bad = await submit(base(), '/v1/jobs?dryRun=maybe');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toMatch(/^dryRun: /);
    for (const limit of ['0', '201', 'ten']) {
      const res = await stack.app.inject({ url: `/v1/jobs?limit=${limit}`, headers: stack.auth('acme') });
      expect(res.statusCode).toBe(400);
      expect(res.json().error.message).toMatch(/^limit: /);
    }
    const status = await stack.app.inject({ url: '/v1/jobs?status=sleeping', headers: stack.auth('acme') });
    expect(status.statusCode).toBe(400);
    expect(status.json().error.message).toMatch(/^status: must be one of/);
  });
});
