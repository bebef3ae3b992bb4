/**
 * Fused engine vs tfjs on the reference small MLP: 10k x 6 synthetic binary rows,
 * Dense(50, relu, heNormal) - Dropout(0.2) - Dense(1, sigmoid), batch 32, Adam, 5 epochs.
 * Prints ms/epoch for fused, tfjs cpu and tfjs wasm (when it loads) and the ratios.
 *   npx tsx bench/fused-vs-tfjs.ts [--epochs 5] [--write]   (--write: bench/results/fused-vs-tfjs.md)
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createRng } from '../services/core/rng.ts';
import type { NormalizedLayer } from '../services/core/layers.ts';
import { createFusedModel, trainFused, weightShapes } from '../workers/trainer/fused/index.ts';

const args = process.argv.slice(2);
const EPOCHS = Number(args[args.indexOf('--epochs') + 1]) || 5;
const ROWS = 10_000;
const D = 6;
const BATCH = 32;

const LAYERS: NormalizedLayer[] = [
  { type: 'dense', units: 50, activation: 'relu', useBias: true, kernelInitializer: 'heNormal', biasInitializer: 'zeros' },
  { type: 'dropout', rate: 0.2 },
  { type: 'dense', units: 1, activation: 'sigmoid', useBias: true, kernelInitializer: 'glorotUniform', biasInitializer: 'zeros' },
];

function dataset() {
  const rng = createRng(42);
  const x = Float32Array.from({ length: ROWS * D }, () => rng.normal());
  const y = new Float32Array(ROWS);
  for (let r = 0; r < ROWS; r++) {
    const s = x[r * D] - 0.5 * x[r * D + 1] + 0.8 * x[r * D + 2] * x[r * D + 3] + 0.3 * rng.normal();
    y[r] = s > 0.4 ? 1 : 0;
  }
  return { x, y };
}

interface Result { engine: string; msPerEpoch: number[]; loss: number; accuracy: number }

async function runFused(x: Float32Array, y: Float32Array, initial: Float32Array[]): Promise<Result> {
  const model = createFusedModel(LAYERS, D, 1);
  model.setWeights(initial);
  const times: number[] = [];
  let t = performance.now();
  const res = await trainFused(model, {
    layers: LAYERS, inputDim: D, loss: 'binaryCrossentropy', optimizer: { name: 'adam' }, metrics: ['accuracy'],
    x, y, rows: ROWS, outputs: 1, epochs: EPOCHS, batchSize: BATCH, shuffle: true, seed: 1,
    onEpochEnd: () => { const now = performance.now(); times.push(now - t); t = now; return 'continue'; },
  });
  const last = res.history[res.history.length - 1];
  return { engine: 'fused', msPerEpoch: times, loss: last.loss, accuracy: last.accuracy };
}

async function runTfjs(backend: string, x: Float32Array, y: Float32Array, initial: Float32Array[]): Promise<Result> {
  await tf.setBackend(backend);
  await tf.ready();
  const m = tf.sequential();
  m.add(tf.layers.dense({ units: 50, activation: 'relu', kernelInitializer: 'heNormal', inputShape: [D] }));
  m.add(tf.layers.dropout({ rate: 0.2 }));
  m.add(tf.layers.dense({ units: 1, activation: 'sigmoid' }));
  const shapes = weightShapes(LAYERS, D);
  m.setWeights(initial.map((w, i) => tf.tensor(w, shapes[i])));
  m.compile({ optimizer: tf.train.adam(0.001), loss: 'binaryCrossentropy', metrics: ['accuracy'] });
  const xs = tf.tensor2d(x, [ROWS, D]);
  const ys = tf.tensor2d(y, [ROWS, 1]);
  const times: number[] = [];
  let t = performance.now();
  const h = await m.fit(xs, ys, {
    epochs: EPOCHS, batchSize: BATCH, shuffle: true, verbose: 0,
    callbacks: { onEpochEnd: async () => { const now = performance.now(); times.push(now - t); t = now; } },
  });
  tf.dispose([xs, ys]);
  m.dispose();
  return { engine: `tfjs ${backend}`, msPerEpoch: times, loss: h.history.loss[EPOCHS - 1] as number, accuracy: h.history.acc[EPOCHS - 1] as number };
}

async function wasmAvailable(): Promise<string | undefined> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const require = createRequire(import.meta.url);
    const dir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
    wasm.setWasmPaths(join(dir, '/') + '/');
    return (await tf.setBackend('wasm')) ? undefined : 'setBackend("wasm") returned false';
  } catch (err) {
    return (err as Error).message;
  }
}

const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;

async function main(): Promise<void> {
  const load = loadavg()[0];
  const { x, y } = dataset();
  const initial = createFusedModel(LAYERS, D, 1).weights();
  const results: Result[] = [await runFused(x, y, initial), await runTfjs('cpu', x, y, initial)];
  const wasmError = await wasmAvailable();
  if (wasmError === undefined) results.push(await runTfjs('wasm', x, y, initial));
  const fusedMs = mean(results[0].msPerEpoch);
  const fusedWarm = results[0].msPerEpoch.length > 1 ? mean(results[0].msPerEpoch.slice(1)) : fusedMs;
  const rows = results.map((r) => {
    const ms = mean(r.msPerEpoch);
    const warm = r.msPerEpoch.length > 1 ? mean(r.msPerEpoch.slice(1)) : ms;
    return `| ${r.engine} | ${ms.toFixed(1)} | ${warm.toFixed(1)} | ${r.msPerEpoch.map((v) => v.toFixed(0)).join(', ')} | ${(ms / fusedMs).toFixed(1)}x | ${(warm / fusedWarm).toFixed(1)}x | ${r.loss.toFixed(4)} | ${r.accuracy.toFixed(4)} |`;
  });
  const cpu = cpus();
  const report = [
    '# fused engine vs tfjs: ms per epoch',
    '',
    `- date: ${new Date().toISOString()}`,
    `- machine: ${cpu.length} cores (${cpu[0]?.model ?? 'unknown cpu'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, ${process.platform}/${process.arch}, 1-min load average ${load.toFixed(2)} at start`,
    `- command: \`npx tsx bench/fused-vs-tfjs.ts${args.length ? ' ' + args.join(' ') : ''}\``,
    `- workload: ${ROWS} x ${D} synthetic binary rows, Dense(50, relu, heNormal) - Dropout(0.2) - Dense(1, sigmoid), batch ${BATCH}, Adam(0.001), binary crossentropy, shuffle, ${EPOCHS} epochs, same initial weights`,
    '',
    '| engine | mean ms/epoch | mean ms/epoch, epochs 2+ | per epoch (ms) | time vs fused | time vs fused, epochs 2+ | last-epoch loss | last-epoch accuracy |',
    '| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    wasmError === undefined ? '' : `tfjs wasm was not measured: ${wasmError}`,
  ].join('\n');
  console.log(report);
  if (args.includes('--write')) writeFileSync(new URL('./results/fused-vs-tfjs.md', import.meta.url), report.trimEnd() + '\n');
}

await main();
