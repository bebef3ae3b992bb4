/**
 * The fused network: dense and dropout layers over Float32Array buffers. A Workspace
 * holds every buffer one mini-batch size needs, so a training step allocates nothing;
 * forward, loss, backward and regularization run as plain loops.
 */
import type { Rng } from '../../../services/core/rng.ts';
import type { NormalizedLayer } from '../../../services/core/layers.ts';
import { activate, activationKind, backprop, type ActivationKind } from './activations.ts';
import { initialWeights, weightShapes } from './init.ts';
import { lossSum, metricKind, metricSum, outputGradient, targetWidth, type LossKind, type MetricKind } from './losses.ts';

export interface FusedModel {
  /** Copies of the weights in the tfjs layout (kernel [in, out], bias [out] per dense layer). */
  weights(): Float32Array[];
  setWeights(w: Float32Array[]): void;
  /** Outputs (rows x output units), dropout off. */
  predict(x: Float32Array, rows: number): Float32Array;
  /** Mean loss (without regularization, as tfjs evaluate) and metrics, dropout off. */
  evaluate(x: Float32Array, y: Float32Array, rows: number, loss: LossKind, metrics: string[]): Record<string, number>;
}

interface DenseOp {
  inDim: number;
  outDim: number;
  act: ActivationKind;
  kernel: number;
  /** index of the bias in the weight list, -1 without bias */
  bias: number;
  /** keep probabilities of the dropout layers right before this one */
  keep: number[];
  maxNorm?: number;
  l1: number;
  l2: number;
}

/** Buffers for mini-batches of up to `batch` rows. */
export interface Workspace {
  batch: number;
  x: Float32Array;
  y: Float32Array;
  /** per op: inputs after dropout (null when the op has no dropout) and the dropout mask */
  dropped: (Float32Array | null)[];
  mask: (Float32Array | null)[];
  z: Float32Array[];
  a: Float32Array[];
  /** per op: gradient w.r.t. the pre-activation, and scratch for gradients w.r.t. outputs / inputs */
  dz: Float32Array[];
  da: Float32Array[];
  dIn: (Float32Array | null)[];
  grads: Float64Array[];
}

export class FusedNetwork implements FusedModel {
  readonly ops: DenseOp[] = [];
  readonly params: Float32Array[];
  readonly shapes: number[][];
  readonly outputUnits: number;
  private cached?: Workspace;

  constructor(readonly layers: NormalizedLayer[], readonly inputDim: number, weights: Float32Array[]) {
    let dim = inputDim;
    let keep: number[] = [];
    let index = 0;
    for (const l of layers) {
      if (l.type === 'dropout') {
        if (l.rate > 0) keep.push(1 - l.rate);
        continue;
      }
      const act = activationKind(l.activation);
      if (!act) throw new Error(`fused engine: unsupported activation ${l.activation}`);
      const kernel = index++;
      const bias = l.useBias ? index++ : -1;
      this.ops.push({ inDim: dim, outDim: l.units, act, kernel, bias, keep, maxNorm: l.maxNorm, l1: l.l1 ?? 0, l2: l.l2 ?? 0 });
      keep = [];
      dim = l.units;
    }
    if (this.ops.length === 0) throw new Error('fused engine: the model has no dense layer');
    if (keep.length > 0) throw new Error('fused engine: the last layer must be a dense layer');
    this.outputUnits = dim;
    this.shapes = weightShapes(layers, inputDim);
    this.params = this.shapes.map((s) => new Float32Array(s.reduce((p, n) => p * n, 1)));
    this.setWeights(weights);
  }

  weights(): Float32Array[] {
    return this.params.map((p) => Float32Array.from(p));
  }

  setWeights(w: ArrayLike<number>[]): void {
    if (w.length !== this.params.length) throw new Error(`fused engine: expected ${this.params.length} weight arrays, got ${w.length}`);
    w.forEach((arr, i) => {
      if (arr.length !== this.params[i].length) {
        throw new Error(`fused engine: weight ${i} has ${arr.length} values, shape [${this.shapes[i].join(', ')}] needs ${this.params[i].length}`);
      }
      this.params[i].set(arr);
    });
  }

  workspace(batch: number): Workspace {
    if (this.cached && this.cached.batch === batch) return this.cached;
    const f = (n: number): Float32Array => new Float32Array(batch * n);
    const ws: Workspace = {
      batch,
      x: f(this.inputDim),
      y: f(this.outputUnits),
      dropped: this.ops.map((op) => (op.keep.length ? f(op.inDim) : null)),
      mask: this.ops.map((op) => (op.keep.length ? f(op.inDim) : null)),
      z: this.ops.map((op) => f(op.outDim)),
      a: this.ops.map((op) => f(op.outDim)),
      dz: this.ops.map((op) => f(op.outDim)),
      da: this.ops.map((op) => f(op.outDim)),
      dIn: this.ops.map((op, l) => (l > 0 ? f(op.inDim) : null)),
      grads: this.params.map((p) => new Float64Array(p.length)),
    };
    this.cached = ws;
    return ws;
  }

  /** The input an op multiplies with its kernel. */
  private input(ws: Workspace, l: number): Float32Array {
    return ws.dropped[l] ?? (l === 0 ? ws.x : ws.a[l - 1]);
  }

  /** Forward pass over ws.x (rows <= ws.batch); dropout only when an rng is given. */
  forward(ws: Workspace, rows: number, rng?: Rng): Float32Array {
    for (let l = 0; l < this.ops.length; l++) {
      const op = this.ops[l];
      const raw = l === 0 ? ws.x : ws.a[l - 1];
      const dropped = ws.dropped[l];
      const mask = ws.mask[l];
      if (dropped && mask) {
        const n = rows * op.inDim;
        if (rng && op.keep.length === 1) {
          // mulberry32 inlined, seeded from the epoch rng: one draw per element, no calls
          const threshold = op.keep[0] * 4294967296;
          const scale = 1 / op.keep[0];
          let state = (rng.next() * 4294967296) >>> 0;
          for (let i = 0; i < n; i++) {
            state = (state + 0x6d2b79f5) >>> 0;
            let t = Math.imul(state ^ (state >>> 15), state | 1);
            t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
            const m = ((t ^ (t >>> 14)) >>> 0) < threshold ? scale : 0;
            mask[i] = m;
            dropped[i] = raw[i] * m;
          }
        } else if (rng) {
          for (let i = 0; i < n; i++) {
            let m = 1;
            for (let j = 0; j < op.keep.length; j++) m = rng.next() < op.keep[j] ? m / op.keep[j] : 0;
            mask[i] = m;
            dropped[i] = raw[i] * m;
          }
        } else {
          mask.fill(1, 0, n);
          dropped.set(raw.subarray(0, n));
        }
      }
      const b = op.bias >= 0 ? this.params[op.bias] : null;
      denseForward(this.input(ws, l), this.params[op.kernel], b, ws.z[l], rows, op.inDim, op.outDim);
      activate(op.act, ws.z[l], ws.a[l], rows, op.outDim);
    }
    return ws.a[this.ops.length - 1];
  }

  /**
   * One mini-batch already copied into ws.x / ws.y: forward (with dropout when rng is
   * given), mean loss plus regularization, gradients into ws.grads; metric sums are
   * added to `sums`. Returns the batch loss as tfjs reports it.
   */
  trainBatch(ws: Workspace, rows: number, loss: LossKind, metrics: MetricKind[], sums: Float64Array, rng?: Rng): number {
    const last = this.ops.length - 1;
    const out = this.forward(ws, rows, rng);
    const cols = this.outputUnits;
    let value = lossSum(loss, out, ws.y, rows, cols, { z: ws.z[last], act: this.ops[last].act }) / rows;
    for (let k = 0; k < metrics.length; k++) sums[k] += metricSum(metrics[k], out, ws.y, rows, cols);
    outputGradient(loss, this.ops[last].act, ws.z[last], out, ws.y, rows, cols, 1 / rows, ws.da[last], ws.dz[last]);
    for (let l = last; l >= 0; l--) {
      const op = this.ops[l];
      const dIn = ws.dIn[l];
      const gb = op.bias >= 0 ? ws.grads[op.bias] : null;
      denseBackward(this.input(ws, l), this.params[op.kernel], ws.dz[l], ws.grads[op.kernel], gb, dIn, ws.mask[l], rows, op.inDim, op.outDim);
      if (dIn) {
        const prev = this.ops[l - 1];
        backprop(prev.act, ws.z[l - 1], ws.a[l - 1], dIn, ws.dz[l - 1], rows, prev.outDim);
      }
      if (op.l1 || op.l2) value += regularize(this.params[op.kernel], ws.grads[op.kernel], op.l1, op.l2);
    }
    return value;
  }

  /** Keras max-norm: each output unit's incoming weights scaled by clip(norm, 0, max) / (1e-7 + norm). */
  applyConstraints(): void {
    for (const op of this.ops) {
      if (op.maxNorm === undefined) continue;
      const w = this.params[op.kernel];
      for (let o = 0; o < op.outDim; o++) {
        let ss = 0;
        for (let i = 0; i < op.inDim; i++) { const v = w[i * op.outDim + o]; ss += v * v; }
        const norm = Math.sqrt(ss);
        const f = Math.min(norm, op.maxNorm) / (1e-7 + norm);
        for (let i = 0; i < op.inDim; i++) w[i * op.outDim + o] *= f;
      }
    }
  }

  /** Copy rows order[from..from+n) of x (and y, `yCols` wide) into the workspace. */
  gather(ws: Workspace, x: Float32Array, y: Float32Array | null, yCols: number, order: Int32Array | null, from: number, n: number): void {
    const d = this.inputDim;
    const bx = ws.x;
    const by = ws.y;
    for (let r = 0; r < n; r++) {
      const src = order ? order[from + r] : from + r;
      for (let i = 0, s = src * d, t = r * d; i < d; i++) bx[t + i] = x[s + i];
      if (y) for (let c = 0, s = src * yCols, t = r * yCols; c < yCols; c++) by[t + c] = y[s + c];
    }
  }

  predict(x: Float32Array, rows: number): Float32Array {
    const out = new Float32Array(rows * this.outputUnits);
    const ws = this.workspace(this.cached?.batch ?? Math.max(1, Math.min(rows, 1024)));
    for (let from = 0; from < rows; from += ws.batch) {
      const n = Math.min(ws.batch, rows - from);
      this.gather(ws, x, null, 0, null, from, n);
      out.set(this.forward(ws, n).subarray(0, n * this.outputUnits), from * this.outputUnits);
    }
    return out;
  }

  evaluate(x: Float32Array, y: Float32Array, rows: number, loss: LossKind, metrics: string[]): Record<string, number> {
    const kinds = metrics.map((m) => {
      const k = metricKind(m, loss, this.outputUnits);
      if (!k) throw new Error(`fused engine: unsupported metric ${m}`);
      return k;
    });
    const sums = this.evaluateSums(x, y, rows, loss, kinds);
    const logs: Record<string, number> = { loss: sums[0] / rows };
    metrics.forEach((m, k) => { logs[m] = sums[k + 1] / rows; });
    return logs;
  }

  /** [sum of losses, sum of each metric] over all rows, batched through the cached workspace. */
  evaluateSums(x: Float32Array, y: Float32Array, rows: number, loss: LossKind, metrics: MetricKind[]): Float64Array {
    const sums = new Float64Array(metrics.length + 1);
    const yCols = targetWidth(loss, this.outputUnits);
    const ws = this.workspace(this.cached?.batch ?? Math.max(1, Math.min(rows, 1024)));
    for (let from = 0; from < rows; from += ws.batch) {
      const n = Math.min(ws.batch, rows - from);
      this.gather(ws, x, y, yCols, null, from, n);
      const out = this.forward(ws, n);
      sums[0] += lossSum(loss, out, ws.y, n, this.outputUnits, { z: ws.z[this.ops.length - 1], act: this.ops[this.ops.length - 1].act });
      for (let k = 0; k < metrics.length; k++) sums[k + 1] += metricSum(metrics[k], out, ws.y, n, this.outputUnits);
    }
    return sums;
  }
}

/** z = inp W + b for rows x [inDim] inputs and an [inDim, outDim] kernel. */
function denseForward(inp: Float32Array, w: Float32Array, b: Float32Array | null, z: Float32Array, rows: number, inDim: number, outDim: number): void {
  if (outDim === 1) {
    const b0 = b ? b[0] : 0;
    for (let r = 0; r < rows; r++) {
      let s = b0;
      const io = r * inDim;
      for (let i = 0; i < inDim; i++) s += inp[io + i] * w[i];
      z[r] = s;
    }
    return;
  }
  for (let r = 0; r < rows; r++) {
    const zo = r * outDim;
    const io = r * inDim;
    for (let o = 0; o < outDim; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0, k = o; i < inDim; i++, k += outDim) s += inp[io + i] * w[k];
      z[zo + o] = s;
    }
  }
}

/**
 * Kernel and bias gradients (overwritten) and, when dIn is given, the gradient w.r.t. the
 * layer's input before its dropout (times the dropout mask when there is one).
 */
function denseBackward(
  inp: Float32Array, w: Float32Array, dz: Float32Array, gw: Float64Array, gb: Float64Array | null,
  dIn: Float32Array | null, mask: Float32Array | null, rows: number, inDim: number, outDim: number,
): void {
  gw.fill(0);
  if (gb) gb.fill(0);
  if (outDim === 1) {
    for (let r = 0; r < rows; r++) {
      const g = dz[r];
      const io = r * inDim;
      if (gb) gb[0] += g;
      for (let i = 0; i < inDim; i++) gw[i] += inp[io + i] * g;
      if (dIn && mask) for (let i = 0; i < inDim; i++) dIn[io + i] = g * w[i] * mask[io + i];
      else if (dIn) for (let i = 0; i < inDim; i++) dIn[io + i] = g * w[i];
    }
    return;
  }
  for (let i = 0; i < inDim; i++) {
    for (let o = 0; o < outDim; o++) {
      let s = 0;
      for (let r = 0, a = i, d = o; r < rows; r++, a += inDim, d += outDim) s += inp[a] * dz[d];
      gw[i * outDim + o] = s;
    }
  }
  if (gb) {
    for (let o = 0; o < outDim; o++) {
      let s = 0;
      for (let r = 0, d = o; r < rows; r++, d += outDim) s += dz[d];
      gb[o] = s;
    }
  }
  if (dIn) {
    for (let r = 0; r < rows; r++) {
      const zo = r * outDim;
      const io = r * inDim;
      for (let i = 0; i < inDim; i++) {
        const wo = i * outDim;
        let s = 0;
        for (let o = 0; o < outDim; o++) s += dz[zo + o] * w[wo + o];
        dIn[io + i] = mask ? s * mask[io + i] : s;
      }
    }
  }
}

/** Adds the l1/l2 penalty gradient; returns the penalty (l1 sum|w| + l2 sum w^2, as Keras). */
function regularize(w: Float32Array, g: Float64Array, l1: number, l2: number): number {
  let penalty = 0;
  for (let i = 0; i < w.length; i++) {
    const v = w[i];
    // tfjs differentiates abs as step(x, -1): +1 for x > 0, -1 otherwise
    penalty += l1 * Math.abs(v) + l2 * v * v;
    g[i] += (v > 0 ? l1 : -l1) + 2 * l2 * v;
  }
  return penalty;
}

export function createFusedModel(layers: NormalizedLayer[], inputDim: number, seed: number): FusedNetwork {
  return new FusedNetwork(layers, inputDim, initialWeights(layers, inputDim, seed));
}
