/**
 * tf.Sequential from the normalized layer list, the optimizer of a spec (Keras
 * defaults), and loss/metric names (tfjs for compile, Keras for history).
 * Initializers are seeded from the unit's model seed (seed + layer index), so the same
 * seed gives the same initial weights. Dropout masks are not seeded: tfjs-core's
 * seeded dropout draws the same mask on every batch, which would defeat dropout.
 */
import type * as tfjs from '@tensorflow/tfjs';
import type { ResolvedJobSpec } from '../../../services/core/job-defaults.ts';
import { NightshiftError } from '../../../services/core/errors.ts';
import type { Tf } from '../../../services/platform/tf-backend.ts';
import type { NormalizedLayer } from '../../../services/core/layers.ts';

type MetricFn = (yTrue: tfjs.Tensor, yPred: tfjs.Tensor) => tfjs.Tensor;

function initializer(tf: Tf, name: string, seed: number): ReturnType<Tf['initializers']['zeros']> {
  const I = tf.initializers;
  switch (name) {
    case 'glorotUniform': return I.glorotUniform({ seed });
    case 'glorotNormal': return I.glorotNormal({ seed });
    case 'heUniform': return I.heUniform({ seed });
    case 'heNormal': return I.heNormal({ seed });
    case 'leCunUniform': return I.leCunUniform({ seed });
    case 'leCunNormal': return I.leCunNormal({ seed });
    case 'randomNormal005': return I.randomNormal({ mean: 0, stddev: 0.05, seed });
    case 'randomUniform005': return I.randomUniform({ minval: -0.05, maxval: 0.05, seed });
    case 'truncatedNormal': return I.truncatedNormal({ mean: 0, stddev: 0.05, seed });
    case 'orthogonal': return I.orthogonal({ seed });
    case 'identity': return I.identity({});
    case 'zeros': return I.zeros();
    case 'ones': return I.ones();
    default: throw new NightshiftError('spec_invalid', `unknown initializer ${JSON.stringify(name)}`);
  }
}

/** Build (not compile) the model. `seed` makes initial weights reproducible. */
export function buildModel(tf: Tf, layers: NormalizedLayer[], inputDim: number, seed: number): tfjs.Sequential {
  const model = tf.sequential();
  layers.forEach((l, i) => {
    const input = i === 0 ? { inputShape: [inputDim] } : {};
    if (l.type === 'dropout') {
      model.add(tf.layers.dropout({ rate: l.rate, ...input }));
      return;
    }
    const s = (seed + 7919 * (i + 1)) >>> 0;
    model.add(tf.layers.dense({
      ...input,
      units: l.units,
      activation: l.activation as never,
      useBias: l.useBias,
      kernelInitializer: initializer(tf, l.kernelInitializer, s),
      biasInitializer: initializer(tf, l.biasInitializer, (s + 1) >>> 0),
      ...(l.maxNorm !== undefined ? { kernelConstraint: tf.constraints.maxNorm({ maxValue: l.maxNorm, axis: 0 }) } : {}),
      ...(l.l1 || l.l2 ? { kernelRegularizer: tf.regularizers.l1l2({ l1: l.l1 ?? 0, l2: l.l2 ?? 0 }) } : {}),
    }));
  });
  return model;
}

export interface OptimizerHandle {
  optimizer: tfjs.Optimizer;
  /** the spec's initial learning rate */
  learningRate: number;
  /** Keras legacy time-based decay: lr / (1 + decay * iterations) */
  decay: number;
}

export function createOptimizer(tf: Tf, o: ResolvedJobSpec['training']['optimizer']): OptimizerHandle {
  const T = tf.train;
  const eps = o.epsilon ?? 1e-7;
  let lr: number;
  let optimizer: tfjs.Optimizer;
  switch (o.name) {
    case 'adam': lr = o.learningRate ?? 0.001; optimizer = T.adam(lr, o.beta1 ?? 0.9, o.beta2 ?? 0.999, eps); break;
    case 'sgd': {
      lr = o.learningRate ?? 0.01;
      const m = o.momentum ?? 0;
      optimizer = m > 0 ? T.momentum(lr, m, o.nesterov ?? false) : T.sgd(lr);
      break;
    }
    case 'rmsprop': lr = o.learningRate ?? 0.001; optimizer = T.rmsprop(lr, o.rho ?? 0.9, o.momentum ?? 0, eps); break;
    case 'adagrad': lr = o.learningRate ?? 0.001; optimizer = T.adagrad(lr); break;
    case 'adadelta': lr = o.learningRate ?? 1; optimizer = T.adadelta(lr, o.rho ?? 0.95, eps); break;
    case 'adamax': lr = o.learningRate ?? 0.002; optimizer = T.adamax(lr, o.beta1 ?? 0.9, o.beta2 ?? 0.999, eps); break;
    default: throw new NightshiftError('spec_invalid', `training.optimizer.name: unknown optimizer ${JSON.stringify(o.name)}`, { field: 'training.optimizer.name' });
  }
  return { optimizer, learningRate: lr, decay: o.decay ?? 0 };
}

/** Set the current learning rate of a tfjs optimizer (SGD/momentum cache it as a scalar). */
export function setLearningRate(opt: tfjs.Optimizer, lr: number): void {
  const o = opt as unknown as { learningRate: number; setLearningRate?: (lr: number) => void };
  if (typeof o.setLearningRate === 'function') o.setLearningRate(lr);
  o.learningRate = lr;
}

const TFJS_LOSS: Record<string, string> = {
  mae: 'meanAbsoluteError', mse: 'meanSquaredError', binaryCrossentropy: 'binaryCrossentropy',
  categoricalCrossentropy: 'categoricalCrossentropy', sparseCategoricalCrossentropy: 'sparseCategoricalCrossentropy',
};

export function tfjsLoss(loss: string): string {
  const l = TFJS_LOSS[loss];
  if (!l) throw new NightshiftError('spec_invalid', `training.loss: unknown loss ${JSON.stringify(loss)}`, { field: 'training.loss' });
  return l;
}

/** Keras history name of a (canonical) metric. */
const KERAS_METRIC: Record<string, string> = {
  accuracy: 'accuracy', binaryAccuracy: 'binary_accuracy', categoricalAccuracy: 'categorical_accuracy',
  sparseCategoricalAccuracy: 'sparse_categorical_accuracy', mae: 'mae', mse: 'mse', mape: 'mape', precision: 'precision', recall: 'recall',
};

export function kerasMetricName(metric: string): string {
  return KERAS_METRIC[metric] ?? metric;
}

/** What model.compile gets for a canonical metric name. */
export function tfjsMetric(tf: Tf, metric: string): string | MetricFn {
  const M = tf.metrics as unknown as Record<string, MetricFn>;
  switch (metric) {
    case 'accuracy': return 'acc';
    case 'binaryAccuracy': return M.binaryAccuracy;
    case 'categoricalAccuracy': return M.categoricalAccuracy;
    case 'sparseCategoricalAccuracy': return M.sparseCategoricalAccuracy;
    case 'mae': return 'mae';
    case 'mse': return 'mse';
    case 'mape': return 'mape';
    case 'precision': return M.precision;
    case 'recall': return M.recall;
    default: throw new NightshiftError('spec_invalid', `training.metrics: unknown metric ${JSON.stringify(metric)}`, { field: 'training.metrics' });
  }
}

/**
 * The output activation whose cross-entropy is computed from the logits (Keras
 * semantics; see docs/semantics.md): 'sigmoid' with binary cross-entropy, 'softmax'
 * with (sparse) categorical cross-entropy; undefined otherwise.
 */
export function logitActivation(layers: NormalizedLayer[], loss: string): 'sigmoid' | 'softmax' | undefined {
  const last = layers[layers.length - 1];
  if (!last || last.type !== 'dense') return undefined;
  if (loss === 'binaryCrossentropy' && last.activation === 'sigmoid') return 'sigmoid';
  if (last.activation === 'softmax' && (loss === 'categoricalCrossentropy' || loss === 'sparseCategoricalCrossentropy')) return 'softmax';
  return undefined;
}

/** The layers trained when the loss comes from the logits: the output activation dropped (applied in the loss and metrics). */
export function logitLayers(layers: NormalizedLayer[]): NormalizedLayer[] {
  const last = layers[layers.length - 1];
  return last.type === 'dense' ? [...layers.slice(0, -1), { ...last, activation: 'linear' }] : layers;
}

/** Per-sample cross-entropy from logits, the value Keras computes in fit (no clipping, a gradient that never vanishes). */
function logitLoss(tf: Tf, loss: string, act: 'sigmoid' | 'softmax', units: number): MetricFn {
  if (act === 'sigmoid') {
    // max(z, 0) - z y + log(1 + exp(-|z|)), mean over the outputs
    return (yTrue, z) => tf.tidy(() => tf.mean(tf.add(tf.sub(tf.relu(z), tf.mul(z, yTrue)), tf.log1p(tf.exp(tf.neg(tf.abs(z))))), -1));
  }
  if (loss === 'sparseCategoricalCrossentropy') {
    return (yTrue, z) => tf.tidy(() => {
      const onehot = tf.oneHot(tf.cast(tf.reshape(yTrue, [-1]), 'int32'), units);
      return tf.neg(tf.sum(tf.mul(onehot, tf.logSoftmax(z)), -1));
    });
  }
  return (yTrue, z) => tf.tidy(() => tf.neg(tf.sum(tf.mul(yTrue, tf.logSoftmax(z)), -1)));
}

/** A metric of the probabilities, given the logits. 'accuracy' is resolved as Keras does (by loss and output width). */
function logitMetric(tf: Tf, metric: string, loss: string, act: 'sigmoid' | 'softmax', units: number): MetricFn {
  const M = tf.metrics as unknown as Record<string, MetricFn>;
  const fns: Record<string, MetricFn> = {
    binaryAccuracy: M.binaryAccuracy, categoricalAccuracy: M.categoricalAccuracy, sparseCategoricalAccuracy: M.sparseCategoricalAccuracy,
    mae: M.meanAbsoluteError, mse: M.meanSquaredError, mape: M.meanAbsolutePercentageError, precision: M.precision, recall: M.recall,
  };
  const kind = metric !== 'accuracy' ? metric
    : units === 1 || loss === 'binaryCrossentropy' ? 'binaryAccuracy'
    : loss === 'sparseCategoricalCrossentropy' ? 'sparseCategoricalAccuracy' : 'categoricalAccuracy';
  const base = fns[kind];
  if (!base) throw new NightshiftError('spec_invalid', `training.metrics: unknown metric ${JSON.stringify(metric)}`, { field: 'training.metrics' });
  const probabilities = act === 'sigmoid' ? (z: tfjs.Tensor) => tf.sigmoid(z) : (z: tfjs.Tensor) => tf.softmax(z);
  const fn: MetricFn = (yTrue, z) => tf.tidy(() => base(yTrue, probabilities(z)));
  Object.defineProperty(fn, 'name', { value: kind });
  return fn;
}

/**
 * Compile with the spec's loss and metrics; returns the Keras names of [loss, ...metrics]
 * in evaluate() order. With `logits` the model outputs logits (see logitLayers) and the
 * loss and metrics apply the activation themselves.
 */
export function compileModel(
  tf: Tf, model: tfjs.LayersModel, spec: Pick<ResolvedJobSpec, 'training'>, optimizer: tfjs.Optimizer,
  logits?: { act: 'sigmoid' | 'softmax'; units: number; oneHotSparse?: boolean },
): string[] {
  const metrics = spec.training.metrics;
  const loss = spec.training.loss;
  if (logits) {
    // tfjs checks a custom loss's targets against the output shape, so sparse targets arrive one-hot:
    // the same values through categorical cross-entropy and categorical accuracy
    const asLoss = logits.oneHotSparse ? 'categoricalCrossentropy' : loss;
    const asMetric = (m: string): string => (logits.oneHotSparse && (m === 'sparseCategoricalAccuracy' || m === 'accuracy') ? 'categoricalAccuracy' : m);
    model.compile({
      loss: logitLoss(tf, asLoss, logits.act, logits.units), optimizer,
      metrics: metrics.map((m) => logitMetric(tf, asMetric(m), asLoss, logits.act, logits.units)),
    });
  } else {
    model.compile({ loss: tfjsLoss(loss), optimizer, metrics: metrics.map((m) => tfjsMetric(tf, m)) });
  }
  return ['loss', ...metrics.map(kerasMetricName)];
}
