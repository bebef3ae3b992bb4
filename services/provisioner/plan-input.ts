/**
 * The planner's input from what a pass observed and the configuration (pure; the
 * planner itself is planner.ts).
 */
import type { Config } from '../core/config.ts';
import type { ClassHold, ObservedInstance, PlanInput } from './planner.ts';

export interface PlanInputSource {
  now: number;
  demand: Record<string, { pending: number; running: number }>;
  observed: ObservedInstance[];
  /** USD/h and slots of a new instance per class with demand */
  hourlyUsd: Record<string, number>;
  slots: Record<string, number>;
  budgetLeftUsd?: number;
  holds: Record<string, ClassHold>;
  lastDemandAt: Record<string, number>;
  staleAfterMs: number;
  /** seconds every launch is billed at least (EC2: 60; local: 0) */
  reserveS: number;
}

export function planInputOf(config: Pick<Config, 'maxInstances' | 'idleTimeoutS' | 'bootTimeoutS' | 'costs'>, s: PlanInputSource): PlanInput {
  return {
    now: s.now,
    demand: s.demand,
    instances: s.observed,
    limits: {
      maxInstances: config.maxInstances,
      idleTimeoutMs: config.idleTimeoutS * 1000,
      bootTimeoutMs: config.bootTimeoutS * 1000,
      staleAfterMs: s.staleAfterMs,
      slotsPerInstance: s.slots,
      ...(config.costs.maxInstanceHours !== undefined ? { maxLifetimeMs: config.costs.maxInstanceHours * 3_600_000 } : {}),
      hungAfterMs: config.costs.hungAfterS * 1000,
    },
    ...(s.budgetLeftUsd !== undefined ? { budgetLeftUsd: s.budgetLeftUsd } : {}),
    hourlyUsd: s.hourlyUsd,
    holds: s.holds,
    lastDemandAt: s.lastDemandAt,
    // every launch reserves the provider's minimum bill; the budget gate has projected the units themselves
    reserveS: s.reserveS,
  };
}
