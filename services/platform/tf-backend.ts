/**
 * TensorFlow.js backend selection: tfjs-node-gpu, then tfjs-node (native bindings,
 * present on the GPU worker image), then the WebAssembly backend, then plain cpu.
 * The wasm backend is only kept when a smoke fit of every layer, activation, loss and
 * optimizer we support trains on it (a missing gradient kernel throws "Kernel ... not
 * registered"); otherwise cpu. The choice is made once per process.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as tfjs from '@tensorflow/tfjs';

export type Tf = typeof tfjs;
export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

export interface SelectedBackend {
  /** 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu' */
  name: BackendName;
  tf: Tf;
}

export interface BackendLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** Backend log lines on stderr, tagged with the program that selects the backend (`[trainer] ...`, `[predict] ...`). */
export const consoleBackendLog = (tag: string): BackendLog => ({
  info: (obj, msg) => console.error(`[${tag}] ${msg ?? ''} ${JSON.stringify(obj)}`),
  warn: (obj, msg) => console.error(`[${tag}] ${msg ?? ''} ${JSON.stringify(obj)}`),
});

const consoleLog = consoleBackendLog('trainer');

let selected: Promise<SelectedBackend> | undefined;
let selectedFor: string | undefined;

/**
 * Pick (once) and activate a backend. `forced` skips the others (and fails if it
 * cannot load); without it, an earlier selection (forced or not) is reused.
 */
export function selectBackend(forced?: BackendName, log: BackendLog = consoleLog): Promise<SelectedBackend> {
  if (selected && (forced === undefined || selectedFor === forced)) return selected;
  selectedFor = forced ?? 'auto';
  selected = pick(forced, log);
  selected.catch(() => (selected = undefined));
  return selected;
}

async function tryNative(pkg: string, name: BackendName, log: BackendLog): Promise<SelectedBackend | undefined> {
  try {
    // native bindings register the 'tensorflow' backend on the tfjs-core instance they import
    const mod = (await import(/* @vite-ignore */ pkg)) as unknown as Tf;
    await mod.setBackend('tensorflow');
    await mod.ready();
    return { name, tf: mod };
  } catch (e) {
    log.info({ pkg, reason: (e as Error).message.split('\n')[0] }, 'native TensorFlow backend unavailable');
    return undefined;
  }
}

async function useWasm(log: BackendLog): Promise<boolean> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const require = createRequire(import.meta.url);
    const dir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
    wasm.setWasmPaths(`${dir}/`);
    if (!(await tfjs.setBackend('wasm'))) return false;
    await tfjs.ready();
    await smokeFit(tfjs);
    return true;
  } catch (e) {
    log.warn({ reason: (e as Error).message.split('\n')[0] }, 'wasm backend cannot train every supported model; using cpu');
    return false;
  }
}

async function useCpu(): Promise<void> {
  await tfjs.setBackend('cpu');
  await tfjs.ready();
  // the cpu backend prints a one-time "install tfjs-node" banner on its first tensor
  const b = tfjs.findBackend('cpu') as unknown as { firstUse?: boolean } | null;
  if (b && 'firstUse' in b) b.firstUse = false;
}

async function pick(forced: BackendName | undefined, log: BackendLog): Promise<SelectedBackend> {
  let out: SelectedBackend | undefined;
  if (!forced || forced === 'tensorflow-gpu') out = await tryNative('@tensorflow/tfjs-node-gpu', 'tensorflow-gpu', log);
  if (!out && (!forced || forced === 'tensorflow')) out = await tryNative('@tensorflow/tfjs-node', 'tensorflow', log);
  if (!out && (!forced || forced === 'wasm') && (await useWasm(log))) out = { name: 'wasm', tf: tfjs };
  if (!out && forced && forced !== 'cpu') throw new Error(`backend ${forced} is not available on this machine`);
  if (!out) {
    await useCpu();
    out = { name: 'cpu', tf: tfjs };
  }
  log.info({ backend: out.name }, 'TensorFlow.js backend selected');
  return out;
}

const SMOKE_ACTIVATIONS = ['relu', 'relu6', 'sigmoid', 'hardSigmoid', 'tanh', 'softplus', 'softsign', 'elu', 'selu', 'swish', 'mish', 'gelu', 'linear'];

/** One tiny fit per loss/optimizer over every activation, max-norm, l1/l2 and dropout. Throws on a missing kernel. */
export async function smokeFit(tf: Tf): Promise<void> {
  const cases: Array<{ loss: string; opt: () => tfjs.Optimizer; out: number; act: string; metric: string }> = [
    { loss: 'meanSquaredError', opt: () => tf.train.adam(0.001), out: 1, act: 'linear', metric: 'mae' },
    { loss: 'meanAbsoluteError', opt: () => tf.train.sgd(0.01), out: 1, act: 'linear', metric: 'mse' },
    { loss: 'binaryCrossentropy', opt: () => tf.train.momentum(0.01, 0.9, true), out: 1, act: 'sigmoid', metric: 'binaryAccuracy' },
    { loss: 'categoricalCrossentropy', opt: () => tf.train.rmsprop(0.001, 0.9, 0.1, 1e-7), out: 3, act: 'softmax', metric: 'categoricalAccuracy' },
    { loss: 'sparseCategoricalCrossentropy', opt: () => tf.train.adam(0.001), out: 3, act: 'softmax', metric: 'accuracy' },
  ];
  for (const c of cases) {
    const model = tf.sequential();
    model.add(tf.layers.dropout({ rate: 0.1, inputShape: [4], seed: 1 }));
    for (const a of SMOKE_ACTIVATIONS) {
      model.add(tf.layers.dense({
        units: 4, activation: a as never, kernelInitializer: tf.initializers.heNormal({ seed: 1 }),
        kernelConstraint: tf.constraints.maxNorm({ maxValue: 3, axis: 0 }), kernelRegularizer: tf.regularizers.l1l2({ l1: 1e-4, l2: 1e-4 }),
      }));
    }
    model.add(tf.layers.dense({ units: c.out, activation: c.act as never }));
    model.compile({ loss: c.loss, optimizer: c.opt(), metrics: [c.metric] });
    const x = tf.randomNormal([8, 4], 0, 1, 'float32', 1);
    const y = c.loss === 'sparseCategoricalCrossentropy' ? tf.tensor2d([0, 1, 2, 0, 1, 2, 0, 1], [8, 1])
      : c.out === 3 ? tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32'), 3).toFloat()
      : tf.tensor2d([0, 1, 0, 1, 0, 1, 0, 1], [8, 1]);
    try {
      await model.fit(x, y, { epochs: 1, batchSize: 4, shuffle: false, verbose: 0 });
    } finally {
      tf.dispose([x, y]);
      model.optimizer?.dispose();
      model.dispose();
    }
  }
}
