/**
 * `npm run gpu-smoke` (or, in the GPU worker image,
 * `docker run --rm --gpus all <image> node --import tsx scripts/gpu-smoke.ts`): the
 * worker's GPU check on this machine — nvidia-smi sees a GPU, TensorFlow registered
 * it, a matmul ran on it and gave the exact answer — then a short training run on
 * the tfjs-node-gpu backend. Prints what it found; exits 0 only when everything passed.
 */
import { performance } from 'node:perf_hooks';
import { nvidiaSmi, tensorflowProbe } from '../workers/trainer/gpu/probe.ts';
import { gpuBackendLabel, verifyGpu } from '../workers/trainer/gpu/verify.ts';

const say = (s: string) => process.stdout.write(`${s}\n`);

const smi = await nvidiaSmi();
say(smi.ok ? `nvidia-smi: ${smi.gpus.length} GPU(s): ${smi.gpus.map((g) => `${g.name} (${g.memoryMiB ?? '?'} MiB, driver ${g.driver ?? '?'})`).join('; ')}` : `nvidia-smi: FAILED: ${smi.error}`);
const tf = await tensorflowProbe();
say(tf.loaded ? '@tensorflow/tfjs-node-gpu: loaded' : `@tensorflow/tfjs-node-gpu: FAILED to load: ${tf.loadError}`);
say(`TensorFlow GPU devices: ${tf.gpuDevices.length ? tf.gpuDevices.join(', ') : 'none'}${tf.skipped ? ` (${tf.skipped})` : ''}`);
if (tf.matmul) say(`matmul 256x256 on the GPU: ${tf.matmul.ok ? `exact, ${tf.matmul.ms.toFixed(1)} ms` : `FAILED: ${tf.matmul.error}`}`);

const verdict = await verifyGpu({ nvidiaSmi: async () => smi, tensorflow: async () => tf });
if (!verdict.ok) {
  say(`verdict: GPU unusable (${verdict.code}): ${verdict.reason}`);
  process.exit(1);
}
say(`verdict: GPU verified; jobs would record backend "${gpuBackendLabel(verdict.gpu)}"`);

// a short training run: 4096 x 32 rows through a 32-256-256-1 MLP, 5 epochs, batch 256
const t = (await import(/* @vite-ignore */ '@tensorflow/tfjs-node-gpu' as string)) as typeof import('@tensorflow/tfjs');
await t.setBackend('tensorflow');
const x = t.randomNormal([4096, 32], 0, 1, 'float32', 1);
const y = t.tidy(() => x.sum(1, true).greater(0).toFloat());
const model = t.sequential({ layers: [t.layers.dense({ units: 256, activation: 'relu', inputShape: [32] }), t.layers.dense({ units: 256, activation: 'relu' }), t.layers.dense({ units: 1, activation: 'sigmoid' })] });
model.compile({ loss: 'binaryCrossentropy', optimizer: t.train.adam(1e-3), metrics: ['accuracy'] });
const epochMs: number[] = [];
let last = performance.now();
const h = await model.fit(x, y, {
  epochs: 5, batchSize: 256, verbose: 0,
  callbacks: { onEpochEnd: async () => { const now = performance.now(); epochMs.push(now - last); last = now; } },
});
const acc = h.history.acc ?? h.history.accuracy;
say(`training: 5 epochs, ms/epoch ${epochMs.map((m) => m.toFixed(0)).join(', ')}; last loss ${Number(h.history.loss.at(-1)).toFixed(4)}, accuracy ${Number(acc?.at(-1)).toFixed(3)}`);
t.dispose([x, y]);
model.dispose();
process.exit(0);
