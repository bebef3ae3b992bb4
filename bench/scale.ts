/**
 * The scale run: simulated instances (support/sim-fleet.ts: the real worker agent
 * and unit processor with a stand-in trainer that sleeps NIGHTSHIFT_SIM_UNIT_MS, many
 * per host process) launched by the real provisioner drain one batch of k-fold jobs
 * over real Redis, BullMQ and the embedded S3 server. The API runs as its own process
 * (services/api/main.ts) and answers GET /v1/jobs/:id for random jobs of the batch
 * under a steady load (autocannon, a fixed request rate) the whole time. Records:
 *   - exactly-once: each unit run by one trainer once and its result recorded once;
 *   - the API's GET /v1/jobs/:id latency (target p99 <= 20 ms) while the fleet drains,
 *     next to the same load on the idle system before the batch (baseline);
 *   - the provisioner's pass time (target <= 50 ms) while it drains, next to its passes
 *     before the batch (baseline);
 *   - drain time, units per second, the fleet's peak, instances left afterwards.
 * Usage: npx tsx bench/scale.ts [instances=100] [units=10000] [hosts=4] [unitMs=200]
 *        BENCH_API_FLAGS=--cpu-prof npx tsx bench/scale.ts ...   profiles the API process
 *        BENCH_STANDINS=normal|nice|idle npx tsx bench/scale.ts ...   how the stand-ins for
 *          what runs elsewhere in production (the instances' host processes, the S3
 *          server) are scheduled beside the API, Redis and the provisioner: `idle` (the
 *          default; Linux SCHED_IDLE through chrt, else nice 19) gives them only the cores
 *          nothing else wants, as real instances and S3 take no core from the API host;
 *          `nice` is nice 19; `normal` lets them compete as equals
 *        BENCH_RECONCILE_MS=3000 npx tsx bench/scale.ts ...   the provisioner's pass period (2 s)
 *        BENCH_DASHBOARD=1 npx tsx bench/scale.ts ...   one open dashboard as well: GET
 *          /v1/batches/:id (the batch's view, leaderboard and costs) every 2 s while it drains
 */
import { spawn, spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { REPO_ROOT } from '../services/provisioner/worker-process.ts';
import { TEST_ADMIN_KEY, TEST_KEYS } from '../support/app.ts';
import { waitFor } from '../support/cloud-sim.ts';
import { startScaleRig } from '../support/scale-rig.ts';
import { cpuLine, cpuSnapshot } from './support/cpu.ts';
import { machine } from './support/measure.ts';
import { listeningUrl } from './support/api-process.ts';
import { getLoad, loadProcess } from './support/get-load.ts';


const [instances, units, hosts, unitMs] = [100, 10_000, 4, 200].map((d, i) => Number(process.argv[2 + i] ?? d));
const FOLDS = 10;
const jobs = Math.ceil(units / FOLDS);
const RATE = 100; // GET /v1/jobs/:id per second, over 10 connections

const rig = await startScaleRig({ label: 'bench-scale', instances, hosts, unitMs, reconcileMs: Number(process.env.BENCH_RECONCILE_MS ?? 2_000), idleTimeoutS: 5, startProvisioner: false, s3InChild: true });
const { stack } = rig;
const isFleet = (cmd: string) => cmd.includes('support/sim-host.ts');
const isS3 = (cmd: string) => cmd.includes('embedded-s3');
const standIns = process.env.BENCH_STANDINS ?? 'idle';
if (!['normal', 'nice', 'idle'].includes(standIns)) throw new Error(`BENCH_STANDINS: expected normal, nice or idle, got "${standIns}"`);
let standInSched = 'at normal priority';
if (standIns !== 'normal') {
  const pids = [...cpuSnapshot().procs].filter(([, [cmd]]) => isFleet(cmd) || isS3(cmd)).map(([pid]) => pid);
  for (const pid of pids) os.setPriority(pid, 19);
  standInSched = 'at nice 19';
  if (standIns === 'idle' && pids.length && pids.every((pid) => spawnSync('chrt', ['--idle', '-a', '-p', '0', String(pid)]).status === 0)) standInSched = 'at SCHED_IDLE';
}
const c = stack.config;
const apiFlags = (process.env.BENCH_API_FLAGS ?? '').split(' ').filter(Boolean);
const api = spawn(process.execPath, [...apiFlags, '--import', 'tsx', path.join(REPO_ROOT, 'services/api/main.ts')], {
  cwd: REPO_ROOT,
  stdio: ['ignore', 'pipe', 'inherit'],
  env: {
    ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', REDIS_URL: c.redisUrl, NIGHTSHIFT_PREFIX: c.prefix,
    NIGHTSHIFT_S3_BUCKET: c.s3.bucket, AWS_ENDPOINT_URL: c.s3.endpoint, AWS_ACCESS_KEY_ID: c.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: c.s3.secretAccessKey, AWS_REGION: c.s3.region,
    NIGHTSHIFT_API_KEYS: `acme:${TEST_KEYS.acme}`, NIGHTSHIFT_ADMIN_KEYS: TEST_ADMIN_KEY, NIGHTSHIFT_RATE_LIMIT_PER_MINUTE: '0', NIGHTSHIFT_COMPUTE: 'local', NIGHTSHIFT_MAX_INSTANCES: String(instances),
  },
});
const url = await listeningUrl(api);

// the provisioner's loop, timed pass by pass (as provisioner.start() runs it)
const passes: Array<{ at: number; ms: number; phases: Record<string, number> }> = [];
let looping = true;
const loop = (async () => {
  while (looping) {
    const t0 = performance.now();
    const r = await rig.provisioner.reconcileOnce().catch(() => undefined);
    passes.push({ at: Date.now(), ms: performance.now() - t0, phases: r?.phasesMs ?? {} });
    await new Promise((r) => setTimeout(r, c.reconcileIntervalMs));
  }
})();

/** GET /v1/jobs/:id for random jobs at RATE/s, from a process of its own (see bench/support/get-load.ts) */
const spec = (ids: string[], durationS = 3_600) => ({ url, paths: ids.map((id) => `/v1/jobs/${id}`), rate: RATE, connections: 10, durationS, authorization: `Bearer ${TEST_KEYS.acme}` });
const load = (ids: string[], durationS?: number) => getLoad(spec(ids, durationS));
const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN;
};
const f = (x: number) => x.toFixed(1);

/**
 * The API's own view, from /metrics: GET /v1/jobs/:id's duration histogram (time in the
 * server, from the request read to the response written) and the event loop's delay
 * since the previous scrape. Client latency far above these is time outside the API's
 * handlers: waiting for a core, in the kernel, or in the load generator.
 */
async function serverView(): Promise<{ buckets: Map<number, number>; loopMinMs: number; loopP99Ms: number; loopMaxMs: number }> {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } })).text();
  const buckets = new Map<number, number>();
  for (const m of text.matchAll(/^nightshift_http_request_duration_seconds_bucket\{([^}]*)\} (\d+)/gm)) {
    if (!m[1].includes('route="/v1/jobs/:id"') || !m[1].includes('method="GET"')) continue;
    const le = /le="([^"]+)"/.exec(m[1])?.[1] ?? '+Inf';
    const k = le === '+Inf' ? Infinity : Number(le) * 1000;
    buckets.set(k, (buckets.get(k) ?? 0) + Number(m[2]));
  }
  const gauge = (n: string) => Number(new RegExp(`^nightshift_api_${n} (\\S+)`, 'm').exec(text)?.[1] ?? NaN) * 1000;
  return { buckets, loopMinMs: gauge('nodejs_eventloop_lag_min_seconds'), loopP99Ms: gauge('nodejs_eventloop_lag_p99_seconds'), loopMaxMs: gauge('nodejs_eventloop_lag_max_seconds') };
}
/** the share of requests between two scrapes answered within each bucket, and the bucket that holds the 99th percentile */
function serverLine(a: Map<number, number>, b: Map<number, number>): string {
  const les = [...b.keys()].sort((x, y) => x - y);
  const total = (b.get(Infinity) ?? 0) - (a.get(Infinity) ?? 0);
  if (!total) return 'no requests recorded';
  const within = les.map((le) => [le, ((b.get(le) ?? 0) - (a.get(le) ?? 0)) / total] as const);
  const p99 = within.find(([, share]) => share >= 0.99)?.[0] ?? Infinity;
  const shown = within.filter(([le]) => le <= 100).map(([le, share]) => `<=${le} ms ${(share * 100).toFixed(1)}%`);
  return `${total} requests, ${shown.join(', ')}; p99 within ${p99} ms`;
}

try {
  // baseline: a small batch's jobs exist (so GET finds something), the fleet is idle
  const warm = await rig.submit(4, 2);
  await waitFor(async () => (await rig.statuses(warm.jobIds)).completed === 4, 60_000, 'the warm-up jobs completed', 200);
  await waitFor(() => rig.fleet.live() === 0, 60_000, 'the warm-up instances gone', 200);
  await load(warm.jobIds, 2).done; // the API's first requests compile its routes and serializers: not measured
  const view0 = await serverView();
  const baseStart = Date.now();
  const base = await load(warm.jobIds, 10).done;
  const view1 = await serverView();
  const basePasses = passes.filter((p) => p.at >= baseStart).map((p) => p.ms);

  const gen = loadProcess();
  await gen.ready;
  const t0 = performance.now();
  const { jobIds, batchId } = await rig.submit(jobs, FOLDS);
  const acceptMs = performance.now() - t0;
  const runStart = Date.now();
  const cpu0 = cpuSnapshot();
  const during = gen.start(spec(jobIds));
  const result = during.done;
  // one open dashboard (BENCH_DASHBOARD=1): the batch's view every 2 s, as services/dashboard/batches.js polls it
  const viewMs: number[] = [];
  let viewing = process.env.BENCH_DASHBOARD === '1';
  const viewer = (async () => {
    while (viewing) {
      const v0 = performance.now();
      const res = await fetch(`${url}/v1/batches/${batchId}`, { headers: { authorization: `Bearer ${TEST_KEYS.acme}` } }).catch(() => undefined);
      await res?.arrayBuffer();
      if (res?.ok) viewMs.push(performance.now() - v0);
      await new Promise((r) => setTimeout(r, 2_000));
    }
  })();
  await waitFor(async () => (await rig.unitsDone(jobIds)) >= jobs * FOLDS, 1_800_000, `all ${jobs * FOLDS} unit results recorded`, 1_000);
  const drainS = (performance.now() - t0) / 1000;
  const cpu1 = cpuSnapshot();
  during.stop();
  viewing = false;
  await viewer;
  const run = await result;
  const view2 = await serverView();
  const runPasses = passes.filter((p) => p.at >= runStart).map((p) => p.ms);
  // where a pass spends its time while draining: each step's median and max
  const phaseNames = [...new Set(passes.filter((p) => p.at >= runStart).flatMap((p) => Object.keys(p.phases)))];
  const phaseLine = phaseNames
    .map((n) => {
      const xs = passes.filter((p) => p.at >= runStart && p.phases[n] !== undefined).map((p) => p.phases[n]);
      return `${n} ${f(q(xs, 0.5))}/${f(Math.max(...xs))}`;
    })
    .join(', ');
  // the jobs' aggregation steps (statistics, history.json and summary.json to S3) finish after the last unit
  let completed = 0;
  await waitFor(async () => (completed = (await rig.statuses(jobIds)).completed ?? 0) === jobIds.length, 600_000, `all ${jobs} jobs completed`, 1_000).catch(() => undefined);
  const completeS = (performance.now() - t0) / 1000;
  await waitFor(() => rig.fleet.live() === 0, 120_000, 'every instance terminated', 500);
  const check = await rig.verify(jobIds);
  const left = (await rig.fleet.provider.describe()).filter((i) => i.state !== 'terminated').length;

  const lines = [
    `machine: ${machine()}`,
    `fleet: ${instances} instances in ${hosts} host processes, stand-in unit ${unitMs} ms, the stand-ins (instance hosts, S3) scheduled ${standInSched}; work: ${jobs} jobs x ${FOLDS} folds = ${check.units} units (POST /v1/batches accepted in ${acceptMs.toFixed(0)} ms)`,
    `every unit's result recorded ${f(drainS)} s after the batch was accepted (${(check.units / drainS).toFixed(0)} units/s); ${completed} of ${jobs} jobs completed (aggregated) after ${f(completeS)} s; peak ${rig.fleet.peak()} instances live, ${rig.fleet.launched()} launched in all, ${left} left after the idle timeout`,
    `exactly once: ${check.runs} trainer runs for ${check.units} units, ${check.ranTwice.length} units run twice, ${check.recorded} results recorded, ${check.mismatched.length} jobs with a count off`,
    `GET /v1/jobs/:id at ${RATE}/s, 10 connections: idle p50 ${base.latency.p50} ms, p99 ${base.latency.p99} ms (${base.requests.total} requests); while draining p50 ${run.latency.p50} ms, p99 ${run.latency.p99} ms, max ${run.latency.max} ms (${run.requests.total} requests, ${run.non2xx} non-2xx, ${run.errors} errors)`,
    ...(viewMs.length ? [`GET /v1/batches/:id every 2 s while draining (one open dashboard): p50 ${f(q(viewMs, 0.5))} ms, max ${f(Math.max(...viewMs))} ms (${viewMs.length} views: ${viewMs.map((x) => x.toFixed(0)).join(' ')})`] : []),
    `slowest GET each second while draining (ms): ${run.perSecond.map((x) => x.maxMs.toFixed(0)).join(' ')}`,
    `GET /v1/jobs/:id in the API (its duration histogram): idle ${serverLine(view0.buckets, view1.buckets)}; while draining ${serverLine(view1.buckets, view2.buckets)}`,
    `API event loop delay (the interval between its 10 ms monitor's ticks: ${f(view2.loopMinMs)} ms at least): idle p99 ${f(view1.loopP99Ms)} ms, max ${f(view1.loopMaxMs)} ms; while draining p99 ${f(view2.loopP99Ms)} ms, max ${f(view2.loopMaxMs)} ms`,
    `${cpuLine(cpu0, cpu1, [
      ['API', (cmd) => cmd.includes('services/api/main.ts')],
      ['Redis', (cmd) => cmd.includes('redis-server')],
      ['stand-in instances', isFleet],
      ['provisioner and bench', (_, pid) => pid === process.pid],
      ['S3', isS3],
      ['load generator', (cmd) => cmd.includes('get-load')],
    ])}`,
    `provisioner pass: idle median ${f(q(basePasses, 0.5))} ms (${basePasses.length} passes); while draining median ${f(q(runPasses, 0.5))} ms, p90 ${f(q(runPasses, 0.9))} ms, max ${f(Math.max(...runPasses))} ms (${runPasses.length} passes: ${runPasses.map((x) => x.toFixed(0)).join(' ')})`,
    `provisioner pass steps while draining, median/max ms: ${phaseLine}`,
    `targets: exactly once ${check.ranTwice.length === 0 && check.recorded === check.units && check.runs === check.units ? 'met' : 'NOT met'}; GET p99 <= 20 ms ${run.latency.p99 <= 20 ? 'met' : 'NOT met'}; pass <= 50 ms (median) ${q(runPasses, 0.5) <= 50 ? 'met' : 'NOT met'}, (max) ${Math.max(...runPasses) <= 50 ? 'met' : 'NOT met'}`,
  ];
  console.log(lines.join('\n'));
} finally {
  looping = false;
  await loop;
  api.kill('SIGTERM');
  await rig.close();
}
