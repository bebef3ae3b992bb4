/**
 * Dispatch latency: a job submitted while a warm worker (its trainer child already
 * started) sits idle, to
 *   - the unit taken by the worker (BullMQ processedOn),
 *   - the job marked running (startedAt),
 *   - the first epoch's progress event (a 1-epoch model on 40 rows: the epoch itself
 *     takes about a millisecond, so this bounds "the first epoch started" from above).
 * Beside it, in the same run: raw BullMQ pickup (Queue.add -> an idle Worker's
 * processor called). The API runs in this process (app.inject), with real Redis, the
 * embedded S3 server and a real worker process.
 * Usage: npx tsx bench/dispatch.ts [jobs]
 */
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { unitJobId } from '../services/core/catalog.ts';
import { createTestStack } from '../support/app.ts';
import { TEST_REDIS_URL, cleanupPrefix, uniquePrefix } from '../support/redis.ts';
import { machine, ms, summary, target } from './support/measure.ts';
import { startWorker } from './support/worker.ts';

const N = Number(process.argv[2] ?? 40);
const SPEC = {
  name: 'bench-dispatch',
  dataset: { uri: 'builtin:make_classification?n_samples=40&n_features=4&random_state=1' },
  model: { layers: [{ type: 'dense', units: 1, activation: 'sigmoid' }] },
  training: { loss: 'binary_crossentropy', epochs: 1, batchSize: 64, optimizer: { name: 'adam' } },
  evaluation: { method: 'none' },
};
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

async function rawPickup(n: number): Promise<number[]> {
  const prefix = uniquePrefix('bench-pickup');
  const conn = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  const wconn = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  const q = new Queue('units', { connection: conn, prefix });
  const seen = new Map<string, number>();
  const w = new Worker('units', async (job) => void seen.set(job.id!, performance.now()), { connection: wconn, prefix });
  await w.waitUntilReady();
  await sleep(300);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const id = `p${i}`;
    const t0 = performance.now();
    await q.add('unit', { i }, { jobId: id });
    while (!seen.has(id)) await sleep(0);
    out.push(seen.get(id)! - t0);
    await sleep(20);
  }
  await w.close();
  await q.close();
  conn.disconnect();
  wconn.disconnect();
  await cleanupPrefix(prefix);
  return out;
}

console.log(`# dispatch — ${new Date().toISOString()}\n${machine()}`);
const stack = await createTestStack({ label: 'bench-dispatch', env: { NIGHTSHIFT_MAX_QUEUED_UNITS: '100000', NIGHTSHIFT_RATE_LIMIT_PER_MINUTE: '100000' } });
const worker = await startWorker(stack);
const pick: number[] = [];
const running: number[] = [];
const epoch: number[] = [];
try {
  // events of every job, subscribed before anything is submitted
  const sub = new Redis(TEST_REDIS_URL);
  const firstEpoch = new Map<string, number>();
  await sub.psubscribe(`${stack.prefix}:events:*`);
  sub.on('pmessage', (_p, _ch, msg: string) => {
    const ev = JSON.parse(msg) as { type: string; jobId: string };
    if (ev.type === 'progress' && !firstEpoch.has(ev.jobId)) firstEpoch.set(ev.jobId, Date.now());
  });
  for (let i = 0; i < N + 3; i++) {
    const t0 = Date.now();
    const res = await stack.app.inject({ method: 'POST', url: '/v1/jobs', headers: stack.auth('acme'), payload: SPEC });
    if (res.statusCode !== 202) throw new Error(`POST /v1/jobs answered ${res.statusCode}: ${res.body}`);
    const id = res.json().id as string;
    for (let t = 0; !firstEpoch.has(id); t++) {
      if (t > 3000) throw new Error(`job ${id}: no progress event within 30 s`);
      await sleep(10);
    }
    // idle again: the job done before the next one
    for (let t = 0; (await stack.store.getStatus(id)) !== 'completed'; t++) {
      if (t > 3000) throw new Error(`job ${id} did not complete`);
      await sleep(10);
    }
    const unit = await stack.queues.units.getJob(unitJobId(id, 'final'));
    const job = await stack.store.getJob(id);
    if (i >= 3) {
      // the first three warm the paths (JIT, connections)
      pick.push((unit?.processedOn ?? Number.NaN) - t0);
      running.push(Date.parse(job?.startedAt ?? '') - t0);
      epoch.push(firstEpoch.get(id)! - t0);
    }
    await sleep(50);
  }
  sub.disconnect();
} finally {
  await worker.stop();
  await stack.close();
}
const raw = await rawPickup(N);
const rows = [
  ['unit taken by the worker (processedOn)', summary(pick)],
  ['job marked running (startedAt)', summary(running)],
  ['first epoch reported (progress event)', summary(epoch)],
  ['raw BullMQ: Queue.add -> idle Worker processor', summary(raw)],
] as const;
console.log(['', `${N} jobs one at a time on a warm idle worker (times in ms from the POST; Date.now resolution 1 ms)`, '| step | p50 | p99 | max |', '| --- | ---: | ---: | ---: |',
  ...rows.map(([name, s]) => `| ${name} | ${s.p50.toFixed(1)} | ${s.p99.toFixed(1)} | ${s.max.toFixed(1)} |`), ''].join('\n'));
const e = summary(epoch);
target('dispatch p50 (submit -> first epoch)', e.p50 <= 10, `${ms(e.p50)} (target <= 10 ms; raw BullMQ pickup p50 ${ms(summary(raw).p50)})`);
target('dispatch p99 (submit -> first epoch)', e.p99 <= 35, `${ms(e.p99)} (target <= 35 ms; raw BullMQ pickup p99 ${ms(summary(raw).p99)})`);
