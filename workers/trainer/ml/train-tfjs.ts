/**
 * The TensorFlow.js engine: an epoch loop around model.fit(epochs: 1) so that
 * shuffling (seeded per epoch), early stopping, checkpoints, interruption and NaN
 * detection are ours and survive a resume. History uses Keras names.
 */
import type * as tfjs from '@tensorflow/tfjs';
import { checkpointDue } from '../../../services/core/checkpoints.ts';
import { createRng, shuffleInPlace } from '../../../services/core/rng.ts';
import { selectBackend, type Tf } from '../../../services/platform/tf-backend.ts';
import {
  EarlyStopping, decodeFloats, diverged, encodeFloats,
  type Checkpoint, type EngineContext, type EngineImpl, type EngineResult, type EpochLogs, type SerializedTensor,
} from './engine.ts';
import { buildModel, compileModel, createOptimizer, logitActivation, logitLayers, setLearningRate } from './model.ts';

export async function serializeWeights(tensors: Array<{ name: string; tensor: tfjs.Tensor }>): Promise<SerializedTensor[]> {
  const out: SerializedTensor[] = [];
  for (const { name, tensor } of tensors) {
    const data = await tensor.data();
    out.push({ name, shape: tensor.shape.slice(), data: encodeFloats(data as ArrayLike<number>), ...(tensor.dtype === 'int32' ? { dtype: 'int32' as const } : {}) });
  }
  return out;
}

export function modelWeights(model: tfjs.LayersModel): Promise<SerializedTensor[]> {
  return serializeWeights(model.weights.map((w) => ({ name: w.originalName, tensor: w.read() })));
}

export function setModelWeights(tf: Tf, model: tfjs.LayersModel, weights: SerializedTensor[]): void {
  const expected = model.weights.length;
  if (weights.length !== expected) throw new Error(`checkpoint has ${weights.length} weight tensors, the model has ${expected}`);
  const tensors = weights.map((w) => tf.tensor(decodeFloats(w.data), w.shape, 'float32'));
  try {
    model.setWeights(tensors);
  } finally {
    tf.dispose(tensors);
  }
}

/**
 * tfjs 4.x does not apply kernel constraints inside fit(); Keras applies them after
 * every optimizer step. This re-applies max-norm (Keras formula) after each batch.
 */
function maxNormProjector(tf: Tf, model: tfjs.LayersModel, layers: EngineContext['layers']): (() => void) | undefined {
  const dense = model.layers.filter((l) => l.getClassName() === 'Dense');
  const targets: Array<{ kernel: tfjs.LayerVariable; max: number }> = [];
  let d = 0;
  for (const l of layers) {
    if (l.type !== 'dense') continue;
    const layer = dense[d++] as unknown as { kernel?: tfjs.LayerVariable };
    if (l.maxNorm !== undefined && layer?.kernel) targets.push({ kernel: layer.kernel, max: l.maxNorm });
  }
  if (targets.length === 0) return undefined;
  return () => {
    tf.tidy(() => {
      for (const { kernel, max } of targets) {
        const w = kernel.read();
        const norms = tf.sqrt(tf.sum(tf.square(w), 0, true));
        const desired = tf.clipByValue(norms, 0, max);
        kernel.write(tf.mul(w, tf.div(desired, tf.add(norms, 1e-7))));
      }
    });
  };
}

const toTensor = (tf: Tf, a: Float32Array, rows: number, width: number): tfjs.Tensor2D => tf.tensor2d(a, [rows, width], 'float32');

/** tfjs log keys -> Keras names ('acc' -> 'accuracy', metric functions by position). */
function kerasLogs(model: tfjs.LayersModel, names: string[], logs: Record<string, number | tfjs.Tensor>): Record<string, number> {
  const out: Record<string, number> = {};
  const tfNames = model.metricsNames;
  tfNames.forEach((n, i) => {
    const v = logs[n];
    if (v !== undefined) out[names[i]] = typeof v === 'number' ? v : (v.dataSync()[0] as number);
    const vv = logs[`val_${n}`];
    if (vv !== undefined) out[`val_${names[i]}`] = typeof vv === 'number' ? vv : (vv.dataSync()[0] as number);
  });
  return out;
}

export const tfjsEngine: EngineImpl = {
  name: 'tfjs',
  async run(ctx: EngineContext, keepModel: boolean): Promise<EngineResult> {
    const { name: backend, tf } = await selectBackend(ctx.backend);
    const t = ctx.spec.training;
    let lastCheckpoint = Date.now();
    // cross-entropy after sigmoid/softmax is trained from the logits (Keras semantics): the
    // trained model ends in a linear layer; the kept model gets the activation back
    const act = logitActivation(ctx.layers, t.loss);
    const last = ctx.layers[ctx.layers.length - 1];
    const units = last.type === 'dense' ? last.units : 1;
    const model = buildModel(tf, act ? logitLayers(ctx.layers) : ctx.layers, ctx.inputDim, ctx.modelSeed);
    const opt = createOptimizer(tf, t.optimizer);
    const oneHotSparse = act === 'softmax' && t.loss === 'sparseCategoricalCrossentropy';
    const names = compileModel(tf, model, ctx.spec, opt.optimizer, act ? { act, units, oneHotSparse } : undefined);
    const targets = (a: Float32Array, rows: number): tfjs.Tensor2D => (oneHotSparse
      ? tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Int32Array.from(a), 'int32'), units), 'float32') as tfjs.Tensor2D)
      : toTensor(tf, a, rows, ctx.targetWidth));
    const tensors: tfjs.Tensor[] = [];
    const own = <T extends tfjs.Tensor>(x: T): T => (tensors.push(x), x);
    let keep = false;
    try {
      const xTrain = own(toTensor(tf, ctx.train.x, ctx.train.rows, ctx.inputDim));
      const yTrain = own(targets(ctx.train.y, ctx.train.rows));
      const val = ctx.validation && ctx.validation.rows > 0
        ? [own(toTensor(tf, ctx.validation.x, ctx.validation.rows, ctx.inputDim)), own(targets(ctx.validation.y, ctx.validation.rows))] as [tfjs.Tensor, tfjs.Tensor]
        : undefined;
      let history: EpochLogs[] = [];
      let start = 0;
      const es = t.earlyStopping ? new EarlyStopping(t.earlyStopping, ctx.checkpoint?.earlyStopping) : undefined;
      if (ctx.checkpoint && ctx.checkpoint.engine === 'tfjs') {
        setModelWeights(tf, model, ctx.checkpoint.weights);
        if (ctx.checkpoint.optimizer?.length) {
          // the optimizer copies these into its own variables (and reads 'iter' as a number)
          const slots = ctx.checkpoint.optimizer.map((w) => ({ name: w.name, tensor: tf.tensor(decodeFloats(w.data), w.shape, w.dtype ?? 'float32') }));
          try {
            await opt.optimizer.setWeights(slots);
          } finally {
            tf.dispose(slots.map((w) => w.tensor));
          }
        }
        history = ctx.checkpoint.history.slice();
        start = ctx.checkpoint.epoch;
      }
      const batchesPerEpoch = Math.ceil(ctx.train.rows / t.batchSize);
      const project = maxNormProjector(tf, model, ctx.layers);
      const optimizerWeights = async (): Promise<SerializedTensor[]> => {
        // getWeights() returns the slot variables plus a fresh 'iter' scalar that is ours to dispose
        const slots = await opt.optimizer.getWeights();
        try {
          return await serializeWeights(slots);
        } finally {
          tf.dispose(slots.filter((w) => w.name === 'iter').map((w) => w.tensor));
        }
      };
      const checkpoint = async (epoch: number): Promise<Checkpoint> => ({
        epoch,
        history: history.slice(),
        weights: await modelWeights(model),
        optimizer: await optimizerWeights(),
        engine: 'tfjs',
        ...(es ? { earlyStopping: { ...es.state } } : {}),
      });
      let stopped = false;
      for (let epoch = start + 1; epoch <= t.epochs; epoch++) {
        let xs: tfjs.Tensor = xTrain, ys: tfjs.Tensor = yTrain;
        if (t.shuffle) {
          const perm = new Int32Array(ctx.train.rows);
          for (let i = 0; i < perm.length; i++) perm[i] = i;
          shuffleInPlace(perm, createRng((ctx.shuffleSeed + 2_654_435_761 * epoch) >>> 0));
          const idx = tf.tensor1d(perm, 'int32');
          xs = tf.gather(xTrain, idx);
          ys = tf.gather(yTrain, idx);
          idx.dispose();
        }
        let logs: Record<string, number>;
        try {
          const h = await model.fit(xs, ys, {
            epochs: 1, batchSize: t.batchSize, shuffle: false, verbose: 0,
            ...(val ? { validationData: val } : {}),
            ...(opt.decay > 0 || project ? {
              callbacks: {
                ...(opt.decay > 0 ? { onBatchBegin: async (batch: number) => setLearningRate(opt.optimizer, opt.learningRate / (1 + opt.decay * ((epoch - 1) * batchesPerEpoch + batch))) } : {}),
                ...(project ? { onBatchEnd: async () => project() } : {}),
              },
            } : {}),
          });
          const last: Record<string, number | tfjs.Tensor> = {};
          for (const [k, v] of Object.entries(h.history)) last[k] = v[v.length - 1] as number | tfjs.Tensor;
          logs = kerasLogs(model, names, last);
        } finally {
          if (xs !== xTrain) tf.dispose([xs, ys]);
        }
        if (!Number.isFinite(logs.loss)) throw diverged(epoch);
        history.push({ epoch, ...logs });
        await ctx.hooks.onEpoch(epoch, logs);
        if (es) {
          const { improved, stop } = es.update(epoch, logs);
          if (improved && es.restoreBestWeights) es.state.bestWeights = await modelWeights(model);
          if (stop) stopped = true;
        }
        if (stopped || epoch === t.epochs) break;
        if (ctx.hooks.control() === 'stop') {
          await ctx.hooks.saveCheckpoint(await checkpoint(epoch));
          return { status: 'interrupted', history, backend };
        }
        if (checkpointDue(t, epoch, Date.now() - lastCheckpoint) || ctx.hooks.checkpointNow?.()) {
          await ctx.hooks.saveCheckpoint(await checkpoint(epoch));
          lastCheckpoint = Date.now();
        }
      }
      if (es?.restoreBestWeights && es.state.bestWeights) setModelWeights(tf, model, es.state.bestWeights);
      let heldOut: Record<string, number> | undefined;
      let testPredictions: Float32Array | undefined;
      if (ctx.test && ctx.test.rows > 0) {
        const xt = own(toTensor(tf, ctx.test.x, ctx.test.rows, ctx.inputDim));
        const yt = own(targets(ctx.test.y, ctx.test.rows));
        const r = model.evaluate(xt, yt, { batchSize: Math.max(t.batchSize, 256) });
        const scalars = Array.isArray(r) ? r : [r];
        heldOut = {};
        for (let i = 0; i < scalars.length; i++) heldOut[names[i]] = (await scalars[i].data())[0];
        tf.dispose(scalars);
        const out = tf.tidy(() => {
          const z = model.predict(xt, { batchSize: Math.max(t.batchSize, 256) }) as tfjs.Tensor;
          return act === 'sigmoid' ? tf.sigmoid(z) : act === 'softmax' ? tf.softmax(z) : z.clone();
        });
        testPredictions = Float32Array.from(await out.data() as Float32Array);
        out.dispose();
      }
      let kept: tfjs.LayersModel | undefined;
      if (keepModel && act) {
        kept = buildModel(tf, ctx.layers, ctx.inputDim, ctx.modelSeed);
        kept.setWeights(model.getWeights());
      } else if (keepModel) {
        kept = model;
        keep = true;
      }
      return { status: 'done', history, ...(heldOut ? { heldOut } : {}), ...(testPredictions ? { testPredictions } : {}), ...(kept ? { model: kept } : {}), backend };
    } finally {
      tf.dispose(tensors);
      opt.optimizer.dispose();
      if (!keep) model.dispose();
    }
  },
};
