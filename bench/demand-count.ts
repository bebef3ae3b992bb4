/**
 * The provisioner's demand count (pending and running units per job, every pass) with
 * a large queue: 1,000 ten-unit jobs queued through the product's enqueue path (10,000
 * prioritized units), 100 of them taken by a worker (active). Measured: unitDemandByJob
 * (O(jobs): the register, each parent's dependency count, the active and delayed
 * lists) against, in the same run, the count it replaced (one Lua script over every
 * queued unit's id, kept below as the baseline), each alternately `rounds` times; the
 * client's round trip and Redis's own time per call (INFO commandstats: the time Redis
 * served no one else). Both must give the same counts. Run for 10 and for 30 units a job
 * (the same 1,000 jobs): the register's cost should not grow with the units.
 * Usage: npx tsx bench/demand-count.ts [jobs=1000] [unitsPerJob=10,30] [rounds=40]
 */
import { performance } from 'node:perf_hooks';
import { Worker } from 'bullmq';
import { createQueues, enqueueJobs, unitDemandByJob, type EnqueueArgs } from '../services/platform/queue.ts';
import { connectRedis } from '../services/platform/redis.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';
import { machine, ms, summary, target } from './support/measure.ts';

const jobs = Number(process.argv[2] ?? 1000);
const sizes = (process.argv[3] ?? '10,30').split(',').map(Number);
const rounds = Number(process.argv[4] ?? 40);

/** The count before the register: every waiting, paused, prioritized and active unit's id, grouped by job in Lua. */
const SCAN_LUA = `
local counts, order = {}, {}
local function add(id, slot)
  local dot = string.find(id, '.', 1, true)
  local job = (dot and dot > 1) and string.sub(id, 1, dot - 1) or id
  local c = counts[job]
  if not c then
    c = { 0, 0, id }
    counts[job] = c
    order[#order + 1] = job
  end
  c[slot] = c[slot] + 1
end
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do add(id, 1) end
for _, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do add(id, 1) end
for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do add(id, 1) end
for _, id in ipairs(redis.call('LRANGE', KEYS[4], 0, -1)) do add(id, 2) end
local out = {}
for _, job in ipairs(order) do
  local c = counts[job]
  out[#out + 1] = job
  out[#out + 1] = c[1]
  out[#out + 1] = c[2]
  out[#out + 1] = c[3]
end
return out
`;

async function measure(perJob: number) {
  const prefix = uniquePrefix('bench-demand');
  const redis = connectRedis(TEST_REDIS_URL, { forBullWorker: true });
  const q = createQueues(redis, prefix);
  try {
    const all: EnqueueArgs[] = Array.from({ length: jobs }, (_, j) => ({
      jobId: `job_${j.toString(36).padStart(6, '0')}`,
      tenant: `t${j % 4}`,
      units: Array.from({ length: perJob }, (_, u) => ({ kind: 'eval' as const, run: 0, repeat: 0, fold: u, key: `r0-p0-f${u}` })),
      resourceClass: j % 2 ? 'gpu' : 'gpu/spot=prefer',
      priority: 50,
      maxAttempts: 2,
      ordinal: j * perJob,
    }));
    await enqueueJobs(q, all);
    const w = new Worker(q.units.name, null, { connection: redis, prefix });
    for (let i = 0; i < 100; i++) await w.getNextJob(`tok${i}`);
    const keys = q.units.keys;
    const scan = async () => {
      const flat = (await redis.eval(SCAN_LUA, 4, keys.wait, keys.paused, keys.prioritized, keys.active)) as Array<string | number>;
      const out = new Map<string, { pending: number; running: number }>();
      for (let i = 0; i < flat.length; i += 4) out.set(String(flat[i]), { pending: Number(flat[i + 1]), running: Number(flat[i + 2]) });
      return out;
    };
    await unitDemandByJob(q); // the first call also rescans (a provisioner's start); the timed calls do not
    const before = await scan();
    const after = await unitDemandByJob(q);
    let same = before.size === jobs && after.size === jobs;
    for (const [id, c] of before) {
      const n = after.get(id);
      if (!n || n.pending !== c.pending || n.running !== c.running) same = false;
    }
    const usecOf = async (): Promise<number> => {
      const line = (await redis.info('commandstats')).split('\n').find((l) => l.startsWith('cmdstat_eval:')) ?? '';
      return Number(/usec=(\d+)/.exec(line)?.[1] ?? 0);
    };
    const t = { scan: [] as number[], reg: [] as number[], scanRedis: [] as number[], regRedis: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      for (const [name, fn] of [['scan', scan], ['reg', () => unitDemandByJob(q)]] as const) {
        const u0 = await usecOf();
        const t0 = performance.now();
        await fn();
        t[name].push(performance.now() - t0);
        t[name === 'scan' ? 'scanRedis' : 'regRedis'].push(((await usecOf()) - u0) / 1000);
      }
    }
    await w.close();
    return { perJob, same, scan: summary(t.scan), reg: summary(t.reg), scanRedis: summary(t.scanRedis), regRedis: summary(t.regRedis) };
  } finally {
    await q.close();
    redis.disconnect();
    await cleanupPrefix(prefix);
  }
}

console.log(`machine: ${machine()}`);
console.log(`${jobs} jobs, 100 units of them running, ${rounds} alternating rounds per size`);
console.log('| units a job (pending) | count | round trip p50 / p99 | Redis busy per call p50 / max (commandstats) | same counts |');
console.log('| ---: | --- | ---: | ---: | --- |');
const results = [];
for (const perJob of sizes) {
  const m = await measure(perJob);
  results.push(m);
  const n = `${perJob} (${(jobs * perJob - 100).toLocaleString('en-US')})`;
  console.log(`| ${n} | every queued unit's id (before) | ${ms(m.scan.p50)} / ${ms(m.scan.p99)} | ${ms(m.scanRedis.p50)} / ${ms(m.scanRedis.max)} | |`);
  console.log(`| ${n} | the register and dependency counts | ${ms(m.reg.p50)} / ${ms(m.reg.p99)} | ${ms(m.regRedis.p50)} / ${ms(m.regRedis.max)} | ${m.same} |`);
}
for (const m of results) console.log(`${m.perJob} units a job: register / before, Redis time p50 ${(m.regRedis.p50 / m.scanRedis.p50).toFixed(2)}, round trip p50 ${(m.reg.p50 / m.scan.p50).toFixed(2)}`);
target('the same counts as reading every unit', results.every((m) => m.same), results.map((m) => `${m.perJob} units a job: ${m.same}`).join(', '));
if (results.length > 1) {
  const [lo, hi] = [results[0], results[results.length - 1]];
  const grow = hi.regRedis.p50 / lo.regRedis.p50;
  target(`the count's Redis time does not grow with the units (${hi.perJob} vs ${lo.perJob} a job: <= 1.5x)`, grow <= 1.5, `${grow.toFixed(2)}x (the scan it replaced: ${(hi.scanRedis.p50 / lo.scanRedis.p50).toFixed(2)}x)`);
}
