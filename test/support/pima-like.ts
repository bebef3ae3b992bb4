/**
 * A generated stand-in for the classic "diabetes onset" tutorial data: 768 rows, 8 raw
 * features in the units a clinic records them (counts, mg/dl, mm Hg, years: tens to
 * hundreds, one below 1), a binary label with 35% positives that depends on some of
 * them. Not the real data set; the same shape, scales and class balance.
 */
import { createRng } from '../../services/core/rng.ts';

const FEATURES = [
  // name, mean, std, min, max, weight of the standardized value in the label's score
  ['pregnancies', 3.8, 3.4, 0, 17, 0.4],
  ['glucose', 121, 32, 44, 199, 1.1],
  ['blood_pressure', 69, 19, 0, 122, 0],
  ['skin_thickness', 21, 16, 0, 99, 0],
  ['insulin', 80, 115, 0, 846, 0.1],
  ['bmi', 32, 7.9, 0, 67, 0.7],
  ['pedigree', 0.47, 0.33, 0.08, 2.42, 0.3],
  ['age', 33, 11.8, 21, 81, 0.4],
] as const;

export function pimaLikeRows(rows = 768, seed = 11): number[][] {
  const rng = createRng(seed);
  const data = Array.from({ length: rows }, () => {
    const z = FEATURES.map(() => rng.normal());
    const score = FEATURES.reduce((s, f, j) => s + f[5] * z[j], 0) + 0.9 * rng.normal();
    const x = FEATURES.map(([, m, sd, lo, hi], j) => Math.min(hi, Math.max(lo, m + sd * z[j])));
    return { x, score };
  });
  const cut = data.map((d) => d.score).sort((a, b) => b - a)[Math.round(rows * 0.35) - 1];
  return data.map((d) => [...d.x.map((v, j) => (j === 0 || j >= 1 && j <= 4 || j === 7 ? Math.round(v) : Math.round(v * 1000) / 1000)), d.score >= cut ? 1 : 0]);
}

export const pimaLikeCsv = (rows = 768, seed = 11): string => pimaLikeRows(rows, seed).map((r) => r.join(',')).join('\n') + '\n';

/** The tutorial's model as Keras 2 model.to_json() writes it. */
export const PIMA_KERAS_JSON = {
  class_name: 'Sequential',
  config: {
    name: 'sequential_1',
    layers: [
      { class_name: 'Dense', config: { name: 'dense_1', trainable: true, batch_input_shape: [null, 8], dtype: 'float32', units: 12, activation: 'relu', use_bias: true,
        kernel_initializer: { class_name: 'VarianceScaling', config: { scale: 1.0, mode: 'fan_avg', distribution: 'uniform', seed: null } },
        bias_initializer: { class_name: 'Zeros', config: {} }, kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null } },
      { class_name: 'Dense', config: { name: 'dense_2', trainable: true, units: 8, activation: 'relu', use_bias: true,
        kernel_initializer: { class_name: 'VarianceScaling', config: { scale: 1.0, mode: 'fan_avg', distribution: 'uniform', seed: null } },
        bias_initializer: { class_name: 'Zeros', config: {} }, kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null } },
      { class_name: 'Dense', config: { name: 'dense_3', trainable: true, units: 1, activation: 'sigmoid', use_bias: true,
        kernel_initializer: { class_name: 'VarianceScaling', config: { scale: 1.0, mode: 'fan_avg', distribution: 'uniform', seed: null } },
        bias_initializer: { class_name: 'Zeros', config: {} }, kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null } },
    ],
  },
  keras_version: '2.2.4',
  backend: 'tensorflow',
};

/** The tutorial's protocol on that model: Adam, binary cross-entropy, 150 epochs, batch 10, holdout 33%. */
export const pimaSpec = (uri: string) => ({
  name: 'pima-like-unscaled',
  dataset: { uri },
  model: { keras: PIMA_KERAS_JSON },
  training: { loss: 'binary_crossentropy', optimizer: { name: 'adam' }, metrics: ['accuracy'], epochs: 150, batchSize: 10 },
  evaluation: { method: 'holdout', testSize: 0.33, seed: 7 },
});

/**
 * A configuration that still fails on those raw features: a hard-sigmoid output
 * (cross-entropy on it is clipped, not computed from logits) saturates on inputs in
 * the hundreds and its gradient is zero from the first batch.
 */
export const saturatingSpec = (uri: string) => ({
  name: 'pima-like-saturating',
  dataset: { uri },
  model: { layers: [{ type: 'dense', units: 1, activation: 'hardSigmoid', kernelInitializer: 'ones' }] },
  training: { loss: 'binaryCrossentropy', optimizer: { name: 'adam' }, metrics: ['accuracy'], epochs: 20, batchSize: 32, engine: 'fused' },
  evaluation: { method: 'holdout', testSize: 0.33, seed: 7 },
});
