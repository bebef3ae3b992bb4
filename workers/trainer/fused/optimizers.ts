/**
 * Optimizers of the fused engine with the tf.train semantics:
 * - adam: tf.train.adam (beta1 0.9, beta2 0.999, epsilon 1e-7, bias-corrected moments,
 *   w -= lr * mHat / (sqrt(vHat) + epsilon));
 * - sgd: plain, or with momentum as tf.train.momentum, written in the Keras form
 *   v = m v - lr g; w += v (nesterov: w += m v - lr g), identical for a constant rate;
 * - rmsprop: tf.train.rmsprop (rho 0.9, epsilon 1e-7 inside the square root, optional
 *   momentum).
 * Keras' legacy `decay` scales the rate per step: lr_t = lr / (1 + decay * iterations).
 * Slots are float32 like tfjs variables; gradients arrive as float64.
 */

export interface OptimizerSpec {
  name: 'adam' | 'sgd' | 'rmsprop';
  learningRate?: number;
  momentum?: number;
  nesterov?: boolean;
  decay?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  rho?: number;
}

/** Resumable optimizer state: the step count and the slot arrays (one per weight array). */
export interface FusedOptimizerState {
  name: string;
  iterations: number;
  slots: Record<string, Float32Array[]>;
}

export interface FusedOptimizer {
  readonly name: string;
  iterations: number;
  /** One update of every weight array from its gradient. */
  step(params: Float32Array[], grads: Float64Array[]): void;
  state(): FusedOptimizerState;
  load(state: unknown): void;
}

export const DEFAULT_LEARNING_RATE: Record<OptimizerSpec['name'], number> = { adam: 0.001, sgd: 0.01, rmsprop: 0.001 };
export const OPTIMIZER_NAMES = ['adam', 'sgd', 'rmsprop'] as const;

const EPSILON = 1e-7;

export function createOptimizer(spec: OptimizerSpec, sizes: number[]): FusedOptimizer {
  const name = spec.name;
  if (!(OPTIMIZER_NAMES as readonly string[]).includes(name)) throw new Error(`fused engine: unsupported optimizer ${String(name)}`);
  const lr = spec.learningRate ?? DEFAULT_LEARNING_RATE[name];
  const decay = spec.decay ?? 0;
  const momentum = spec.momentum ?? 0;
  const nesterov = spec.nesterov ?? false;
  const beta1 = spec.beta1 ?? 0.9;
  const beta2 = spec.beta2 ?? 0.999;
  const eps = spec.epsilon ?? EPSILON;
  const rho = spec.rho ?? 0.9;
  const zeros = (): Float32Array[] => sizes.map((n) => new Float32Array(n));
  const slotNames = name === 'adam' ? ['m', 'v'] : name === 'rmsprop' ? ['ms', 'mom'] : momentum > 0 ? ['velocity'] : [];
  let slots: Record<string, Float32Array[]> = Object.fromEntries(slotNames.map((s) => [s, zeros()]));

  const opt: FusedOptimizer = {
    name,
    iterations: 0,
    step(params, grads) {
      const rate = decay > 0 ? lr / (1 + decay * opt.iterations) : lr;
      const t = opt.iterations + 1;
      for (let p = 0; p < params.length; p++) {
        const w = params[p];
        const g = grads[p];
        const n = w.length;
        if (name === 'adam') {
          const m = slots.m[p];
          const v = slots.v[p];
          const c1 = 1 - Math.pow(beta1, t);
          const c2 = 1 - Math.pow(beta2, t);
          for (let i = 0; i < n; i++) {
            const gi = g[i];
            const mi = beta1 * m[i] + (1 - beta1) * gi;
            const vi = beta2 * v[i] + (1 - beta2) * gi * gi;
            m[i] = mi;
            v[i] = vi;
            w[i] -= (rate * (mi / c1)) / (Math.sqrt(vi / c2) + eps);
          }
        } else if (name === 'rmsprop') {
          const ms = slots.ms[p];
          const mom = slots.mom[p];
          for (let i = 0; i < n; i++) {
            const gi = g[i];
            const s = rho * ms[i] + (1 - rho) * gi * gi;
            ms[i] = s;
            const u = momentum * mom[i] + (rate * gi) / Math.sqrt(s + eps);
            mom[i] = u;
            w[i] -= u;
          }
        } else if (momentum > 0) {
          const vel = slots.velocity[p];
          for (let i = 0; i < n; i++) {
            const v = momentum * vel[i] - rate * g[i];
            vel[i] = v;
            w[i] += nesterov ? momentum * v - rate * g[i] : v;
          }
        } else {
          for (let i = 0; i < n; i++) w[i] -= rate * g[i];
        }
      }
      opt.iterations = t;
    },
    state() {
      return {
        name,
        iterations: opt.iterations,
        slots: Object.fromEntries(Object.entries(slots).map(([k, arrs]) => [k, arrs.map((a) => Float32Array.from(a))])),
      };
    },
    load(raw) {
      const s = raw as { name?: unknown; iterations?: unknown; slots?: Record<string, ArrayLike<number>[]> };
      if (!s || s.name !== name || typeof s.iterations !== 'number' || typeof s.slots !== 'object' || s.slots === null) {
        throw new Error(`fused engine: optimizer state does not belong to a ${name} optimizer`);
      }
      const next: Record<string, Float32Array[]> = {};
      for (const k of slotNames) {
        const arrs = s.slots[k];
        if (!Array.isArray(arrs) || arrs.length !== sizes.length || arrs.some((a, i) => a.length !== sizes[i])) {
          throw new Error(`fused engine: optimizer state slot ${k} does not match the model's weights`);
        }
        next[k] = arrs.map((a) => Float32Array.from(a));
      }
      slots = next;
      opt.iterations = s.iterations;
    },
  };
  return opt;
}

/** A flat list of named arrays for checkpoints: 'iter' (the step count) first, then `${slot}/${weightIndex}`. */
export function optimizerStateToArrays(state: FusedOptimizerState, shapes: number[][]): Array<{ name: string; shape: number[]; values: Float32Array }> {
  const out: Array<{ name: string; shape: number[]; values: Float32Array }> = [{ name: 'iter', shape: [], values: Float32Array.of(state.iterations) }];
  for (const [slot, arrays] of Object.entries(state.slots)) {
    arrays.forEach((values, i) => out.push({ name: `${slot}/${i}`, shape: shapes[i], values }));
  }
  return out;
}

/** Inverse of optimizerStateToArrays for an optimizer called `name`. */
export function optimizerStateFromArrays(name: string, arrays: Array<{ name: string; values: ArrayLike<number> }>): FusedOptimizerState {
  const slots: Record<string, Float32Array[]> = {};
  let iterations = 0;
  for (const a of arrays) {
    if (a.name === 'iter') {
      iterations = a.values[0];
      continue;
    }
    const m = /^(\w+)\/(\d+)$/.exec(a.name);
    if (!m) throw new Error(`fused engine: unexpected optimizer array ${a.name}`);
    (slots[m[1]] ??= [])[Number(m[2])] = Float32Array.from(a.values);
  }
  return { name, iterations, slots };
}
