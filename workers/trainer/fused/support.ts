/**
 * fusedSupport: whether the fused engine can train a model exactly like tfjs would.
 * "auto" engine selection uses it; the reason names what is missing.
 */
import type { NormalizedLayer } from '../../../services/core/layers.ts';
import { activationKind } from './activations.ts';
import { initializerKind } from './init.ts';
import { isLossKind, metricKind } from './losses.ts';
import { OPTIMIZER_NAMES } from './optimizers.ts';

export interface FusedTrainingSpec {
  loss: string;
  optimizer: { name: string } | string;
  metrics: string[];
}

export type FusedSupport = { ok: true } | { ok: false; reason: string };

const SPARSE_OK = new Set(['sparseCategoricalAccuracy']);

export function fusedSupport(layers: NormalizedLayer[], training: FusedTrainingSpec): FusedSupport {
  const no = (reason: string): FusedSupport => ({ ok: false, reason });
  if (layers.length === 0) return no('the model has no layers');
  let outputUnits = 0;
  for (const [i, l] of layers.entries()) {
    if (l.type === 'dropout') {
      if (!(l.rate >= 0 && l.rate < 1)) return no(`layer ${i}: dropout rate ${l.rate} is outside [0, 1)`);
      continue;
    }
    if ((l as { type: string }).type !== 'dense') return no(`layer ${i}: ${(l as { type: string }).type} layers are not supported`);
    if (!Number.isInteger(l.units) || l.units < 1) return no(`layer ${i}: bad unit count ${l.units}`);
    if (!activationKind(l.activation)) return no(`layer ${i}: activation ${l.activation} is not supported`);
    if (!initializerKind(l.kernelInitializer)) return no(`layer ${i}: kernel initializer ${l.kernelInitializer} is not supported`);
    if (l.useBias && !initializerKind(l.biasInitializer)) return no(`layer ${i}: bias initializer ${l.biasInitializer} is not supported`);
    if (l.maxNorm !== undefined && !(l.maxNorm > 0)) return no(`layer ${i}: maxNorm must be positive`);
    outputUnits = l.units;
  }
  if (outputUnits === 0) return no('the model has no dense layer');
  if (layers[layers.length - 1].type !== 'dense') return no('the last layer must be a dense layer');
  if (!isLossKind(training.loss)) return no(`loss ${training.loss} is not supported`);
  const loss = training.loss;
  const opt = typeof training.optimizer === 'string' ? training.optimizer : training.optimizer.name;
  if (!(OPTIMIZER_NAMES as readonly string[]).includes(opt)) return no(`optimizer ${opt} is not supported`);
  for (const m of training.metrics) {
    const kind = metricKind(m, loss, outputUnits);
    if (!kind) return no(`metric ${m} is not supported`);
    const sparse = loss === 'sparseCategoricalCrossentropy';
    if (sparse && outputUnits > 1 && !SPARSE_OK.has(kind)) return no(`metric ${m} needs one-hot targets, the loss has class indices`);
    if (!sparse && kind === 'sparseCategoricalAccuracy') return no(`metric ${m} needs class-index targets (sparseCategoricalCrossentropy)`);
  }
  return { ok: true };
}

/**
 * What the engine parity suite (test/unit/engine-parity.test.ts) runs through both
 * engines and finds in agreement. training.engine "auto" picks the fused engine only
 * for models and training settings inside this table; that suite checks that its
 * cases cover every entry, so the table cannot claim more than was compared.
 */
export const PARITY_COVERED = {
  activations: ['linear', 'relu', 'sigmoid', 'softmax', 'tanh'],
  kernelInitializers: ['glorotUniform', 'heNormal', 'heUniform', 'randomUniform005'],
  biasInitializers: ['zeros'],
  losses: ['binaryCrossentropy', 'categoricalCrossentropy', 'sparseCategoricalCrossentropy', 'mse', 'mae'],
  /** optimizers with the settings the cases use (optimizerVariant): other settings of the same optimizer are not covered */
  optimizers: ['adam', 'rmsprop', 'sgd+momentum', 'sgd+nesterov'],
  metrics: ['accuracy', 'mae', 'mse'],
  /** dropout layers, max-norm kernel constraints, dense layers without a bias */
  dropout: true,
  maxNorm: true,
  noBias: true,
} as const;

export interface ParityTrainingSpec extends FusedTrainingSpec {
  optimizer: { name: string; decay?: number; momentum?: number; nesterov?: boolean; beta1?: number; beta2?: number; epsilon?: number; rho?: number } | string;
}

/**
 * An optimizer and the settings that change its update rule, as the parity cases name
 * them: adam and rmsprop with their default moments (tf.train's beta1 0.9, beta2 0.999,
 * rho 0.9, epsilon 1e-7, no rmsprop momentum), sgd plain, with momentum or with
 * Nesterov momentum. The learning rate does not change the rule.
 */
export function optimizerVariant(optimizer: ParityTrainingSpec['optimizer']): string {
  const o = typeof optimizer === 'string' ? { name: optimizer } : optimizer;
  const set = (v: number | undefined, dflt: number) => v !== undefined && v !== dflt;
  if (o.name === 'adam') {
    const custom = [set(o.beta1, 0.9) && 'beta1', set(o.beta2, 0.999) && 'beta2', set(o.epsilon, 1e-7) && 'epsilon'].filter(Boolean);
    return custom.length ? `adam with its ${custom.join(', ')} set` : 'adam';
  }
  if (o.name === 'rmsprop') {
    const custom = [set(o.rho, 0.9) && 'rho', set(o.epsilon, 1e-7) && 'epsilon', set(o.momentum, 0) && 'momentum'].filter(Boolean);
    return custom.length ? `rmsprop with its ${custom.join(', ')} set` : 'rmsprop';
  }
  if (o.name === 'sgd') return (o.momentum ?? 0) > 0 ? (o.nesterov ? 'sgd+nesterov' : 'sgd+momentum') : 'sgd';
  return o.name;
}

const inList = (list: readonly string[], v: string): boolean => list.includes(v);

/** Whether a model and its training settings lie inside PARITY_COVERED; the reason names the first thing outside. */
export function parityCovered(layers: NormalizedLayer[], training: ParityTrainingSpec): FusedSupport {
  const no = (reason: string): FusedSupport => ({ ok: false, reason });
  const P = PARITY_COVERED;
  for (const [i, l] of layers.entries()) {
    if (l.type === 'dropout') continue;
    if (!inList(P.activations, l.activation)) return no(`layer ${i}: activation ${l.activation}`);
    if (!inList(P.kernelInitializers, l.kernelInitializer)) return no(`layer ${i}: kernel initializer ${l.kernelInitializer}`);
    if (l.useBias && !inList(P.biasInitializers, l.biasInitializer)) return no(`layer ${i}: bias initializer ${l.biasInitializer}`);
    if (!l.useBias && !P.noBias) return no(`layer ${i}: no bias`);
    if (l.l1 || l.l2) return no(`layer ${i}: l1/l2 kernel regularization`);
  }
  if (!inList(P.losses, training.loss)) return no(`loss ${training.loss}`);
  const opt = typeof training.optimizer === 'string' ? { name: training.optimizer } : training.optimizer;
  const variant = optimizerVariant(opt);
  if (!inList(P.optimizers, variant)) return no(`optimizer ${variant}`);
  if (opt.decay) return no('optimizer decay');
  for (const m of training.metrics) if (!inList(P.metrics, m)) return no(`metric ${m}`);
  return { ok: true };
}
