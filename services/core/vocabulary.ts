/**
 * The vocabulary of a JobSpec, one table each: every accepted spelling (tfjs and
 * Keras) of an activation, initializer, loss and metric, mapped to the one canonical
 * name the engines use. The JobSpec schema, the API's checks, the Keras JSON
 * normalisation (services/core/layers.ts), the tfjs engine and the fused engine all
 * read these tables, so a name the API accepts is a name every engine knows.
 */

/** Activation spellings -> canonical (tfjs) activation. */
export const ACTIVATION_TABLE = {
  linear: 'linear', relu: 'relu', relu6: 'relu6', sigmoid: 'sigmoid', hardSigmoid: 'hardSigmoid',
  hard_sigmoid: 'hardSigmoid', tanh: 'tanh', softmax: 'softmax', softplus: 'softplus', softsign: 'softsign',
  elu: 'elu', selu: 'selu', swish: 'swish', silu: 'swish', mish: 'mish', gelu: 'gelu',
} as const;
export type ActivationName = keyof typeof ACTIVATION_TABLE;
export type CanonicalActivation = (typeof ACTIVATION_TABLE)[ActivationName];

/**
 * Initializer spellings -> canonical initializer. The classic Keras `normal` /
 * `uniform` (and tfjs' randomNormal / randomUniform defaults) are N(0, 0.05) and
 * U(-0.05, 0.05): named 'randomNormal005' and 'randomUniform005'.
 */
export const INITIALIZER_TABLE = {
  glorotUniform: 'glorotUniform', glorot_uniform: 'glorotUniform',
  glorotNormal: 'glorotNormal', glorot_normal: 'glorotNormal',
  heUniform: 'heUniform', he_uniform: 'heUniform',
  heNormal: 'heNormal', he_normal: 'heNormal',
  leCunUniform: 'leCunUniform', lecun_uniform: 'leCunUniform',
  leCunNormal: 'leCunNormal', lecun_normal: 'leCunNormal',
  randomUniform: 'randomUniform005', random_uniform: 'randomUniform005', uniform: 'randomUniform005',
  randomNormal: 'randomNormal005', random_normal: 'randomNormal005', normal: 'randomNormal005',
  truncatedNormal: 'truncatedNormal', truncated_normal: 'truncatedNormal',
  zeros: 'zeros', zero: 'zeros', ones: 'ones', one: 'ones', orthogonal: 'orthogonal', identity: 'identity',
} as const;
export type InitializerName = keyof typeof INITIALIZER_TABLE;
export type CanonicalInitializer = (typeof INITIALIZER_TABLE)[InitializerName];

/** Loss spellings -> canonical loss. */
export const LOSS_TABLE = {
  mae: 'mae', mse: 'mse', binaryCrossentropy: 'binaryCrossentropy', categoricalCrossentropy: 'categoricalCrossentropy',
  sparseCategoricalCrossentropy: 'sparseCategoricalCrossentropy',
  mean_absolute_error: 'mae', mean_squared_error: 'mse', binary_crossentropy: 'binaryCrossentropy',
  categorical_crossentropy: 'categoricalCrossentropy', sparse_categorical_crossentropy: 'sparseCategoricalCrossentropy',
} as const;
export type LossSpelling = keyof typeof LOSS_TABLE;
export type CanonicalLoss = (typeof LOSS_TABLE)[LossSpelling];

/** Metric spellings -> canonical metric. */
export const METRIC_TABLE = {
  accuracy: 'accuracy', acc: 'accuracy', binaryAccuracy: 'binaryAccuracy', binary_accuracy: 'binaryAccuracy',
  categoricalAccuracy: 'categoricalAccuracy', categorical_accuracy: 'categoricalAccuracy',
  sparseCategoricalAccuracy: 'sparseCategoricalAccuracy', sparse_categorical_accuracy: 'sparseCategoricalAccuracy',
  mae: 'mae', mse: 'mse', mean_absolute_error: 'mae', mean_squared_error: 'mse',
  mape: 'mape', mean_absolute_percentage_error: 'mape', precision: 'precision', recall: 'recall',
} as const;
export type MetricSpelling = keyof typeof METRIC_TABLE;
export type CanonicalMetric = (typeof METRIC_TABLE)[MetricSpelling];

const lookup = <T extends Record<string, string>>(table: T, name: string): T[keyof T] | undefined =>
  Object.prototype.hasOwnProperty.call(table, name) ? (table[name as keyof T]) : undefined;

/** Canonical activation; undefined/null mean 'linear' (the Keras default); unknown names give undefined. */
export function canonicalActivation(name: string | undefined | null): CanonicalActivation | undefined {
  if (name === undefined || name === null) return 'linear';
  return lookup(ACTIVATION_TABLE, name);
}
export const canonicalInitializer = (name: string): CanonicalInitializer | undefined => lookup(INITIALIZER_TABLE, name);
export const canonicalLossName = (name: string): CanonicalLoss | undefined => lookup(LOSS_TABLE, name);
export const canonicalMetricName = (name: string): CanonicalMetric | undefined => lookup(METRIC_TABLE, name);

/** Canonical metrics where a larger score is better; every other metric, and every loss, is an error to minimise. */
export const HIGHER_IS_BETTER: ReadonlySet<CanonicalMetric> = new Set(['accuracy', 'binaryAccuracy', 'categoricalAccuracy', 'sparseCategoricalAccuracy', 'precision', 'recall']);
/** Whether a larger value of `metric` (any accepted spelling) is better. */
export const higherIsBetter = (metric: string): boolean => {
  const c = canonicalMetricName(metric);
  return c !== undefined && HIGHER_IS_BETTER.has(c);
};

export const ACTIVATION_NAMES = Object.keys(ACTIVATION_TABLE) as ActivationName[];
export const INITIALIZER_NAMES = Object.keys(INITIALIZER_TABLE) as InitializerName[];
export const LOSS_NAMES = Object.keys(LOSS_TABLE) as LossSpelling[];
export const METRIC_NAMES = Object.keys(METRIC_TABLE) as MetricSpelling[];
