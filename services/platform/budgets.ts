/**
 * Monthly budgets in Redis, so an operator changes them while the API and the
 * provisioner run (PUT /v1/budgets/..., `nightshift budget set`); the provisioner reads
 * them every reconcile pass. NIGHTSHIFT_BUDGET_USD and NIGHTSHIFT_TENANT_BUDGETS are
 * the defaults for every scope the API never set (core/budget.ts effectiveBudgets).
 *
 * Key: `<prefix>:budgets` hash, `global` | `tenant:<name>` -> USD, or `none` once cleared.
 */
import type { Redis } from 'ioredis';
import { CLEARED, effectiveBudgets, type BudgetLimits } from '../core/budget.ts';

export type BudgetTarget = { kind: 'global' } | { kind: 'tenant'; tenant: string };

const field = (s: BudgetTarget): string => (s.kind === 'global' ? 'global' : `tenant:${s.tenant}`);

export function createBudgetStore(redis: Redis, prefix: string, defaults: { budgetUsd?: number | undefined; costs: { tenantBudgets: Map<string, number> } }) {
  const key = `${prefix}:budgets`;
  return {
    key,
    /** the budgets in force now (one read) */
    async limits(): Promise<BudgetLimits> {
      return effectiveBudgets({ budgetUsd: defaults.budgetUsd, tenantBudgets: defaults.costs.tenantBudgets }, await redis.hgetall(key));
    },
    /** the caller has checked the figure (core/budget.ts checkBudgetUsd) */
    async set(target: BudgetTarget, limitUsd: number): Promise<void> {
      await redis.hset(key, field(target), String(limitUsd));
    },
    /** no budget for this scope from now on, whatever the environment says */
    async clear(target: BudgetTarget): Promise<void> {
      await redis.hset(key, field(target), CLEARED);
    },
  };
}
export type BudgetStore = ReturnType<typeof createBudgetStore>;
