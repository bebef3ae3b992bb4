/**
 * JobSpec: the contract of DESIGN.md as a TypeBox schema. One schema
 * drives request validation, OpenAPI and the TypeScript types. Unknown fields are
 * rejected (additionalProperties: false) so a typo never silently does nothing;
 * `model.keras` is the one free-form object (the JSON of a Keras model.to_json()).
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ACTIVATION_NAMES, INITIALIZER_NAMES, LOSS_NAMES, METRIC_NAMES } from './vocabulary.ts';

export const LIMITS = {
  layers: 32,
  units: 4096,
  epochs: 10_000,
  batchSize: 65_536,
  folds: { min: 2, max: 100 },
  repeats: 100,
  runs: 100,
  /** folds x repeats x runs (+1 for the final fit) */
  trainingUnits: 1_000,
  metrics: 8,
  nameLength: 128,
  instanceTypes: 8,
  timeoutMinutes: 7 * 24 * 60,
  maxAttempts: 10,
  datasetBytes: 256 * 1024 * 1024,
} as const;

const Strict = { additionalProperties: false } as const;

/** Accepted spellings, from the vocabulary tables (services/core/vocabulary.ts). */
export const ACTIVATIONS = ACTIVATION_NAMES;
export const INITIALIZERS = INITIALIZER_NAMES;

const lit = <T extends readonly string[]>(values: T, opts: object = {}) =>
  Type.Union(values.map((v) => Type.Literal(v)) as never, opts) as unknown as TSchema & { static: T[number] };

export const LossName = lit(LOSS_NAMES, { description: 'loss function (tfjs or Keras name)' });

export const MetricName = lit(METRIC_NAMES);

const DenseLayer = Type.Object({
  type: Type.Literal('dense'),
  units: Type.Integer({ minimum: 1, maximum: LIMITS.units }),
  activation: Type.Optional(lit(ACTIVATIONS)),
  useBias: Type.Optional(Type.Boolean()),
  kernelInitializer: Type.Optional(lit(INITIALIZERS)),
  biasInitializer: Type.Optional(lit(INITIALIZERS)),
  kernelConstraint: Type.Optional(Type.Object({ maxNorm: Type.Number({ exclusiveMinimum: 0, maximum: 1e6 }) }, Strict)),
  kernelRegularizer: Type.Optional(Type.Object({
    l1: Type.Optional(Type.Number({ minimum: 0, maximum: 10 })),
    l2: Type.Optional(Type.Number({ minimum: 0, maximum: 10 })),
  }, Strict)),
}, Strict);

const DropoutLayer = Type.Object({
  type: Type.Literal('dropout'),
  rate: Type.Number({ minimum: 0, exclusiveMaximum: 1 }),
}, Strict);

export const LayerSpec = Type.Union([DenseLayer, DropoutLayer]);

export const JobSpecSchema = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: LIMITS.nameLength })),
  dataset: Type.Object({
    uri: Type.String({ minLength: 1, maxLength: 2048, description: 'dataset:<id>, s3://bucket/key.csv or builtin:<generator>?params' }),
    header: Type.Optional(Type.Boolean({ default: false })),
    target: Type.Optional(Type.Array(Type.Integer({ minimum: -100_000, maximum: 100_000 }), { minItems: 1, maxItems: 1024, default: [-1] })),
  }, Strict),
  preprocess: Type.Optional(Type.Object({
    standardize: Type.Optional(Type.Boolean({ description: 'standardize every feature: (x - mean) / std, fitted on each unit\'s training rows' })),
    minmax: Type.Optional(Type.Boolean({ description: 'scale every feature to [0, 1]: (x - min) / (max - min), fitted on each unit\'s training rows' })),
    columns: Type.Optional(Type.Record(Type.String({ pattern: '^-?[0-9]{1,6}$' }), Type.Unsafe<'none' | 'standardize' | 'minmax'>({ type: 'string', enum: ['none', 'standardize', 'minmax'] }), {
      description: 'per feature column (data set index, negative from the end): "standardize", "minmax" or "none"; overrides standardize/minmax',
    })),
  }, Strict)),
  model: Type.Object({
    layers: Type.Optional(Type.Array(LayerSpec, { minItems: 1, maxItems: LIMITS.layers })),
    keras: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'JSON of a Keras model.to_json()' })),
  }, Strict),
  training: Type.Object({
    loss: LossName,
    optimizer: Type.Optional(Type.Object({
      name: lit(['adam', 'sgd', 'rmsprop', 'adagrad', 'adadelta', 'adamax'] as const),
      learningRate: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 10 })),
      momentum: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
      nesterov: Type.Optional(Type.Boolean()),
      decay: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
      beta1: Type.Optional(Type.Number({ minimum: 0, exclusiveMaximum: 1 })),
      beta2: Type.Optional(Type.Number({ minimum: 0, exclusiveMaximum: 1 })),
      epsilon: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1 })),
      rho: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    }, Strict)),
    metrics: Type.Optional(Type.Array(MetricName, { maxItems: LIMITS.metrics })),
    epochs: Type.Integer({ minimum: 1, maximum: LIMITS.epochs }),
    batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.batchSize })),
    shuffle: Type.Optional(Type.Boolean()),
    validationSplit: Type.Optional(Type.Number({ minimum: 0, exclusiveMaximum: 1 })),
    validationData: Type.Optional(Type.Literal('heldOut')),
    engine: Type.Optional(lit(['auto', 'tfjs', 'fused'] as const)),
    earlyStopping: Type.Optional(Type.Object({
      monitor: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
      patience: Type.Optional(Type.Integer({ minimum: 0, maximum: LIMITS.epochs })),
      minDelta: Type.Optional(Type.Number({ minimum: 0, maximum: 1e6, description: 'smallest change of the monitored value that counts as an improvement' })),
      mode: Type.Optional(lit(['auto', 'min', 'max'] as const)),
      restoreBestWeights: Type.Optional(Type.Boolean()),
    }, Strict)),
    checkpointEvery: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.epochs, description: 'epochs between checkpoints (default: by time, see checkpointSeconds)' })),
    checkpointSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400, description: 'seconds of training between checkpoints when checkpointEvery is not set (default 30)' })),
  }, Strict),
  evaluation: Type.Optional(Type.Object({
    method: lit(['none', 'holdout', 'kfold'] as const),
    testSize: Type.Optional(Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1 })),
    folds: Type.Optional(Type.Integer({ minimum: LIMITS.folds.min, maximum: LIMITS.folds.max })),
    repeats: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.repeats })),
    stratify: Type.Optional(Type.Boolean()),
    shuffle: Type.Optional(Type.Boolean()),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 })),
  }, Strict)),
  runs: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.runs })),
  final: Type.Optional(Type.Object({ fit: Type.Boolean() }, Strict)),
  resources: Type.Optional(Type.Object({
    accelerator: Type.Optional(lit(['gpu', 'cpu', 'any'] as const)),
    instanceTypes: Type.Optional(Type.Array(Type.String({ pattern: '^[a-z0-9-]+\\.[a-z0-9-]+$', maxLength: 24 }), { minItems: 1, maxItems: LIMITS.instanceTypes })),
    spot: Type.Optional(lit(['no', 'prefer', 'require'] as const)),
    maxHourlyUsd: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1000 })),
  }, Strict)),
  priority: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
  maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.maxAttempts })),
  timeoutMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.timeoutMinutes })),
  seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 })),
}, { ...Strict, $id: 'JobSpec' });

export type JobSpec = Static<typeof JobSpecSchema>;
export type LayerSpecT = Static<typeof LayerSpec>;
