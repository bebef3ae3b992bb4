/**
 * Size rules of a model, checked at submission for both `model.layers` and
 * `model.keras`, and the compute estimate of a job. Pure.
 *
 * A Keras JSON is walked without recursion (a 100,000-deep object is a 400, not a
 * stack overflow), its Dense layers obey the same layer and unit limits as
 * `model.layers`, and its size is bounded by node count and depth.
 */
import { validationError } from './errors.ts';
import { LIMITS } from './spec.ts';

export const KERAS_LIMITS = {
  /** nesting depth of the Keras JSON (a real Sequential model.to_json() is under 10 deep) */
  depth: 32,
  /** objects, arrays and values in the Keras JSON */
  nodes: 50_000,
} as const;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Throws a validation error naming model.keras when the JSON is deeper or larger than KERAS_LIMITS. */
export function checkJsonSize(value: unknown, field: string, limits: { depth: number; nodes: number } = KERAS_LIMITS): void {
  const stack: Array<{ v: unknown; depth: number }> = [{ v: value, depth: 0 }];
  let nodes = 0;
  while (stack.length) {
    const { v, depth } = stack.pop()!;
    if (++nodes > limits.nodes) throw validationError(field, `has more than ${limits.nodes} values; a Keras model.to_json() of a supported model is far smaller`);
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= limits.depth) throw validationError(field, `is nested deeper than ${limits.depth} levels`);
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push({ v: child, depth: depth + 1 });
  }
}

/** Dense widths of a model in order (dropout layers carry no parameters), plus the input width a Keras model declares. */
export interface ModelShape {
  dense: number[];
  layers: number;
  declaredInput?: number;
}

/**
 * Shape of `model.keras` with the limits of `model.layers` applied: at most
 * LIMITS.layers layers, each Dense layer 1..LIMITS.units units. Layer classes the
 * trainer does not support are left to the trainer's own check (its message lists
 * the supported ones); this is about size.
 */
export function kerasShape(keras: Obj): ModelShape {
  checkJsonSize(keras, 'model.keras');
  const config = keras.config;
  const list = Array.isArray(config) ? config : isObj(config) ? config.layers : undefined;
  const listField = Array.isArray(config) ? 'model.keras.config' : 'model.keras.config.layers';
  if (!Array.isArray(list)) throw validationError(listField, 'is missing: expected the JSON of a Keras Sequential model.to_json()');
  const counted = list.filter((l) => !(isObj(l) && l.class_name === 'InputLayer'));
  if (counted.length > LIMITS.layers) throw validationError(listField, `has ${counted.length} layers, over the limit of ${LIMITS.layers}`);
  const dense: number[] = [];
  let declaredInput: number | undefined;
  list.forEach((raw, i) => {
    if (!isObj(raw)) throw validationError(`${listField}.${i}`, 'is not a layer object');
    const c = isObj(raw.config) ? raw.config : {};
    const shape = c.batch_input_shape ?? c.batch_shape;
    if (declaredInput === undefined && Array.isArray(shape) && typeof shape[1] === 'number' && Number.isInteger(shape[1]) && shape[1] > 0) {
      declaredInput = shape[1];
    }
    if (raw.class_name !== 'Dense') return;
    const units = c.units;
    if (typeof units !== 'number' || !Number.isInteger(units) || units < 1 || units > LIMITS.units) {
      throw validationError(`${listField}.${i}.config.units`, `must be an integer 1..${LIMITS.units}, got ${JSON.stringify(units)}`);
    }
    dense.push(units);
  });
  return { dense, layers: counted.length, ...(declaredInput !== undefined ? { declaredInput } : {}) };
}

/** Trainable parameters of a stack of dense layers (weights and biases) fed by `inputs` features. */
export function denseParameters(inputs: number, dense: number[]): number {
  let total = 0;
  let fanIn = inputs;
  for (const units of dense) {
    total += fanIn * units + units;
    fanIn = units;
  }
  return total;
}

export interface ComputeEstimate {
  parameters: number;
  rows: number;
  epochs: number;
  units: number;
  /** parameters x rows x epochs x units: parameter updates per sample, summed over the job */
  total: number;
}

/** The compute a job asks for: parameters x rows x epochs x training units. */
export function computeEstimate(a: { parameters: number; rows: number; epochs: number; units: number }): ComputeEstimate {
  return { ...a, total: a.parameters * a.rows * a.epochs * a.units };
}
