/**
 * Month-to-date spend with a long fleet history: what the budget gate reads every
 * reconcile pass. Seeds N retired instances (one unit span each) and a few live ones
 * under a bench prefix, then times, in the same run:
 *   - full: every instance record and span read and apportioned (the read before the ledger),
 *   - ledger: the running totals (platform/costs.ts createSpendLedger), after its one-time build,
 * and checks both give the same figure. Usage: npx tsx bench/month-spend.ts [retired=10000] [rounds=15]
 * (REDIS_URL honoured; the machine is shared, so compare the ratio, not the milliseconds).
 */
import { createCostReader, createSpendLedger, monthSpendOf } from '../services/platform/costs.ts';
import { createFleetStore } from '../services/platform/fleet-store.ts';
import type { InstanceRecord } from '../services/platform/fleet.ts';
import { createMeter } from '../services/platform/meter.ts';
import { connectRedis } from '../services/platform/redis.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';

const N = Number(process.argv[2] ?? 10_000);
const ROUNDS = Number(process.argv[3] ?? 15);
const redis = connectRedis(process.env.REDIS_URL ?? TEST_REDIS_URL);
const prefix = uniquePrefix('bench-spend');
const fleet = createFleetStore(redis, prefix);
const meter = createMeter(redis, prefix);
const src = fleet.instanceSource();
const T = Date.now();
const rec = (i: number, launchedAt: number): InstanceRecord => ({
  id: `i-${i}`, provider: 'ec2', resourceClass: 'gpu', type: 'g5.xlarge', market: 'on-demand', hourlyUsd: 1.006, launchedAt, slots: 1,
  demand: [{ jobId: `j-${i % 500}`, tenant: `t${i % 20}`, units: 1 }],
});

try {
  // N retired instances over the last 60 days, written in pipelines (the fleet store's own format)
  for (let i = 0; i < N; i += 1000) {
    const pipe = redis.pipeline();
    for (let j = i; j < Math.min(N, i + 1000); j++) {
      const launchedAt = T - 60 * 86_400_000 + j * Math.floor((60 * 86_400_000) / N);
      const r = { ...rec(j, launchedAt), terminatedAt: launchedAt + 1_800_000, terminateReason: 'idle' };
      pipe.hset(fleet.keys.history, r.id, JSON.stringify(r));
      pipe.sadd(src.unfoldedKey, r.id);
      const span = { instanceId: r.id, jobId: `j-${j % 500}`, tenant: `t${j % 20}`, unit: 'u0', start: launchedAt + 60_000, end: launchedAt + 1_500_000 };
      pipe.hset(meter.keys.spans(r.id), `${span.jobId}|u0|${span.start}`, JSON.stringify(span));
    }
    await pipe.exec();
  }
  for (let j = 0; j < 5; j++) await fleet.putInstance(rec(N + j, T - 600_000));

  const reader = createCostReader(meter, src, () => T);
  const ledger = createSpendLedger(redis, prefix, meter, src);
  const b0 = performance.now();
  await ledger.sync();
  const buildMs = performance.now() - b0;

  const time = async (f: () => Promise<unknown>) => {
    const out: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const s = performance.now();
      await f();
      out.push(performance.now() - s);
    }
    out.sort((a, b) => a - b);
    return out[Math.floor(out.length / 2)];
  };
  const full = monthSpendOf(await reader.lines(), T);
  const fast = await ledger.monthToDate(T);
  if (Math.abs(full.global - fast.global) > 1e-6) throw new Error(`ledger ${fast.global} != full read ${full.global}`);
  // alternate the two so both see the same machine load
  const fullMs = await time(async () => monthSpendOf(await reader.lines(), T));
  const ledgerMs = await time(() => ledger.monthToDate(T));
  console.log(`month-to-date spend, ${N} retired + 5 live instances (median of ${ROUNDS}):`);
  console.log(`  full read of the history: ${fullMs.toFixed(1)} ms`);
  console.log(`  ledger:                   ${ledgerMs.toFixed(2)} ms   (${(fullMs / ledgerMs).toFixed(0)}x less)`);
  console.log(`  ledger's one-time build:  ${buildMs.toFixed(0)} ms; both give ${fast.global.toFixed(4)} USD this month`);
} finally {
  await cleanupPrefix(prefix);
  redis.disconnect();
}
