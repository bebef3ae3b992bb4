/**
 * trainFused: the epoch loop of the fused engine, with Keras/tfjs fit semantics.
 * Each epoch shuffles the row order (when asked) with an rng seeded by (seed, epoch),
 * so a run resumed from a checkpoint (weights, optimizer state, startEpoch) continues
 * exactly like an uninterrupted one. The last partial batch is trained; the epoch's
 * `loss` and metrics are batch values weighted by batch size; validation runs after
 * the epoch with dropout off.
 */
import { createRng, shuffleInPlace } from '../../../services/core/rng.ts';
import type { NormalizedLayer } from '../../../services/core/layers.ts';
import { isLossKind, metricKind, targetWidth, type LossKind, type MetricKind } from './losses.ts';
import { FusedNetwork, type FusedModel } from './model.ts';
import { createOptimizer, type FusedOptimizerState, type OptimizerSpec } from './optimizers.ts';

export type EpochDecision = 'continue' | 'stop';

export interface FusedTrainOptions {
  layers: NormalizedLayer[];
  inputDim: number;
  loss: LossKind;
  optimizer: OptimizerSpec;
  /** canonical names: accuracy, binaryAccuracy, categoricalAccuracy, sparseCategoricalAccuracy, mae, mse, mape */
  metrics: string[];
  /** row-major; y has `outputs` columns, or one class index per row for sparse targets */
  x: Float32Array;
  y: Float32Array;
  rows: number;
  outputs: number;
  validation?: { x: Float32Array; y: Float32Array; rows: number };
  epochs: number;
  batchSize: number;
  shuffle: boolean;
  seed: number;
  /** resume: weights in the exported layout */
  initialWeights?: Float32Array[];
  /** resume: a FusedOptimizerState from an earlier run */
  initialOptimizerState?: unknown;
  /** resume: number of epochs already done */
  startEpoch?: number;
  /** Called after every epoch (1-based, counting resumed epochs); `optimizerState` is for checkpoints. */
  onEpochEnd(
    epoch: number,
    logs: Record<string, number>,
    weights: () => Float32Array[],
    optimizerState: () => FusedOptimizerState,
  ): EpochDecision | Promise<EpochDecision>;
}

export interface FusedTrainResult {
  history: Array<Record<string, number>>;
  epochsRun: number;
  stopped: boolean;
  optimizerState: FusedOptimizerState;
}

/** Seed of one epoch's rng, mixed from the run seed and the epoch number. */
export function epochSeed(seed: number, epoch: number): number {
  let h = (seed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function check(net: FusedNetwork, o: FusedTrainOptions): { yCols: number; metrics: MetricKind[] } {
  if (!isLossKind(o.loss)) throw new Error(`fused engine: unsupported loss ${String(o.loss)}`);
  if (o.inputDim !== net.inputDim) throw new Error(`fused engine: options.inputDim ${o.inputDim} differs from the model's ${net.inputDim}`);
  if (!Number.isInteger(o.rows) || o.rows < 1) throw new Error('fused engine: no training rows');
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new Error(`fused engine: bad batch size ${o.batchSize}`);
  const yCols = targetWidth(o.loss, net.outputUnits);
  if (o.x.length !== o.rows * o.inputDim) throw new Error(`fused engine: x has ${o.x.length} values, expected ${o.rows} x ${o.inputDim}`);
  if (o.y.length !== o.rows * yCols) throw new Error(`fused engine: y has ${o.y.length} values, expected ${o.rows} x ${yCols}`);
  if (o.loss !== 'sparseCategoricalCrossentropy' && o.outputs !== yCols) {
    throw new Error(`fused engine: ${o.outputs} target columns but the model has ${net.outputUnits} outputs`);
  }
  const v = o.validation;
  if (v && (v.x.length !== v.rows * o.inputDim || v.y.length !== v.rows * yCols)) {
    throw new Error('fused engine: validation data does not match the model shape');
  }
  const metrics = o.metrics.map((m) => {
    const k = metricKind(m, o.loss, net.outputUnits);
    if (!k) throw new Error(`fused engine: unsupported metric ${m}`);
    return k;
  });
  return { yCols, metrics };
}

export async function trainFused(model: FusedModel, o: FusedTrainOptions): Promise<FusedTrainResult> {
  if (!(model instanceof FusedNetwork)) throw new Error('fused engine: trainFused needs a model from createFusedModel');
  const net = model;
  const { yCols, metrics } = check(net, o);
  if (o.initialWeights) net.setWeights(o.initialWeights);
  const optimizer = createOptimizer(o.optimizer, net.params.map((p) => p.length));
  if (o.initialOptimizerState !== undefined && o.initialOptimizerState !== null) optimizer.load(o.initialOptimizerState);

  const batch = Math.min(o.batchSize, o.rows);
  const ws = net.workspace(batch);
  const order = new Int32Array(o.rows);
  const sums = new Float64Array(metrics.length);
  const history: Array<Record<string, number>> = [];
  const start = o.startEpoch ?? 0;
  let stopped = false;
  let epochsRun = 0;

  for (let epoch = start + 1; epoch <= o.epochs; epoch++) {
    const rng = createRng(epochSeed(o.seed, epoch));
    for (let i = 0; i < o.rows; i++) order[i] = i;
    if (o.shuffle) shuffleInPlace(order, rng);
    sums.fill(0);
    let lossTotal = 0;
    for (let from = 0; from < o.rows; from += batch) {
      const n = Math.min(batch, o.rows - from);
      net.gather(ws, o.x, o.y, yCols, order, from, n);
      const loss = net.trainBatch(ws, n, o.loss, metrics, sums, rng);
      if (!Number.isFinite(loss)) {
        throw new Error(`training diverged: loss is NaN or infinite (${loss}) at epoch ${epoch}, batch ${Math.floor(from / batch) + 1}`);
      }
      optimizer.step(net.params, ws.grads);
      net.applyConstraints();
      lossTotal += loss * n;
    }
    const logs: Record<string, number> = { loss: lossTotal / o.rows };
    o.metrics.forEach((m, k) => { logs[m] = sums[k] / o.rows; });
    if (o.validation && o.validation.rows > 0) {
      const v = net.evaluateSums(o.validation.x, o.validation.y, o.validation.rows, o.loss, metrics);
      logs.val_loss = v[0] / o.validation.rows;
      o.metrics.forEach((m, k) => { logs[`val_${m}`] = v[k + 1] / o.validation!.rows; });
    }
    history.push({ epoch, ...logs });
    epochsRun++;
    await yieldToEventLoop();
    const decision = await o.onEpochEnd(epoch, { ...logs }, () => net.weights(), () => optimizer.state());
    if (decision === 'stop') {
      stopped = true;
      break;
    }
  }
  return { history, epochsRun, stopped, optimizerState: optimizer.state() };
}
