/**
 * The provisioner's pure decisions at scale: the budget gate (core/budget.ts
 * gateDemand: which pending units the global, tenant and batch budgets admit) and
 * the planner (provisioner/planner.ts plan: launches and terminations) for 10,000
 * pending units in 1,000 jobs of 4 tenants over 3 resource classes and 200 observed
 * instances (busy, idle, booting, stale, claimed). Baseline in the same run: the same
 * two calls for a small fleet (10 units, 4 instances). Target: median <= 10 ms.
 * Usage: npx tsx bench/planner.ts [runs=500]
 */
import { performance } from 'node:perf_hooks';
import { gateDemand, type BudgetScope, type PendingWork } from '../services/core/budget.ts';
import { plan, type ObservedInstance, type PlanInput } from '../services/provisioner/planner.ts';

const runs = Number(process.argv[2] ?? 500);
const NOW = Date.parse('2026-11-29T03:00:00Z');
const CLASSES = ['gpu', 'gpu/spot=require', 'cpu'];

function scenario(units: number, jobs: number, instances: number) {
  const work: PendingWork[] = [];
  const per = Math.max(1, Math.floor(units / jobs));
  for (let j = 0; j < jobs; j++) {
    work.push({
      jobId: `job_${j.toString(36).padStart(6, '0')}`,
      tenant: `t${j % 4}`,
      ...(j % 3 === 0 ? { batchId: `bat_${j % 7}` } : {}),
      resourceClass: CLASSES[j % CLASSES.length],
      pending: per,
      running: j < instances ? 1 : 0,
      unitUsd: 0.01 + (j % 5) * 0.002,
    });
  }
  const scopes: BudgetScope[] = [
    { kind: 'global', key: '', limitUsd: 500, spentUsd: 120 },
    ...[0, 1, 2, 3].map((t) => ({ kind: 'tenant' as const, key: `t${t}`, limitUsd: 100 + t * 20, spentUsd: 30 })),
    ...[0, 1, 2, 3, 4, 5, 6].map((b) => ({ kind: 'batch' as const, key: `bat_${b}`, limitUsd: 6, spentUsd: b })),
  ];
  const fleet: ObservedInstance[] = Array.from({ length: instances }, (_, i) => {
    const kind = i % 10;
    const base = { id: `i-${i.toString(16).padStart(17, '0')}`, resourceClass: CLASSES[i % CLASSES.length], launchedAt: NOW - 3_600_000 + i * 1_000, known: true, slots: i % 3 === 2 ? 4 : 1 };
    if (kind === 0) return { ...base, state: 'pending' as const, launchedAt: NOW - 20_000 };
    if (kind === 1) return { ...base, state: 'running' as const, heartbeat: { at: NOW - 1_000, activeUnits: 0, lastBusyAt: NOW - 120_000 } };
    if (kind === 2) return { ...base, state: 'running' as const, heartbeat: { at: NOW - 90_000, activeUnits: 1, lastBusyAt: NOW - 90_000 } };
    if (kind === 3) return { ...base, state: 'running' as const, heartbeat: { at: NOW - 1_000, activeUnits: 1, lastBusyAt: NOW, drainingAt: NOW - 500 } };
    return { ...base, state: 'running' as const, heartbeat: { at: NOW - 1_000, activeUnits: base.slots, lastBusyAt: NOW, lastProgressAt: NOW - 2_000 } };
  });
  return { work, scopes, fleet };
}

function decide(s: ReturnType<typeof scenario>) {
  const gate = gateDemand(s.work, s.scopes);
  const input: PlanInput = {
    now: NOW,
    demand: gate.admitted,
    instances: s.fleet,
    limits: { maxInstances: 250, idleTimeoutMs: 60_000, bootTimeoutMs: 600_000, staleAfterMs: 60_000, slotsPerInstance: { cpu: 4 }, maxLifetimeMs: 86_400_000, hungAfterMs: 1_800_000 },
    lastDemandAt: Object.fromEntries(CLASSES.map((c) => [c, NOW])),
    holds: { 'gpu/spot=require': { notBefore: NOW - 1 } },
    budgetLeftUsd: 380,
    hourlyUsd: { gpu: 3.06, 'gpu/spot=require': 0.92, cpu: 0.34 },
  };
  return { gate, plan: plan(input) };
}

function measure(s: ReturnType<typeof scenario>) {
  for (let i = 0; i < 50; i++) decide(s); // warm up the JIT
  const ms: number[] = [];
  let out: ReturnType<typeof decide> | undefined;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    out = decide(s);
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  const q = (p: number) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))];
  return { p50: q(0.5), p99: q(0.99), max: ms[ms.length - 1], out: out! };
}

const small = measure(scenario(10, 5, 4));
const big = measure(scenario(10_000, 1_000, 200));
const f = (x: number) => x.toFixed(3);
const launches = big.out.plan.actions.filter((a) => a.kind === 'launch').reduce((n, a) => n + (a.kind === 'launch' ? a.count : 0), 0);
const terms = big.out.plan.actions.filter((a) => a.kind === 'terminate').length;
const admitted = Object.values(big.out.gate.admitted).reduce((n, a) => n + a.pending, 0);
console.log(`runs: ${runs} each (after 50 warm-up calls)`);
console.log(`baseline, 10 units / 4 instances:        median ${f(small.p50)} ms, p99 ${f(small.p99)} ms, max ${f(small.max)} ms`);
console.log(`10,000 units / 1,000 jobs / 200 instances: median ${f(big.p50)} ms, p99 ${f(big.p99)} ms, max ${f(big.max)} ms (${(big.p50 / small.p50).toFixed(0)}x the baseline)`);
console.log(`decision: ${admitted} of 10,000 pending units admitted by the budgets, ${big.out.gate.held.length} jobs held, ${launches} launches, ${terms} terminations`);
console.log(`target: median <= 10 ms: ${big.p50 <= 10 ? 'met' : 'NOT met'}`);
