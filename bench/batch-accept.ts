/**
 * How long expanding and accepting a 1,000-job batch take: the pure expansion
 * (expandBatch) alone, and POST /v1/batches end to end over the real parts (Redis,
 * BullMQ flows, the embedded S3 server for the jobs' spec.json) through app.inject.
 * Beside it, a thread of its own PINGs Redis every 2 ms over its own connection: the
 * longest PING while a batch is accepted is how long Redis served nobody else (the
 * other tenants' requests, the provisioner, the workers' pickups).
 * Usage: npx tsx bench/batch-accept.ts [rounds]   (REDIS_URL honoured)
 */
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { expandBatch, type BatchSpec } from '../services/core/batch-spec.ts';
import { createTestStack } from '../support/app.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';
import { machine, summary, target } from './support/measure.ts';

const rounds = Number(process.argv[2] ?? 3);
const sweep = (folds: number): BatchSpec => ({
  name: 'bench',
  base: {
    dataset: { uri: 'builtin:make_regression?n_samples=200&n_features=4&random_state=1' },
    model: { layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 1 }] },
    training: { loss: 'mse', epochs: 10, optimizer: { name: 'adam' } },
    evaluation: { method: 'kfold', folds },
  },
  grid: {
    'model.layers.0.units': [4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048],
    'training.batchSize': [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096],
    'training.optimizer.learningRate': [0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 0.5, 1],
  },
  schedule: { notBefore: new Date(Date.now() + 3_600_000).toISOString() },
});

// the operator's caps on one tenant's queued units and request rate are raised: the rounds add up to 40,000 units
const stack = await createTestStack({ label: 'bench-batch', env: { NIGHTSHIFT_MAX_QUEUED_UNITS: '1000000', NIGHTSHIFT_RATE_LIMIT_PER_MINUTE: '0' } });

/** PINGs Redis every 2 ms from a thread of its own; take() returns the round trips since the last take */
function pingProbe(url: string): { take(): Promise<number[]>; stop(): Promise<number> } {
  const w = new Worker(
    `const { Redis } = require(${JSON.stringify(createRequire(import.meta.url).resolve('ioredis'))});
     const { parentPort } = require('node:worker_threads');
     const r = new Redis(${JSON.stringify(url)});
     let rtts = [];
     parentPort.on('message', () => { parentPort.postMessage(rtts); rtts = []; });
     (async () => { for (;;) { const t = performance.now(); await r.ping(); rtts.push(performance.now() - t); await new Promise((ok) => setTimeout(ok, 2)); } })();`,
    { eval: true },
  );
  return {
    take: () => new Promise((resolve) => {
      w.once('message', resolve);
      w.postMessage('take');
    }),
    stop: () => w.terminate(),
  };
}
const probe = pingProbe(stack.config.redisUrl ?? TEST_REDIS_URL);
console.log(machine());
const rows: string[] = [];
/** the slowest round (expansion + acceptance) per batch size */
const slowest = new Map<number, number>();
try {
  for (const folds of [3, 10]) {
    for (let r = 0; r < rounds; r++) {
      const spec = sweep(folds);
      const t0 = performance.now();
      const jobs = expandBatch(spec);
      const expandMs = performance.now() - t0;
      await probe.take();
      const t1 = performance.now();
      const res = await stack.app.inject({ method: 'POST', url: '/v1/batches', headers: stack.auth('acme'), payload: spec });
      const acceptMs = performance.now() - t1;
      if (res.statusCode !== 201) throw new Error(`POST /v1/batches answered ${res.statusCode}: ${res.body}`);
      const pings = await probe.take();
      if (!pings.length) throw new Error('the PING probe answered nothing while the batch was accepted');
      const units = res.json().unitsTotal as number;
      const p = summary(pings);
      const ping = `${p.p50.toFixed(1)} / ${p.p99.toFixed(1)} / ${p.max.toFixed(1)}`;
      slowest.set(units, Math.max(slowest.get(units) ?? 0, expandMs + acceptMs));
      rows.push(`| ${jobs.length} | ${units} | ${r + 1} | ${expandMs.toFixed(0)} | ${acceptMs.toFixed(0)} | ${ping} |`);
      console.log(`jobs ${jobs.length} units ${units} round ${r + 1}: expand ${expandMs.toFixed(0)} ms, accept ${acceptMs.toFixed(0)} ms; PING p50/p99/max meanwhile ${ping} ms (${pings.length} pings)`);
    }
  }
} finally {
  await probe.stop();
  await stack.close();
}
console.log(['', '| jobs | units | round | expand (ms) | POST /v1/batches (ms) | PING p50 / p99 / max meanwhile (ms) |', '| ---: | ---: | ---: | ---: | ---: | ---: |', ...rows].join('\n'));
for (const [units, ms] of slowest) target(`1,000-job batch of ${units} units expanded and accepted (slowest of ${rounds} rounds)`, ms <= 2_000, `${ms.toFixed(0)} ms (target <= 2,000 ms)`);
