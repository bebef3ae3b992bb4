/**
 * The provisioner's money and patience, once per reconcile pass (the decisions are
 * pure: core/budget.ts gateDemand, holds.ts afterFailure; this module reads and
 * writes around them):
 *  - demand per job, admitted through the budget gate (global and per-tenant monthly
 *    budgets, batch budgets through BatchBudgets); a job whose budget cannot pay for
 *    one more unit becomes budget_exhausted with a message (its
 *    units that are running finish; one that can still pay for some of its units shows
 *    `waiting`; raising the budget reopens a stopped job;
 *  - per-class launch backoff and blocked classes, shown as `waiting` on their jobs;
 *  - the jobs whose demand a launch serves (they carry its idle cost).
 */
import type { Redis } from 'ioredis';
import { budgetMessage, estimateUnitSeconds, gateDemand, monthlyScopes, shapeKey, type BatchBudgets, type BudgetLimits, type BudgetScope, type PendingWork } from '../core/budget.ts';
import type { Config } from '../core/config.ts';
import { isTerminal } from '../core/job.ts';
import { resolveJobSpec } from '../core/job-defaults.ts';
import { createCostReader, createSpendLedger } from '../platform/costs.ts';
import type { Meter } from '../platform/meter.ts';
import type { BudgetStore } from '../platform/budgets.ts';
import { promoteDelayedUnits, unitDemandByJob, type Queues } from '../platform/queue.ts';
import { createStore } from '../platform/store.ts';
import type { FleetStore } from '../platform/fleet-store.ts';
import { afterFailure, gpuBlocked, holdsOf, type ClassFailures } from './holds.ts';
import type { ClassHold } from './planner.ts';
import type { LaunchErrorKind } from './provider.ts';

type Demand = Record<string, { pending: number; running: number }>;

export interface EconomyPass {
  demand: Demand;
  holds: Record<string, ClassHold>;
  lastDemandAt: Record<string, number>;
  /** undefined = no global budget */
  budgetLeftUsd?: number;
  /** per class: the admitted jobs and their pending units (a launch records them) */
  jobsByClass: Map<string, Array<{ jobId: string; tenant: string; batchId?: string; units: number }>>;
  held: Array<{ jobId: string; message: string; exhausted: boolean }>;
  /** how long each step took, ms */
  phasesMs: Record<string, number>;
}

export interface EconomyDeps {
  config: Config;
  redis: Redis;
  queues: Queues;
  fleet: FleetStore;
  meter: Meter;
  batchBudgets?: BatchBudgets;
  /** the global and per-tenant monthly budgets, read every pass */
  budgets: BudgetStore;
  /** expected USD/h of one new instance of a class */
  hourlyUsd(cls: string): Promise<number>;
  slots(cls: string): number;
  /** the provider's minimum billed seconds (a unit is never projected below it) */
  minBilledS: number;
  log: { info(o: object, m?: string): void; warn(o: object, m?: string): void };
  now: () => number;
}

/** the projected length of a unit without any measurement of its shape */
const FALLBACK_UNIT_S = 60;

export function createEconomy(d: EconomyDeps) {
  const { config, log } = d;
  const jobs = createStore(d.redis, config.prefix);
  const costs = createCostReader(d.meter, d.fleet.instanceSource(), d.now);
  // month-to-date and batch spend as running totals (not a read of the whole fleet history every pass)
  const ledger = createSpendLedger(d.redis, config.prefix, d.meter, d.fleet.instanceSource());
  const stoppedKey = `${config.prefix}:costs:budget-stopped`;
  const info = new Map<string, { tenant: string; batchId?: string; createdAt: string; shape: string; epochs: number; priority: number }>();
  const lastDemandAt = new Map<string, number>();
  const waitingShown = new Map<string, string>();
  let holds: Map<string, ClassFailures> | undefined;
  let firstPass = true;
  const policy = { baseMs: config.costs.backoffBaseMs, capMs: config.costs.backoffCapMs, blockAfter: config.costs.blockAfterFailures };

  async function jobInfo(jobId: string) {
    let i = info.get(jobId);
    if (!i) {
      const rec = await jobs.getRecord(jobId);
      if (!rec) return undefined;
      const r = resolveJobSpec(rec.spec);
      i = { tenant: rec.tenant, ...(rec.batchId ? { batchId: rec.batchId } : {}), createdAt: rec.createdAt, shape: shapeKey(rec.spec), epochs: r.training.epochs, priority: r.priority };
      info.set(jobId, i);
    }
    return i;
  }

  async function scopes(limits: BudgetLimits, batchIds: Set<string>, t: number): Promise<BudgetScope[]> {
    const out = limits.global || limits.tenants.size ? monthlyScopes(limits, await ledger.monthToDate(t)) : [];
    const batchLimits = new Map<string, number>();
    for (const b of batchIds) {
      const limitUsd = await d.batchBudgets?.limitUsd(b);
      if (limitUsd !== undefined) batchLimits.set(b, limitUsd);
    }
    const spent = await ledger.batchSpend([...batchLimits.keys()], t);
    for (const [b, limitUsd] of batchLimits) out.push({ kind: 'batch', key: b, limitUsd, spentUsd: spent.get(b) ?? 0 });
    return out;
  }

  async function unitUsd(cls: string, shape: string, epochs: number): Promise<number> {
    const est = estimateUnitSeconds(await d.meter.durations(shape), epochs, FALLBACK_UNIT_S);
    return ((await d.hourlyUsd(cls)) * Math.max(d.minBilledS, est)) / 3600 / Math.max(1, d.slots(cls));
  }

  async function showWaiting(jobId: string, w: { reason: string; message: string } | undefined): Promise<void> {
    const key = w ? `${w.reason}\u0000${w.message}` : '';
    if ((waitingShown.get(jobId) ?? '') === key && !(firstPass && !w)) return;
    await jobs.setWaiting(jobId, w);
    if (w) waitingShown.set(jobId, key);
    else waitingShown.delete(jobId);
  }

  return {
    async pass(t: number): Promise<EconomyPass> {
      const phasesMs: Record<string, number> = {};
      let mark = performance.now();
      const phase = (name: string) => {
        const at = performance.now();
        phasesMs[name] = (phasesMs[name] ?? 0) + (at - mark);
        mark = at;
      };
      holds ??= await d.fleet.holds();
      // read every pass: a budget raised or set through the API counts from the next pass
      const limits = await d.budgets.limits();
      const budgeted = !!limits.global || limits.tenants.size > 0 || d.batchBudgets !== undefined;
      phase('budgets');
      const byJob = await unitDemandByJob(d.queues);
      phase('queue');
      // one round of reads for every job in the queue, not one round trip per job: the
      // records of jobs not seen before (at once) and every status (one pipeline)
      const ids = [...byJob.keys()];
      for (const id of info.keys()) if (!byJob.has(id)) info.delete(id);
      const [, statuses] = await Promise.all([Promise.all(ids.filter((id) => !info.has(id)).map(jobInfo)), jobs.getStatuses(ids)]);
      phase('jobs');
      const work: Array<PendingWork & { order: [number, string] }> = [];
      // a unit's projected price per class and shape, read once a pass (a batch's 1,000 jobs share one shape)
      const usdOf = new Map<string, Promise<number>>();
      const projectedUsd = (cls: string, shape: string, epochs: number): Promise<number> => {
        const key = `${cls}\u0000${shape}\u0000${epochs}`;
        let p = usdOf.get(key);
        if (!p) usdOf.set(key, (p = unitUsd(cls, shape, epochs)));
        return p;
      };
      for (const [jobId, w] of byJob) {
        // units without a job record (written by other tools) still get instances, outside tenant and batch budgets
        const i = info.get(jobId) ?? { tenant: '', createdAt: '', shape: '', epochs: 1, priority: 50 };
        const status = statuses.get(jobId);
        if (status === 'budget_exhausted') continue; // parked until its budget is raised
        const pending = status && isTerminal(status) ? 0 : w.pending;
        work.push({
          jobId, tenant: i.tenant, ...(i.batchId ? { batchId: i.batchId } : {}), resourceClass: w.resourceClass, pending, running: w.running,
          unitUsd: budgeted && pending > 0 ? await projectedUsd(w.resourceClass, i.shape, i.epochs) : 0,
          order: [-i.priority, i.createdAt],
        });
      }
      work.sort((a, b) => a.order[0] - b.order[0] || a.order[1].localeCompare(b.order[1]));
      phase('work');

      let sc: BudgetScope[] = [];
      if (budgeted) sc = await scopes(limits, new Set(work.flatMap((w) => (w.batchId ? [w.batchId] : []))), t);
      phase('spend');
      const gate = gateDemand(work, sc);
      const heldIds = new Set<string>();
      for (const h of gate.held) {
        heldIds.add(h.jobId);
        const w = work.find((x) => x.jobId === h.jobId)!;
        // exhausted: queued work stops now; running units finish (workers park the job's other units)
        if (h.exhausted) {
          if (await jobs.setStatus(h.jobId, 'budget_exhausted', { error: { code: 'budget_exhausted', message: h.message } })) {
            await d.redis.sadd(stoppedKey, h.jobId);
            log.warn({ jobId: h.jobId, scope: h.scope.kind, key: h.scope.key }, 'budget exhausted: job stopped');
          }
        } else {
          await showWaiting(h.jobId, { reason: 'budget', message: h.message });
        }
      }

      // a raised budget reopens what it stopped
      for (const jobId of await d.redis.smembers(stoppedKey)) {
        const i = await jobInfo(jobId);
        const status = await jobs.getStatus(jobId);
        if (!i || status !== 'budget_exhausted') {
          await d.redis.srem(stoppedKey, jobId);
          continue;
        }
        const cls = (await jobs.getRecord(jobId))?.resourceClass ?? 'any';
        const need = await unitUsd(cls, i.shape, i.epochs);
        const blocking = sc.find((s) => (s.kind === 'global' || (s.kind === 'tenant' && s.key === i.tenant) || (s.kind === 'batch' && s.key === i.batchId)) && s.limitUsd - s.spentUsd + 1e-12 < need);
        if (blocking) continue;
        if (await jobs.reopenFromBudget(jobId)) {
          await d.redis.srem(stoppedKey, jobId);
          await promoteDelayedUnits(d.queues, jobId);
          log.info({ jobId }, 'budget raised: job reopened');
        }
      }

      phase('gate');
      const demand = gate.admitted;
      for (const [cls, v] of Object.entries(demand)) if (v.pending + v.running > 0) lastDemandAt.set(cls, t);
      const planHolds = holdsOf(holds);
      const jobsByClass: EconomyPass['jobsByClass'] = new Map();
      const admittedLeft = new Map(Object.entries(demand).map(([c, v]) => [c, v.pending]));
      // each job's waiting reason is its own write: all of them at once, not one round trip after another
      const shown: Array<Promise<void>> = [];
      for (const w of work) {
        if (heldIds.has(w.jobId) || w.pending === 0) {
          if (!heldIds.has(w.jobId) && (w.running > 0 || firstPass)) shown.push(showWaiting(w.jobId, undefined));
          continue;
        }
        const units = Math.min(w.pending, admittedLeft.get(w.resourceClass) ?? 0);
        admittedLeft.set(w.resourceClass, (admittedLeft.get(w.resourceClass) ?? 0) - units);
        if (units > 0) {
          let list = jobsByClass.get(w.resourceClass);
          if (!list) jobsByClass.set(w.resourceClass, (list = []));
          list.push({ jobId: w.jobId, tenant: w.tenant, ...(w.batchId ? { batchId: w.batchId } : {}), units });
        }
        const hold = holds.get(w.resourceClass);
        shown.push(showWaiting(w.jobId, hold && w.running === 0 ? { reason: hold.reason, message: hold.message } : undefined));
      }
      await Promise.all(shown);
      phase('waiting');
      firstPass = false;
      const global = sc.find((s) => s.kind === 'global');
      return {
        demand,
        holds: planHolds,
        lastDemandAt: Object.fromEntries(lastDemandAt),
        ...(global ? { budgetLeftUsd: global.limitUsd - global.spentUsd } : {}),
        jobsByClass,
        held: gate.held.map((h) => ({ jobId: h.jobId, message: h.message, exhausted: h.exhausted })),
        phasesMs,
      };
    },
    /**
     * Writes the cost of every job that ran on (or launched) these instances into its
     * record, once they ended: the Job's stored `cost` (batches sum it; the API reads
     * the same figures live).
     */
    async settle(instanceIds: string[]): Promise<void> {
      if (!instanceIds.length) return;
      const spans = await d.meter.spansOf(instanceIds);
      const recs = await d.fleet.instanceSource().byIds(instanceIds);
      const jobIds = [...new Set([...spans.map((x) => x.jobId), ...recs.flatMap((r) => (r.demand ?? []).map((x) => x.jobId))])];
      if (!jobIds.length) return;
      // one pipeline for the statuses and the writes at once: a fleet of 100 retiring together touches 1,000 jobs
      const perJob = await costs.jobCosts(jobIds);
      const known = await jobs.getStatuses([...perJob.keys()]);
      await Promise.all([...perJob].filter(([jobId]) => known.has(jobId)).map(([jobId, c]) => jobs.setField(jobId, 'cost', JSON.stringify(c))));
    },
    async launchFailed(cls: string, f: { kind: LaunchErrorKind; codes: string[]; message: string }, t: number): Promise<ClassFailures> {
      holds ??= await d.fleet.holds();
      const next = afterFailure(holds.get(cls), f, t, policy);
      holds.set(cls, next);
      await d.fleet.putHold(cls, next);
      if (next.blocked) log.warn({ resourceClass: cls, reason: next.reason, message: next.message }, 'resource class blocked');
      return next;
    },
    /** a class blocked because its instances could not use their GPU: its jobs say so in `waiting` */
    async gpuBlocked(cls: string, instances: number, reason: string, t: number): Promise<void> {
      holds ??= await d.fleet.holds();
      const next = gpuBlocked(instances, reason, t, policy);
      holds.set(cls, next);
      await d.fleet.putHold(cls, next);
    },
    async launched(cls: string): Promise<void> {
      holds ??= await d.fleet.holds();
      if (!holds.has(cls)) return;
      holds.delete(cls);
      await d.fleet.putHold(cls, undefined);
      log.info({ resourceClass: cls }, 'resource class launches again');
    },
    budgetMessage,
  };
}
export type Economy = ReturnType<typeof createEconomy>;
