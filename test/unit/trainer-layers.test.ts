import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { normalizeLayers, fromKerasJson } from '../../services/core/layers.ts';
import { buildModel } from '../../workers/trainer/ml/model.ts';
import { selectBackend } from '../../services/platform/tf-backend.ts';

// Keras 2.2 model.to_json() of: Dropout(0.2, input_shape=(60,)), Dense(60, relu, kernel_initializer='normal',
// kernel_constraint=maxnorm(3)), Dense(30, relu, he_uniform), Dense(1, sigmoid)
const keras2 = {
  class_name: 'Sequential',
  config: {
    name: 'sequential_1',
    layers: [
      { class_name: 'Dropout', config: { name: 'dropout_1', trainable: true, batch_input_shape: [null, 60], dtype: 'float32', rate: 0.2, noise_shape: null, seed: null } },
      { class_name: 'Dense', config: { name: 'dense_1', trainable: true, units: 60, activation: 'relu', use_bias: true,
        kernel_initializer: { class_name: 'RandomNormal', config: { mean: 0.0, stddev: 0.05, seed: null } },
        bias_initializer: { class_name: 'Zeros', config: {} }, kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null,
        kernel_constraint: { class_name: 'MaxNorm', config: { max_value: 3, axis: 0 } }, bias_constraint: null } },
      { class_name: 'Dense', config: { name: 'dense_2', units: 30, activation: 'relu', use_bias: true,
        kernel_initializer: { class_name: 'VarianceScaling', config: { scale: 2.0, mode: 'fan_in', distribution: 'uniform', seed: null } },
        bias_initializer: { class_name: 'Zeros', config: {} }, kernel_constraint: null } },
      { class_name: 'Dense', config: { name: 'dense_3', units: 1, activation: 'sigmoid', use_bias: true,
        kernel_initializer: { class_name: 'VarianceScaling', config: { scale: 1.0, mode: 'fan_avg', distribution: 'uniform', seed: null } },
        bias_initializer: { class_name: 'Zeros', config: {} } } },
    ],
  },
  keras_version: '2.2.4',
  backend: 'tensorflow',
};

// Keras 3 layout: InputLayer with batch_shape, initializers by class name
const keras3 = {
  module: 'keras', class_name: 'Sequential',
  config: {
    name: 'sequential',
    layers: [
      { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, 60], dtype: 'float32', name: 'input_layer' } },
      { module: 'keras.layers', class_name: 'Dropout', config: { name: 'dropout', rate: 0.2, seed: null } },
      { module: 'keras.layers', class_name: 'Dense', config: { name: 'dense', units: 60, activation: 'relu', use_bias: true,
        kernel_initializer: { module: 'keras.initializers', class_name: 'RandomNormal', config: { mean: 0, stddev: 0.05, seed: null } },
        bias_initializer: { module: 'keras.initializers', class_name: 'Zeros', config: {} },
        kernel_constraint: { module: 'keras.constraints', class_name: 'MaxNorm', config: { max_value: 3, axis: 0 } } } },
      { module: 'keras.layers', class_name: 'Dense', config: { name: 'd2', units: 30, activation: 'relu', kernel_initializer: { class_name: 'HeUniform', config: { seed: null } } } },
      { module: 'keras.layers', class_name: 'Dense', config: { name: 'd3', units: 1, activation: 'sigmoid', kernel_initializer: { class_name: 'GlorotUniform', config: {} } } },
    ],
  },
};

const layersSpec = {
  layers: [
    { type: 'dropout', rate: 0.2 },
    { type: 'dense', units: 60, activation: 'relu', kernelInitializer: 'normal', kernelConstraint: { maxNorm: 3 } },
    { type: 'dense', units: 30, activation: 'relu', kernelInitializer: 'he_uniform' },
    { type: 'dense', units: 1, activation: 'sigmoid' },
  ],
};

describe('normalizeLayers', () => {
  it('Keras 2 and Keras 3 JSON give the same list as the equivalent layers spec', () => {
    const fromLayers = normalizeLayers({ model: layersSpec as never }, 60);
    expect(fromLayers).toEqual([
      { type: 'dropout', rate: 0.2 },
      { type: 'dense', units: 60, activation: 'relu', useBias: true, kernelInitializer: 'randomNormal005', biasInitializer: 'zeros', maxNorm: 3 },
      { type: 'dense', units: 30, activation: 'relu', useBias: true, kernelInitializer: 'heUniform', biasInitializer: 'zeros' },
      { type: 'dense', units: 1, activation: 'sigmoid', useBias: true, kernelInitializer: 'glorotUniform', biasInitializer: 'zeros' },
    ]);
    expect(normalizeLayers({ model: { keras: keras2 } }, 60)).toEqual(fromLayers);
    expect(normalizeLayers({ model: { keras: keras3 } }, 60)).toEqual(fromLayers);
  });

  it.each([
    ['he_normal', 'heNormal'], ['he_uniform', 'heUniform'], ['normal', 'randomNormal005'], ['uniform', 'randomUniform005'],
    ['glorot_uniform', 'glorotUniform'], ['lecun_uniform', 'leCunUniform'], ['zeros', 'zeros'], ['heNormal', 'heNormal'], ['randomNormal', 'randomNormal005'],
  ])('initializer %s -> %s', (name, want) => {
    const l = normalizeLayers({ model: { layers: [{ type: 'dense', units: 1, kernelInitializer: name }] } as never }, 3);
    expect(l[0]).toMatchObject({ kernelInitializer: want });
  });

  it('refuses unsupported Keras layers naming model.keras.config.layers.<i>', () => {
    const bad = structuredClone(keras2);
    (bad.config.layers as unknown[]).splice(2, 0, { class_name: 'BatchNormalization', config: {} });
    expect(() => fromKerasJson(bad)).toThrow(/model\.keras\.config\.layers\.2/);
    try {
      fromKerasJson(bad);
    } catch (e) {
      expect((e as { code: string }).code).toBe('spec_invalid');
    }
  });

  it('refuses Keras models over the size limits as spec_invalid (not retried), as the API does at submission', () => {
    const big = structuredClone(keras2);
    ((big.config.layers as Array<{ config: Record<string, unknown> }>)[1]).config.units = 1e9;
    expect(() => fromKerasJson(big)).toThrow(/config\.units: must be an integer 1\.\.4096, got 1000000000/);
    try {
      fromKerasJson(big);
    } catch (e) {
      expect((e as { code: string; retryable: boolean }).code).toBe('spec_invalid');
      expect((e as { retryable: boolean }).retryable).toBe(false);
    }
    const deep = { class_name: 'Sequential', config: { layers: Array.from({ length: 200 }, () => ({ class_name: 'Dense', config: { units: 5 } })) } };
    expect(() => fromKerasJson(deep)).toThrow(/has 200 layers, over the limit of 32/);
  });

  it('refuses a Keras input shape that differs from the data set', () => {
    expect(() => normalizeLayers({ model: { keras: keras2 } }, 8)).toThrow(/expects 60 input features/);
  });
});

describe('buildModel', () => {
  it('same seed -> same initial weights; keras "normal" draws N(0, 0.05); dropout first carries the input shape', async () => {
    await selectBackend('cpu');
    const layers = normalizeLayers({ model: layersSpec as never }, 60);
    const a = buildModel(tf, layers, 60, 42);
    const b = buildModel(tf, layers, 60, 42);
    const c = buildModel(tf, layers, 60, 43);
    const w = (m: tf.Sequential) => m.getWeights().map((t) => Array.from(t.dataSync()));
    expect(w(a)).toEqual(w(b));
    expect(w(a)[0]).not.toEqual(w(c)[0]);
    expect(a.inputs[0].shape).toEqual([null, 60]);
    const k = w(a)[0];
    const sd = Math.sqrt(k.reduce((s, v) => s + v * v, 0) / k.length);
    expect(sd).toBeGreaterThan(0.04);
    expect(sd).toBeLessThan(0.06);
    for (const m of [a, b, c]) m.dispose();
  });
});
