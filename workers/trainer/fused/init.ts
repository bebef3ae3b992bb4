/**
 * Weight layout and initializers, as tfjs-layers / Keras: a dense kernel is [in, out]
 * row-major (index i * out + o), the bias [out]; the weight list holds kernel then bias
 * (when useBias) for each dense layer in order, like tf.Sequential.getWeights().
 */
import { createRng, type Rng } from '../../../services/core/rng.ts';
import type { NormalizedLayer } from '../../../services/core/layers.ts';
import { canonicalInitializer } from '../../../services/core/vocabulary.ts';

export const INITIALIZER_KINDS = [
  'glorotUniform', 'glorotNormal', 'heUniform', 'heNormal', 'leCunUniform', 'leCunNormal',
  'zeros', 'ones', 'truncatedNormal', 'randomNormal005', 'randomUniform005',
] as const;
export type InitializerKind = (typeof INITIALIZER_KINDS)[number];

/** Canonical initializer kind (through the vocabulary table), or undefined when the fused engine has no such initializer. */
export function initializerKind(name: string): InitializerKind | undefined {
  const c = (INITIALIZER_KINDS as readonly string[]).includes(name) ? name : canonicalInitializer(name);
  return c !== undefined && (INITIALIZER_KINDS as readonly string[]).includes(c) ? (c as InitializerKind) : undefined;
}

/** [in, out] kernel then [out] bias (only when useBias) per dense layer, in tfjs order. */
export function weightShapes(layers: NormalizedLayer[], inputDim: number): number[][] {
  const shapes: number[][] = [];
  let dim = inputDim;
  for (const l of layers) {
    if (l.type !== 'dense') continue;
    shapes.push([dim, l.units]);
    if (l.useBias) shapes.push([l.units]);
    dim = l.units;
  }
  return shapes;
}

/** tfjs computeFans: [in, out] for 2-D shapes, sqrt(size) for both otherwise. */
function fans(shape: number[]): [number, number] {
  if (shape.length === 2) return [shape[0], shape[1]];
  const f = Math.sqrt(shape.reduce((p, n) => p * n, 1));
  return [f, f];
}

/** Normal(0, stddev) redrawn until within two standard deviations (tf.truncatedNormal). */
function truncated(rng: Rng, stddev: number): number {
  for (;;) {
    const v = rng.normal();
    if (Math.abs(v) <= 2) return v * stddev;
  }
}

/** tfjs VarianceScaling: uniform limit sqrt(3 s / n); truncated normal stddev sqrt(s / n) / .8796... */
function varianceScaling(out: Float32Array, rng: Rng, scale: number, n: number, uniform: boolean): void {
  const s = scale / Math.max(1, n);
  if (uniform) {
    const limit = Math.sqrt(3 * s);
    for (let i = 0; i < out.length; i++) out[i] = (rng.next() * 2 - 1) * limit;
  } else {
    const stddev = Math.sqrt(s) / 0.87962566103423978;
    for (let i = 0; i < out.length; i++) out[i] = truncated(rng, stddev);
  }
}

export function initialize(kind: InitializerKind, shape: number[], rng: Rng): Float32Array {
  const out = new Float32Array(shape.reduce((p, n) => p * n, 1));
  const [fanIn, fanOut] = fans(shape);
  switch (kind) {
    case 'zeros': break;
    case 'ones': out.fill(1); break;
    case 'glorotUniform': varianceScaling(out, rng, 1, (fanIn + fanOut) / 2, true); break;
    case 'glorotNormal': varianceScaling(out, rng, 1, (fanIn + fanOut) / 2, false); break;
    case 'heUniform': varianceScaling(out, rng, 2, fanIn, true); break;
    case 'heNormal': varianceScaling(out, rng, 2, fanIn, false); break;
    case 'leCunUniform': varianceScaling(out, rng, 1, fanIn, true); break;
    case 'leCunNormal': varianceScaling(out, rng, 1, fanIn, false); break;
    case 'truncatedNormal': for (let i = 0; i < out.length; i++) out[i] = truncated(rng, 0.05); break;
    case 'randomNormal005': for (let i = 0; i < out.length; i++) out[i] = rng.normal() * 0.05; break;
    case 'randomUniform005': for (let i = 0; i < out.length; i++) out[i] = (rng.next() * 2 - 1) * 0.05; break;
  }
  return out;
}

/** Freshly initialised weights in the exported layout, drawn from one rng seeded by `seed`. */
export function initialWeights(layers: NormalizedLayer[], inputDim: number, seed: number): Float32Array[] {
  const rng = createRng(seed);
  const weights: Float32Array[] = [];
  let dim = inputDim;
  for (const l of layers) {
    if (l.type !== 'dense') continue;
    const k = initializerKind(l.kernelInitializer);
    if (!k) throw new Error(`fused engine: unsupported kernel initializer ${l.kernelInitializer}`);
    weights.push(initialize(k, [dim, l.units], rng));
    if (l.useBias) {
      const b = initializerKind(l.biasInitializer);
      if (!b) throw new Error(`fused engine: unsupported bias initializer ${l.biasInitializer}`);
      weights.push(initialize(b, [l.units], rng));
    }
    dim = l.units;
  }
  return weights;
}
