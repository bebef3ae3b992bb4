/**
 * Costs as the API answers them: reports grouped by day, job, batch, instance type or
 * tenant (a tenant sees its own jobs' share; admin keys see everything, unattributed
 * idle included), each Job's cost, the budgets and what is left, and the estimate of
 * a job before it is submitted.
 */
import { budgetLeft, checkBudgetUsd, estimateUnitSeconds, shapeKey, TENANT_NAME, type BudgetSource } from '../../core/budget.ts';
import type { Config } from '../../core/config.ts';
import { GROUP_BY, groupCosts, monthStartUtc, type CostReport, type GroupBy } from '../../core/costs.ts';
import { NightshiftError, validationError } from '../../core/errors.ts';
import type { Job } from '../../core/job.ts';
import { onDemandUsd } from '../../core/prices.ts';
import type { ResolvedJobSpec } from '../../core/job-defaults.ts';
import type { JobSpec } from '../../core/spec.ts';
import { createCostReader, type InstanceSource, type SpendLedger } from '../../platform/costs.ts';
import type { Meter } from '../../platform/meter.ts';
import type { BudgetStore, BudgetTarget } from '../../platform/budgets.ts';
import type { Principal } from '../auth.ts';

export interface Budgets {
  global?: { limitUsd: number; spentUsd: number; leftUsd: number };
  tenant?: { tenant: string; limitUsd: number; spentUsd: number; leftUsd: number };
}

type Figures = { limitUsd: number; spentUsd: number; leftUsd: number };

/** GET /v1/budgets */
export interface BudgetsView {
  /** the UTC month the spend counts (YYYY-MM) */
  month: string;
  global: (Figures & { source: BudgetSource }) | null;
  tenants: Array<{ tenant: string; source: BudgetSource } & Figures>;
}

/** the budgets part of the cost report: the global one (admin) and the caller's own */
function toBudgets(v: BudgetsView, p: Principal): Budgets {
  const strip = ({ source: _s, ...f }: Figures & { source: BudgetSource }): Figures => f;
  const out: Budgets = {};
  if (v.global) out.global = strip(v.global);
  const mine = v.tenants.find((t) => t.tenant === p.tenant);
  if (mine) out.tenant = { tenant: mine.tenant, ...strip(mine) };
  return out;
}

export interface CostAnswer extends CostReport {
  groupBy: GroupBy;
  from: string | null;
  to: string | null;
  budgets: Budgets;
}

export interface Estimate {
  units: number;
  unitSeconds: number;
  /** how unitSeconds was found */
  basis: string;
  instanceType: string;
  hourlyOnDemandUsd: number;
  onDemandUsd: number;
  /** the last spot price paid for that type (null: none on record) */
  hourlySpotUsd: number | null;
  spotUsd: number | null;
}

/**
 * A live instance's bill (each job's share of it) is reused for 2 s by the job views
 * (GET /v1/jobs/:id, the job list), then answered for up to 8 s more while one
 * background refresh recomputes it: reading a job never waits for reading the spans
 * of every instance it ran on or caused (100 instances of a 10,000-unit batch: about
 * 10,000 spans), and a job's cost so far lags by at most 10 s (about 2 s under steady
 * reads).
 */
const JOB_COST_LIVE_CACHE_MS = 2_000;
const JOB_COST_STALE_MS = 8_000;

/** the projected length of a unit of a shape never measured (and the least an EC2 unit is projected to cost: its minute) */
const FALLBACK_UNIT_S = 60;

function parseTime(field: 'from' | 'to', v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const t = Date.parse(v);
  if (!Number.isFinite(t)) throw validationError(field, `expected an ISO 8601 date or time (2026-11-01 or 2026-11-01T22:00:00Z), got "${v}"`);
  return t;
}

export function createCostService(d: { config: Config; meter: Meter; instances: InstanceSource; budgets: BudgetStore; ledger?: SpendLedger; now?: () => Date }) {
  const now = () => (d.now ? d.now() : new Date()).getTime();
  const reader = createCostReader(d.meter, d.instances, now, { liveCacheMs: JOB_COST_LIVE_CACHE_MS, staleMs: JOB_COST_STALE_MS });

  /** the budgets this principal may see, with this month's spend (admin: global and every tenant; a tenant: its own) */
  async function budgetFigures(p: Principal): Promise<BudgetsView> {
    const [limits, spent] = await Promise.all([d.budgets.limits(), d.ledger ? d.ledger.monthToDate(now()) : reader.monthToDate(now())]);
    const figures = (kind: 'global' | 'tenant', key: string, limitUsd: number, spentUsd: number) => budgetLeft({ kind, key, limitUsd, spentUsd });
    const tenants = [...limits.tenants].filter(([t]) => p.admin || t === p.tenant).sort(([a], [b]) => a.localeCompare(b))
      .map(([tenant, b]) => ({ tenant, ...figures('tenant', tenant, b.limitUsd, spent.tenants.get(tenant) ?? 0), source: b.source }));
    return {
      month: new Date(monthStartUtc(now())).toISOString().slice(0, 7),
      global: p.admin && limits.global ? { ...figures('global', '', limits.global.limitUsd, spent.global), source: limits.global.source } : null,
      tenants,
    };
  }

  function target(p: Principal, scope: 'global' | 'tenant', tenant?: string): BudgetTarget {
    if (!p.admin) throw new NightshiftError('forbidden', 'budgets are set by admin keys only (NIGHTSHIFT_ADMIN_KEYS)');
    if (scope === 'global') return { kind: 'global' };
    if (!tenant || !TENANT_NAME.test(tenant)) throw validationError('tenant', `expected 1-64 letters, digits, '_', '.' or '-', got "${tenant ?? ''}"`);
    return { kind: 'tenant', tenant };
  }

  return {
    budgets: budgetFigures,
    /** sets a monthly budget (admin); the provisioner applies it on its next pass */
    async setBudget(p: Principal, scope: 'global' | 'tenant', tenant: string | undefined, limitUsd: unknown): Promise<BudgetsView> {
      const t = target(p, scope, tenant);
      const bad = checkBudgetUsd(limitUsd);
      if (bad) throw validationError('limitUsd', bad);
      await d.budgets.set(t, limitUsd as number);
      return budgetFigures(p);
    },
    /** no budget for this scope from now on (admin), whatever the environment says */
    async clearBudget(p: Principal, scope: 'global' | 'tenant', tenant?: string): Promise<BudgetsView> {
      await d.budgets.clear(target(p, scope, tenant));
      return budgetFigures(p);
    },
    async report(p: Principal, q: { from?: string; to?: string; groupBy?: string }): Promise<CostAnswer> {
      const groupBy = (q.groupBy ?? 'day') as GroupBy;
      if (!GROUP_BY.includes(groupBy)) throw validationError('groupBy', `expected one of ${GROUP_BY.join(', ')}, got "${q.groupBy}"`);
      const from = parseTime('from', q.from);
      const to = parseTime('to', q.to);
      if (from !== undefined && to !== undefined && to <= from) throw validationError('to', 'must be after from');
      const all = await reader.lines();
      const mine = p.admin ? all : all.filter((l) => l.tenant === p.tenant);
      const r = groupCosts(mine, groupBy, { ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) });
      return { ...r, groupBy, from: from !== undefined ? new Date(from).toISOString() : null, to: to !== undefined ? new Date(to).toISOString() : null, budgets: toBudgets(await budgetFigures(p), p) };
    },

    /** the jobs with their cost (jobs that never ran or caused an instance cost 0) */
    async withCosts<J extends Job>(jobs: J[]): Promise<J[]> {
      if (!jobs.length) return jobs;
      const costs = await reader.jobCosts(jobs.map((j) => j.id));
      return jobs.map((j) => ({ ...j, cost: costs.get(j.id) ?? { usd: 0, instanceSeconds: 0, idleUsd: 0, spotSavingsUsd: 0 } }));
    },

    /** these jobs' costs, by id, whoever owns them: callers return them only with a job the principal may see */
    costsOf: (jobIds: string[]) => reader.jobCosts(jobIds),

    async withCost<J extends Job>(job: J): Promise<J> {
      return (await this.withCosts([job]))[0];
    },

    /** what a job would cost: units x projected unit time x price / slots */
    async estimate(spec: JobSpec, resolved: ResolvedJobSpec, units: number): Promise<Estimate> {
      const measured = await d.meter.durations(shapeKey(spec));
      const est = estimateUnitSeconds(measured, resolved.training.epochs, FALLBACK_UNIT_S);
      const ec2 = d.config.compute === 'ec2';
      // EC2 bills a started instance at least a minute; local instances have no minimum
      const unitSeconds = ec2 ? Math.max(FALLBACK_UNIT_S, est) : est;
      const instanceType = ec2 ? resolved.resources.instanceTypes?.[0] ?? d.config.ec2.instanceTypes[0] ?? 'p3.2xlarge' : 'local';
      const hourly = ec2 ? onDemandUsd(instanceType, d.config.s3.region) : d.config.localHourlyUsd;
      const spotPaid = ec2 ? (await d.instances.all()).filter((i) => i.type === instanceType && i.market === 'spot').sort((a, b) => b.launchedAt - a.launchedAt)[0]?.hourlyUsd : undefined;
      const slots = Math.max(1, d.config.workerConcurrency);
      const usd = (h: number) => Math.round(((units * unitSeconds * h) / 3600 / slots) * 1e6) / 1e6;
      return {
        units,
        unitSeconds: Math.round(unitSeconds * 10) / 10,
        basis: measured.length ? `median epoch time of ${measured.length} earlier unit(s) of the same model and data x ${resolved.training.epochs} epochs` : `no earlier unit of this shape: assumed ${FALLBACK_UNIT_S} s per unit`,
        instanceType,
        hourlyOnDemandUsd: hourly,
        onDemandUsd: usd(hourly),
        hourlySpotUsd: spotPaid ?? null,
        spotUsd: spotPaid !== undefined ? usd(spotPaid) : null,
      };
    },
  };
}
export type CostService = ReturnType<typeof createCostService>;
