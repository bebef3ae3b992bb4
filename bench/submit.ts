/**
 * POST /v1/jobs under load: autocannon (50 connections, 10 s) against the API in a
 * child process (the real app over Redis, BullMQ and the embedded S3 server), with
 * a 3-unit job spec (3-fold k-fold on a builtin data set). Beside it, in the same
 * run: the dry run (auth, schema, rules; nothing stored) and the baseline, raw
 * BullMQ Queue.add with 100 in flight from this process.
 *
 * The tenant's queued-units cap and rate limit are raised (not switched off: both
 * checks still run on every request) since a run stores tens of thousands of units.
 *
 * Usage: npx tsx bench/submit.ts [seconds]      (REDIS_URL honoured)
 *        BENCH_API_FLAGS=--cpu-prof npx tsx bench/submit.ts   profiles the API process
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createTestStack, TEST_KEYS } from '../support/app.ts';
import { TEST_REDIS_URL, cleanupPrefix, uniquePrefix } from '../support/redis.ts';
import { machine, target } from './support/measure.ts';
import { SUBMIT_SPEC as SPEC } from './support/specs.ts';


if (process.argv.includes('--serve')) {
  // the API alone in this process; prints its address, closes on SIGTERM
  const stack = await createTestStack({
    label: 'bench-submit',
    env: { NIGHTSHIFT_MAX_QUEUED_UNITS: '10000000', NIGHTSHIFT_RATE_LIMIT_PER_MINUTE: '1000000' },
  });
  const url = await stack.app.listen({ host: '127.0.0.1', port: 0 });
  console.log(JSON.stringify({ url, prefix: stack.prefix }));
  process.on('SIGTERM', () => {
    void stack.close().finally(() => process.exit(0));
  });
} else {
  await main();
}

async function startApi(): Promise<{ url: string; stop(): Promise<void> }> {
  const flags = (process.env.BENCH_API_FLAGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...flags, '--import', 'tsx', fileURLToPath(import.meta.url), '--serve'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const first = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', resolve);
    child.once('exit', (c) => reject(new Error(`the API process exited (${c}) before listening`)));
  });
  const { url } = JSON.parse(first) as { url: string };
  return {
    url,
    stop: () => new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

async function load(url: string, seconds: number, path: string): Promise<autocannon.Result> {
  return autocannon({
    url: `${url}${path}`,
    method: 'POST',
    connections: 50,
    duration: seconds,
    headers: { authorization: `Bearer ${TEST_KEYS.acme}`, 'content-type': 'application/json' },
    body: JSON.stringify(SPEC),
  });
}

/** Raw BullMQ: Queue.add with `inFlight` adds outstanding for `seconds`. */
async function rawQueueAdd(seconds: number, inFlight: number): Promise<number> {
  const prefix = uniquePrefix('bench-raw');
  const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  const q = new Queue('units', { connection, prefix });
  let n = 0;
  const end = Date.now() + seconds * 1000;
  const lane = async () => {
    while (Date.now() < end) {
      await q.add('unit', { jobId: 'job_x', unit: { key: `k${n}` } }, { jobId: `j${randomBytes(8).toString('hex')}` });
      n++;
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: inFlight }, lane));
  const rate = n / ((Date.now() - t0) / 1000);
  await q.close();
  connection.disconnect();
  await cleanupPrefix(prefix);
  return rate;
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 10);
  console.log(`# submit — ${new Date().toISOString()}\n${machine()}`);
  const api = await startApi();
  let dry: autocannon.Result;
  let sub: autocannon.Result;
  try {
    await load(api.url, 2, '/v1/jobs?dryRun=true'); // warm-up: JIT, connections
    dry = await load(api.url, seconds, '/v1/jobs?dryRun=true');
    sub = await load(api.url, seconds, '/v1/jobs');
  } finally {
    await api.stop();
  }
  const raw = await rawQueueAdd(seconds, 100);
  const bad = (r: autocannon.Result) => r.non2xx + r.errors + r.timeouts;
  const row = (name: string, r: autocannon.Result) =>
    `| ${name} | ${r.requests.average.toFixed(0)} | ${r.latency.p50} | ${r.latency.p99} | ${bad(r)} |`;
  console.log([
    '',
    `API in a child process; autocannon ${seconds} s, 50 connections, 3-unit job spec; baseline in the same run`,
    '| path | per second | p50 ms | p99 ms | non-2xx/errors |',
    '| --- | ---: | ---: | ---: | ---: |',
    row('POST /v1/jobs?dryRun=true', dry),
    row('POST /v1/jobs', sub),
    `| raw BullMQ Queue.add, 100 in flight | ${raw.toFixed(0)} | | | |`,
    '',
  ].join('\n'));
  const rate = sub.requests.average;
  target('submit throughput', rate >= 2000, `${rate.toFixed(0)} jobs/s (target >= 2,000)`);
  target('submit p99', sub.latency.p99 <= 50, `${sub.latency.p99} ms (target <= 50 ms)`);
  target('submit / raw Queue.add', rate / raw >= 0.25, `${(rate / raw).toFixed(2)} (target >= 0.25)`);
  if (bad(sub) > 0) console.log(`note: ${bad(sub)} submissions were not answered 2xx`);
}
