/**
 * The budget gate, as pure functions over scopes (table tests in
 * test/unit/core-budget.test.ts). A scope is the whole deployment (global, per UTC
 * calendar month), a tenant (per month) or a batch (its whole life). Each pass the
 * provisioner gives the gate what every scope has spent and the work waiting in it;
 * the gate admits pending units while their projected cost fits in every scope they
 * belong to, and says which jobs are held and why.
 */

export type ScopeKind = 'global' | 'tenant' | 'batch';

export interface BudgetScope {
  kind: ScopeKind;
  /** '' for global, the tenant, or the batch id */
  key: string;
  limitUsd: number;
  spentUsd: number;
}

export const scopeId = (kind: ScopeKind, key: string): string => (kind === 'global' ? 'global' : `${kind}:${key}`);

/** Where a scope's limit comes from: batches are read through this so the batch record can supply them. */
export interface BatchBudgets {
  limitUsd(batchId: string): Promise<number | undefined>;
}

export interface PendingWork {
  jobId: string;
  tenant: string;
  batchId?: string;
  resourceClass: string;
  pending: number;
  running: number;
  /** projected USD of one unit of this job (estimated duration x price / slots, at least the launch minimum) */
  unitUsd: number;
}

export interface HeldJob {
  jobId: string;
  scope: BudgetScope;
  /** nothing of the job can run under this budget any more (its scope cannot pay for one unit) */
  exhausted: boolean;
  message: string;
}

export interface GateResult {
  /** pending units admitted per resource class (the planner's demand) */
  admitted: Record<string, { pending: number; running: number }>;
  held: HeldJob[];
}

export function budgetMessage(s: BudgetScope, unitUsd?: number): string {
  const what = s.kind === 'global' ? 'the global monthly budget' : s.kind === 'tenant' ? `tenant ${s.key}'s monthly budget` : `batch ${s.key}'s budgetUsd`;
  const how = s.kind === 'global' ? ' (nightshift budget set USD)' : s.kind === 'tenant' ? ` (nightshift budget set USD --tenant ${s.key})` : '';
  const left = Math.max(0, s.limitUsd - s.spentUsd);
  return `${what} of ${s.limitUsd.toFixed(2)} USD: ${s.spentUsd.toFixed(2)} USD spent, ${left.toFixed(2)} USD left${unitUsd !== undefined ? `, one more unit is projected at ${unitUsd.toFixed(4)} USD` : ''}; raise the budget${how} to resume`;
}

/** Where a monthly budget's limit comes from: the environment at boot, or the budgets API since. */
export type BudgetSource = 'env' | 'api';

/** The monthly budgets in force: global and per tenant (batch budgets live on their batch). */
export interface BudgetLimits {
  global?: { limitUsd: number; source: BudgetSource };
  tenants: Map<string, { limitUsd: number; source: BudgetSource }>;
}

/** The largest budget the API accepts (as NIGHTSHIFT_BUDGET_USD). */
export const MAX_BUDGET_USD = 1e9;
export const TENANT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** a stored budget that was cleared: no budget, whatever the environment said */
export const CLEARED = 'none';

/**
 * The budgets in force: what the budgets API stored (hash fields `global` and
 * `tenant:<name>`, each a USD figure or `none` once cleared) over the environment's
 * NIGHTSHIFT_BUDGET_USD and NIGHTSHIFT_TENANT_BUDGETS, which are the defaults for
 * every scope the API never set. A stored value that does not parse is ignored.
 */
export function effectiveBudgets(defaults: { budgetUsd?: number | undefined; tenantBudgets: Map<string, number> }, stored: Record<string, string>): BudgetLimits {
  const out: BudgetLimits = { tenants: new Map() };
  if (defaults.budgetUsd !== undefined) out.global = { limitUsd: defaults.budgetUsd, source: 'env' };
  for (const [t, usd] of defaults.tenantBudgets) out.tenants.set(t, { limitUsd: usd, source: 'env' });
  for (const [field, raw] of Object.entries(stored)) {
    const usd = raw === CLEARED ? undefined : Number(raw);
    if (usd !== undefined && checkBudgetUsd(usd) !== undefined) continue;
    if (field === 'global') {
      if (usd === undefined) delete out.global;
      else out.global = { limitUsd: usd, source: 'api' };
    } else if (field.startsWith('tenant:')) {
      const t = field.slice('tenant:'.length);
      if (usd === undefined) out.tenants.delete(t);
      else out.tenants.set(t, { limitUsd: usd, source: 'api' });
    }
  }
  return out;
}

/** What is wrong with a budget figure, or undefined when it is one (a finite number of USD, 0 to MAX_BUDGET_USD). */
export function checkBudgetUsd(v: unknown): string | undefined {
  if (typeof v !== 'number' || Number.isNaN(v)) return `expected a number of USD, got ${JSON.stringify(v) ?? String(v)}`;
  if (!Number.isFinite(v) || v < 0 || v > MAX_BUDGET_USD) return `expected 0 to ${MAX_BUDGET_USD} USD, got ${v}`;
  return undefined;
}

/** The global and tenant scopes of these budgets, with what each spent this month. */
export function monthlyScopes(limits: BudgetLimits, spent: { global: number; tenants: Map<string, number> }): BudgetScope[] {
  const out: BudgetScope[] = [];
  if (limits.global) out.push({ kind: 'global', key: '', limitUsd: limits.global.limitUsd, spentUsd: spent.global });
  for (const [t, b] of limits.tenants) out.push({ kind: 'tenant', key: t, limitUsd: b.limitUsd, spentUsd: spent.tenants.get(t) ?? 0 });
  return out;
}

/**
 * Admits pending units in the given order (the caller sorts by priority), each
 * reserving its projected cost in every scope it belongs to. Running units are never
 * held (they finish). A job whose scope cannot pay for a single unit is `exhausted`.
 */
export function gateDemand(work: PendingWork[], scopes: BudgetScope[]): GateResult {
  const left = new Map(scopes.map((s) => [scopeId(s.kind, s.key), s.limitUsd - s.spentUsd]));
  const byId = new Map(scopes.map((s) => [scopeId(s.kind, s.key), s]));
  const admitted: GateResult['admitted'] = {};
  const held: HeldJob[] = [];
  for (const w of work) {
    const a = (admitted[w.resourceClass] ??= { pending: 0, running: 0 });
    a.running += w.running;
    const mine = [scopeId('global', ''), scopeId('tenant', w.tenant), ...(w.batchId ? [scopeId('batch', w.batchId)] : [])].filter((id) => left.has(id));
    let n = 0;
    let blocking: string | undefined;
    for (; n < w.pending; n++) {
      blocking = mine.find((id) => left.get(id)! + 1e-12 < w.unitUsd);
      if (blocking) break;
      for (const id of mine) left.set(id, left.get(id)! - w.unitUsd);
    }
    a.pending += n;
    if (n < w.pending && blocking) {
      const s = byId.get(blocking)!;
      held.push({ jobId: w.jobId, scope: s, exhausted: n === 0 && s.limitUsd - s.spentUsd + 1e-12 < w.unitUsd, message: budgetMessage(s, w.unitUsd) });
    }
  }
  return { admitted, held };
}

/** A budget's figures for display: limit, spent and what is left (never negative). */
export function budgetLeft(s: BudgetScope): { limitUsd: number; spentUsd: number; leftUsd: number } {
  return { limitUsd: s.limitUsd, spentUsd: Math.round(s.spentUsd * 1e6) / 1e6, leftUsd: Math.max(0, Math.round((s.limitUsd - s.spentUsd) * 1e6) / 1e6) };
}

/**
 * Estimated seconds of one unit: the median measured seconds per epoch of earlier
 * units of the same shape (model and data size) x the epochs asked; without any
 * measurement, `fallbackS`.
 */
export function estimateUnitSeconds(measured: Array<{ seconds: number; epochs: number }>, epochs: number, fallbackS: number): number {
  const perEpoch = measured.filter((m) => m.epochs > 0 && m.seconds > 0).map((m) => m.seconds / m.epochs).sort((a, b) => a - b);
  if (!perEpoch.length) return fallbackS;
  const mid = Math.floor(perEpoch.length / 2);
  const median = perEpoch.length % 2 ? perEpoch[mid] : (perEpoch[mid - 1] + perEpoch[mid]) / 2;
  return median * epochs;
}

/** Parses NIGHTSHIFT_TENANT_BUDGETS (`alice:50,bob:12.5`); throws with the faulty item. */
export function parseTenantBudgets(raw: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const item of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const i = item.lastIndexOf(':');
    const tenant = item.slice(0, i);
    const usd = Number(item.slice(i + 1));
    if (i <= 0 || !/^[A-Za-z0-9_.-]{1,64}$/.test(tenant) || item.slice(i + 1).trim() === '' || !Number.isFinite(usd) || usd < 0) {
      throw new Error(`expected tenant:usd pairs separated by commas (usd >= 0), got "${item}"`);
    }
    out.set(tenant, usd);
  }
  return out;
}

/**
 * Units of one shape train at about the same speed per epoch: the model, the data
 * set, the evaluation split and the batch size (not the epoch count, which scales it).
 */
export function shapeKey(spec: { model: unknown; dataset: { uri: string }; evaluation?: unknown; training: Record<string, unknown> }): string {
  const text = JSON.stringify([spec.model, spec.dataset.uri, spec.evaluation ?? null, spec.training.batchSize ?? null]);
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}
