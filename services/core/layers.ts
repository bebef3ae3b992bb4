/**
 * The normalized layer list: one shape for `model.layers` and `model.keras`, consumed
 * by every engine (tfjs and the fused pure-JS MLP) and by the API, which normalises a
 * submitted Keras JSON exactly as the worker will and so rejects at submission what a
 * worker would reject. Names are the tfjs ones:
 * activations like 'relu' / 'hardSigmoid', initializers in camelCase, plus two
 * explicit names for the classic Keras ones: 'randomNormal005' (N(0, 0.05)) and
 * 'randomUniform005' (U(-0.05, 0.05)); tfjs' randomNormal / randomUniform defaults
 * are the same distributions, so both spellings normalize to these.
 */
import type { ResolvedJobSpec } from './job-defaults.ts';
import { NightshiftError } from './errors.ts';
import { LIMITS } from './spec.ts';
import { canonicalActivation, canonicalInitializer } from './vocabulary.ts';

export type NormalizedLayer =
  | {
      type: 'dense';
      units: number;
      /** tfjs activation name */
      activation: string;
      useBias: boolean;
      /** tfjs camelCase or 'randomNormal005' / 'randomUniform005' */
      kernelInitializer: string;
      biasInitializer: string;
      maxNorm?: number;
      l1?: number;
      l2?: number;
    }
  | { type: 'dropout'; rate: number };

export type DenseLayer = Extract<NormalizedLayer, { type: 'dense' }>;

/** tfjs activation name for a tfjs or Keras activation name; undefined when unknown. */
export function activationName(name: string | undefined | null): string | undefined {
  return canonicalActivation(name);
}

/** Normalized initializer name for a tfjs or Keras initializer name; undefined when unknown. */
export function initializerName(name: string): string | undefined {
  return canonicalInitializer(name);
}

const specInvalid = (field: string, message: string): NightshiftError =>
  new NightshiftError('spec_invalid', `${field}: ${message}`, { field });

/**
 * The layer list a spec trains, from `model.layers` or `model.keras`. `inputDim` is
 * the number of feature columns; a Keras model whose input shape disagrees is refused.
 */
export function normalizeLayers(spec: Pick<ResolvedJobSpec, 'model'>, inputDim: number): NormalizedLayer[] {
  if (spec.model.layers) return fromLayerSpecs(spec.model.layers as unknown as Record<string, unknown>[]);
  if (spec.model.keras) return fromKerasJson(spec.model.keras, inputDim);
  throw specInvalid('model', 'give model.layers or model.keras');
}

function fromLayerSpecs(layers: Record<string, unknown>[]): NormalizedLayer[] {
  const out = layers.map((l, i): NormalizedLayer => {
    const field = `model.layers.${i}`;
    if (l.type === 'dropout') return { type: 'dropout', rate: Number(l.rate) };
    if (l.type !== 'dense') throw specInvalid(field, `unsupported layer type ${JSON.stringify(l.type)}`);
    const activation = activationName(l.activation as string | undefined);
    if (!activation) throw specInvalid(`${field}.activation`, `unknown activation ${JSON.stringify(l.activation)}`);
    const ki = initializerName((l.kernelInitializer as string | undefined) ?? 'glorotUniform');
    if (!ki) throw specInvalid(`${field}.kernelInitializer`, `unknown initializer ${JSON.stringify(l.kernelInitializer)}`);
    const bi = initializerName((l.biasInitializer as string | undefined) ?? 'zeros');
    if (!bi) throw specInvalid(`${field}.biasInitializer`, `unknown initializer ${JSON.stringify(l.biasInitializer)}`);
    const d: DenseLayer = { type: 'dense', units: Number(l.units), activation, useBias: l.useBias !== false, kernelInitializer: ki, biasInitializer: bi };
    const c = l.kernelConstraint as { maxNorm?: number } | undefined;
    if (c?.maxNorm !== undefined) d.maxNorm = c.maxNorm;
    const r = l.kernelRegularizer as { l1?: number; l2?: number } | undefined;
    if (r?.l1) d.l1 = r.l1;
    if (r?.l2) d.l2 = r.l2;
    return d;
  });
  checkShape(out, 'model.layers');
  return out;
}

/** The output-layer rule, said once: a model's last layer is dense. */
export const OUTPUT_LAYER_RULE = 'the last layer must be a dense layer (the output)';

/** The index of the layer that breaks the output-layer rule, if one does. */
export function outputLayerProblem(layers: ReadonlyArray<{ type: string }>): number | undefined {
  const last = layers.length - 1;
  return last >= 0 && layers[last].type !== 'dense' ? last : undefined;
}

function checkShape(layers: NormalizedLayer[], field: string): void {
  if (layers.length === 0) throw specInvalid(field, 'has no layers');
  if (!layers.some((l) => l.type === 'dense')) throw specInvalid(field, 'needs at least one dense layer');
  const bad = outputLayerProblem(layers);
  if (bad !== undefined) throw specInvalid(`${field}.${bad}`, OUTPUT_LAYER_RULE);
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Keras `model.to_json()` (Keras 1/2 and 3 layouts) of a Sequential model -> normalized layers. */
export function fromKerasJson(keras: Obj, inputDim?: number): NormalizedLayer[] {
  if (!isObj(keras)) throw specInvalid('model.keras', 'must be the JSON object of a Keras Sequential model.to_json()');
  const cls = keras.class_name;
  if (cls !== undefined && cls !== 'Sequential') throw specInvalid('model.keras.class_name', `only Sequential models are supported, got ${JSON.stringify(cls)}`);
  const config = keras.config;
  // Keras <= 2.1 stores the layer list directly as config; later versions as config.layers
  const list = Array.isArray(config) ? config : isObj(config) ? config.layers : undefined;
  const listField = Array.isArray(config) ? 'model.keras.config' : 'model.keras.config.layers';
  if (!Array.isArray(list)) throw specInvalid(listField, 'is missing: expected the JSON of a Keras Sequential model.to_json()');
  // the same size limits as model.layers (specs stored before the API checked them are refused here, once)
  if (list.length > LIMITS.layers + 1) throw specInvalid(listField, `has ${list.length} layers, over the limit of ${LIMITS.layers}`);
  const out: NormalizedLayer[] = [];
  let declaredInput: number | undefined;
  list.forEach((raw, i) => {
    const field = `${listField}.${i}`;
    if (!isObj(raw)) throw specInvalid(field, 'is not a layer object');
    const c = isObj(raw.config) ? raw.config : {};
    const shape = (c.batch_input_shape ?? c.batch_shape) as unknown;
    if (Array.isArray(shape) && declaredInput === undefined) {
      if (shape.length !== 2 || typeof shape[1] !== 'number') throw specInvalid(`${field}.config`, `input shape ${JSON.stringify(shape)} is not (batch, features)`);
      declaredInput = shape[1];
    }
    switch (raw.class_name) {
      case 'InputLayer':
        return;
      case 'Dropout': {
        const rate = Number(c.rate);
        if (!(rate >= 0 && rate < 1)) throw specInvalid(`${field}.config.rate`, `must be in [0, 1), got ${JSON.stringify(c.rate)}`);
        out.push({ type: 'dropout', rate });
        return;
      }
      case 'Dense':
        out.push(kerasDense(c, field));
        return;
      default:
        throw specInvalid(field, `unsupported layer class ${JSON.stringify(raw.class_name)} (supported: InputLayer, Dense, Dropout)`);
    }
  });
  if (inputDim !== undefined && declaredInput !== undefined && declaredInput !== inputDim) {
    throw specInvalid(`${listField}.0`, `the model expects ${declaredInput} input features but the data set has ${inputDim} feature columns`);
  }
  checkShape(out, listField);
  return out;
}

function kerasDense(c: Obj, field: string): DenseLayer {
  const units = Number(c.units);
  if (!Number.isInteger(units) || units < 1 || units > LIMITS.units) throw specInvalid(`${field}.config.units`, `must be an integer 1..${LIMITS.units}, got ${JSON.stringify(c.units)}`);
  const act = typeof c.activation === 'string' ? c.activation : isObj(c.activation) ? (c.activation.class_name as string) : undefined;
  const activation = activationName(act);
  if (!activation) throw specInvalid(`${field}.config.activation`, `unsupported activation ${JSON.stringify(c.activation)}`);
  const d: DenseLayer = {
    type: 'dense',
    units,
    activation,
    useBias: c.use_bias !== false,
    kernelInitializer: kerasInitializer(c.kernel_initializer, `${field}.config.kernel_initializer`, 'glorotUniform'),
    biasInitializer: kerasInitializer(c.bias_initializer, `${field}.config.bias_initializer`, 'zeros'),
  };
  const kc = c.kernel_constraint;
  if (isObj(kc)) {
    const kcc = isObj(kc.config) ? kc.config : {};
    if (kc.class_name !== 'MaxNorm' && kc.class_name !== 'max_norm') throw specInvalid(`${field}.config.kernel_constraint`, `unsupported constraint ${JSON.stringify(kc.class_name)} (supported: MaxNorm)`);
    if (kcc.axis !== undefined && kcc.axis !== 0) throw specInvalid(`${field}.config.kernel_constraint`, 'MaxNorm is supported on axis 0 only');
    d.maxNorm = Number(kcc.max_value ?? 2);
  }
  const kr = c.kernel_regularizer;
  if (isObj(kr)) {
    const krc = isObj(kr.config) ? kr.config : {};
    if (!['L1L2', 'L1', 'L2', 'l1_l2', 'l1', 'l2'].includes(String(kr.class_name))) throw specInvalid(`${field}.config.kernel_regularizer`, `unsupported regularizer ${JSON.stringify(kr.class_name)}`);
    if (Number(krc.l1)) d.l1 = Number(krc.l1);
    if (Number(krc.l2)) d.l2 = Number(krc.l2);
  }
  for (const k of ['bias_constraint', 'bias_regularizer', 'activity_regularizer'] as const) {
    if (c[k] !== undefined && c[k] !== null) throw specInvalid(`${field}.config.${k}`, 'is not supported');
  }
  return d;
}

const near = (a: unknown, b: number): boolean => typeof a === 'number' && Math.abs(a - b) < 1e-9;

function kerasInitializer(v: unknown, field: string, dflt: string): string {
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'string') {
    const n = initializerName(v);
    if (!n) throw specInvalid(field, `unsupported initializer ${JSON.stringify(v)}`);
    return n;
  }
  if (!isObj(v)) throw specInvalid(field, 'is not an initializer');
  const cls = String(v.class_name);
  const c = isObj(v.config) ? v.config : {};
  const simple: Record<string, string> = {
    GlorotUniform: 'glorotUniform', GlorotNormal: 'glorotNormal', HeUniform: 'heUniform', HeNormal: 'heNormal',
    LecunUniform: 'leCunUniform', LecunNormal: 'leCunNormal', Zeros: 'zeros', Ones: 'ones', Orthogonal: 'orthogonal', Identity: 'identity',
  };
  if (simple[cls]) return simple[cls];
  if (cls === 'RandomNormal' || cls === 'TruncatedNormal') {
    if ((c.mean === undefined || near(c.mean, 0)) && (c.stddev === undefined || near(c.stddev, 0.05))) return cls === 'RandomNormal' ? 'randomNormal005' : 'truncatedNormal';
    throw specInvalid(field, `${cls} is supported with mean 0 and stddev 0.05 only`);
  }
  if (cls === 'RandomUniform') {
    if ((c.minval === undefined || near(c.minval, -0.05)) && (c.maxval === undefined || near(c.maxval, 0.05))) return 'randomUniform005';
    throw specInvalid(field, 'RandomUniform is supported with minval -0.05 and maxval 0.05 only');
  }
  if (cls === 'VarianceScaling') {
    // how Keras 2.0-2.2 serializes glorot_*, he_* and lecun_*
    const scale = Number(c.scale ?? 1);
    const mode = String(c.mode ?? 'fan_in');
    const normal = String(c.distribution ?? 'normal') !== 'uniform';
    const family = near(scale, 1) && mode === 'fan_avg' ? 'glorot' : near(scale, 2) && mode === 'fan_in' ? 'he' : near(scale, 1) && mode === 'fan_in' ? 'leCun' : undefined;
    if (family) return `${family}${normal ? 'Normal' : 'Uniform'}`;
    throw specInvalid(field, `VarianceScaling(scale=${scale}, mode=${mode}) is not supported`);
  }
  throw specInvalid(field, `unsupported initializer ${JSON.stringify(cls)}`);
}
