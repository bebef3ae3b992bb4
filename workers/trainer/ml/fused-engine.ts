/**
 * The fused engine behind the EngineImpl contract, and the choice between engines.
 * The fused network trains; for the final unit its weights are loaded into the
 * equivalent tf.Sequential so the model is saved in TF.js layers format like any
 * other. Checkpoints carry weights and optimizer slots, so a unit resumes exactly.
 */
import type * as tfjs from '@tensorflow/tfjs';
import { checkpointDue } from '../../../services/core/checkpoints.ts';
import { NightshiftError } from '../../../services/core/errors.ts';
import type { ResolvedJobSpec } from '../../../services/core/job-defaults.ts';
import {
  createFusedModel, fusedSupport, parityCovered, optimizerStateFromArrays, optimizerStateToArrays, trainFused, weightShapes,
  type FusedOptimizerState, type LossKind, type OptimizerSpec,
} from '../fused/index.ts';
import { selectBackend, type BackendName } from '../../../services/platform/tf-backend.ts';
import {
  EarlyStopping, decodeFloats, diverged, encodeFloats,
  type Checkpoint, type EngineChoice, type EngineContext, type EngineImpl, type EngineResult, type EpochLogs, type SerializedTensor,
} from './engine.ts';
import type { NormalizedLayer } from '../../../services/core/layers.ts';
import { buildModel, kerasMetricName } from './model.ts';
import { tfjsEngine } from './train-tfjs.ts';

const weightNames = (layers: NormalizedLayer[]): string[] => {
  const names: string[] = [];
  let d = 0;
  for (const l of layers) {
    if (l.type !== 'dense') continue;
    names.push(`dense_${d}/kernel`);
    if (l.useBias) names.push(`dense_${d}/bias`);
    d++;
  }
  return names;
};

/** history keys: canonical metric names -> Keras names (binaryAccuracy -> binary_accuracy) */
function kerasKeys(logs: Record<string, number>, metrics: string[]): Record<string, number> {
  const out: Record<string, number> = { ...logs };
  for (const m of metrics) {
    const k = kerasMetricName(m);
    if (k === m) continue;
    if (m in out) (out[k] = out[m]), delete out[m];
    if (`val_${m}` in out) (out[`val_${k}`] = out[`val_${m}`]), delete out[`val_${m}`];
  }
  return out;
}

export const fusedEngine: EngineImpl = {
  name: 'fused',
  async run(ctx: EngineContext, keepModel: boolean): Promise<EngineResult> {
    const t = ctx.spec.training;
    let lastCheckpoint = Date.now();
    const layers = ctx.layers;
    const { name: backend, tf } = await selectBackend(ctx.backend);
    const shapes = weightShapes(layers, ctx.inputDim);
    const names = weightNames(layers);
    const net = createFusedModel(layers, ctx.inputDim, ctx.modelSeed);
    const loss = t.loss as LossKind;
    let history: EpochLogs[] = [];
    let startEpoch = 0;
    let optimizerState: FusedOptimizerState | undefined;
    const es = t.earlyStopping ? new EarlyStopping(t.earlyStopping, ctx.checkpoint?.earlyStopping) : undefined;
    const serialize = (ws: Float32Array[]): SerializedTensor[] => ws.map((w, i) => ({ name: names[i], shape: shapes[i], data: encodeFloats(w) }));
    const deserialize = (ws: SerializedTensor[]): Float32Array[] => ws.map((w) => decodeFloats(w.data));
    if (ctx.checkpoint && ctx.checkpoint.engine === 'fused') {
      net.setWeights(deserialize(ctx.checkpoint.weights));
      if (ctx.checkpoint.optimizer) {
        optimizerState = optimizerStateFromArrays(t.optimizer.name, ctx.checkpoint.optimizer.map((o) => ({ name: o.name, values: decodeFloats(o.data) })));
      }
      history = ctx.checkpoint.history.slice();
      startEpoch = ctx.checkpoint.epoch;
    }
    const checkpoint = (epoch: number, weights: Float32Array[], opt: FusedOptimizerState): Checkpoint => ({
      epoch,
      history: history.slice(),
      weights: serialize(weights),
      optimizer: optimizerStateToArrays(opt, shapes).map((a) => ({ name: a.name, shape: a.shape, data: encodeFloats(a.values) })),
      engine: 'fused',
      ...(es ? { earlyStopping: { ...es.state } } : {}),
    });
    let interrupted = false;
    if (startEpoch < t.epochs && !(es?.state.stoppedEpoch)) {
      try {
        await trainFused(net, {
          layers, inputDim: ctx.inputDim, loss, optimizer: t.optimizer as OptimizerSpec, metrics: t.metrics,
          x: ctx.train.x, y: ctx.train.y, rows: ctx.train.rows, outputs: ctx.targetWidth,
          ...(ctx.validation && ctx.validation.rows > 0 ? { validation: ctx.validation } : {}),
          epochs: t.epochs, batchSize: t.batchSize, shuffle: t.shuffle, seed: ctx.shuffleSeed,
          ...(startEpoch > 0 ? { startEpoch, initialWeights: net.weights(), ...(optimizerState ? { initialOptimizerState: optimizerState } : {}) } : {}),
          onEpochEnd: async (epoch, raw, weights, optState) => {
            if (!Number.isFinite(raw.loss)) throw diverged(epoch);
            const logs = kerasKeys(raw, t.metrics);
            history.push({ epoch, ...logs });
            await ctx.hooks.onEpoch(epoch, logs);
            if (es) {
              const { improved, stop } = es.update(epoch, logs);
              if (improved && es.restoreBestWeights) es.state.bestWeights = serialize(weights());
              if (stop) return 'stop';
            }
            if (epoch === t.epochs) return 'continue';
            if (ctx.hooks.control() === 'stop') {
              await ctx.hooks.saveCheckpoint(checkpoint(epoch, weights(), optState()));
              interrupted = true;
              return 'stop';
            }
            if (checkpointDue(t, epoch, Date.now() - lastCheckpoint) || ctx.hooks.checkpointNow?.()) {
              await ctx.hooks.saveCheckpoint(checkpoint(epoch, weights(), optState()));
              lastCheckpoint = Date.now();
            }
            return 'continue';
          },
        });
      } catch (e) {
        if (e instanceof NightshiftError) throw e;
        if (/NaN|Infinity/.test((e as Error).message)) throw diverged(history.length + 1);
        throw e;
      }
    }
    if (interrupted) return { status: 'interrupted', history, backend };
    if (es?.restoreBestWeights && es.state.bestWeights) net.setWeights(deserialize(es.state.bestWeights));
    let heldOut: Record<string, number> | undefined;
    let testPredictions: Float32Array | undefined;
    if (ctx.test && ctx.test.rows > 0) {
      heldOut = kerasKeys(net.evaluate(ctx.test.x, ctx.test.y, ctx.test.rows, loss, t.metrics), t.metrics);
      testPredictions = net.predict(ctx.test.x, ctx.test.rows);
    }
    let model: tfjs.LayersModel | undefined;
    if (keepModel) {
      const m = buildModel(tf, layers, ctx.inputDim, ctx.modelSeed);
      const tensors = net.weights().map((w, i) => tf.tensor(w, shapes[i], 'float32'));
      m.setWeights(tensors);
      tf.dispose(tensors);
      model = m;
    }
    return { status: 'done', history, ...(heldOut ? { heldOut } : {}), ...(testPredictions ? { testPredictions } : {}), ...(model ? { model } : {}), backend };
  },
};

/**
 * training.engine: "tfjs" and "fused" are taken as asked ("fused" fails clearly when
 * the model needs more than it has); "auto" picks fused only for dense/dropout MLPs
 * whose layers and training settings the engine parity suite covers (PARITY_COVERED),
 * and only when no native TensorFlow backend (tfjs-node, tfjs-node-gpu) is loaded.
 * The choice carries its reason, which the Job shows.
 */
export function chooseEngine(spec: ResolvedJobSpec, layers: NormalizedLayer[], backend: BackendName | string): EngineChoice {
  const want = spec.training.engine;
  const t = { loss: spec.training.loss, optimizer: spec.training.optimizer, metrics: spec.training.metrics };
  if (want === 'tfjs') return { ...tfjsEngine, reason: 'training.engine is "tfjs"' };
  const support = fusedSupport(layers, t);
  if (want === 'fused') {
    if (!support.ok) throw new NightshiftError('spec_invalid', `training.engine: the fused engine cannot train this model: ${support.reason}; use "tfjs" or "auto"`, { field: 'training.engine' });
    return { ...fusedEngine, reason: 'training.engine is "fused"' };
  }
  if (backend === 'tensorflow' || backend === 'tensorflow-gpu') return { ...tfjsEngine, reason: `auto: the native TensorFlow backend (${backend}) is loaded` };
  if (!support.ok) return { ...tfjsEngine, reason: `auto: the fused engine cannot train this model (${support.reason})` };
  const parity = parityCovered(layers, t);
  if (!parity.ok) return { ...tfjsEngine, reason: `auto: ${parity.reason} is outside what the engine parity suite covers` };
  return { ...fusedEngine, reason: `auto: a dense/dropout MLP inside what the engine parity suite covers, on the ${backend} backend` };
}
