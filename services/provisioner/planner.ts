/**
 * The scaling planner: observed state in, actions out. Pure — no clock, no I/O —
 * so every rule has a table test (test/unit/provisioner-planner.test.ts).
 *
 * Rules, in order:
 *  1. orphan: a tagged instance that no launch record knows and that never sent a
 *     heartbeat is terminated (an instance we know nothing about bills for nothing).
 *  2. boot timeout: a known instance with no heartbeat bootTimeout after launch is
 *     terminated; rule 6 then replaces it if its work is still pending.
 *  3. lost: a worker whose heartbeat is older than staleAfter is terminated (its units
 *     go back to the queue by BullMQ's stall detection).
 *  4. idle: an instance holding no unit, idle >= idleTimeout, with nothing pending for
 *     its class, is terminated. An instance that holds a unit is never chosen here,
 *     and the act step re-checks atomically (CLAIM_LUA) right before terminating.
 *  5. instances already claimed for termination count for nothing.
 *  6. scale up per class: enough instances that every pending and running unit has a
 *     slot, never above maxInstances in total, and only as many as the budget left
 *     can pay for (each launch reserves hourlyUsd x reserveS).
 *  7. unneeded: a booting instance (no heartbeat yet) whose class has had no pending or
 *     running unit for idleTimeout (counted from its launch at the earliest) is
 *     terminated, not kept until the boot timeout. Booting instances of a class that
 *     still has demand are kept: one that boots slower than the idle timeout must not
 *     be replaced in a loop.
 *  8. max lifetime: an instance older than maxLifetimeMs is terminated (its units are
 *     checkpointed and handed back).
 *  9. hung: a worker that holds units but reported no epoch progress for hungAfterMs is
 *     terminated; its units go back to the queue.
 * 10. launch holds: a class in backoff or blocked launches nothing until notBefore (a
 *     blocked class without notBefore never); the hold is reported in `held`.
 */

export interface ObservedInstance {
  id: string;
  resourceClass: string;
  state: 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';
  launchedAt: number;
  /** a launch record of ours (or an earlier adoption) knows this instance */
  known: boolean;
  slots: number;
  heartbeat?: { at: number; activeUnits: number; lastBusyAt: number; drainingAt?: number; lastProgressAt?: number };
}

/** Why a class may not launch now (per-class backoff after failures, or blocked). */
export interface ClassHold {
  notBefore?: number;
  blocked?: { reason: string; message: string };
}

export interface PlanInput {
  now: number;
  /** pending (waiting) and running units per resource class */
  demand: Record<string, { pending: number; running: number }>;
  instances: ObservedInstance[];
  limits: {
    maxInstances: number;
    idleTimeoutMs: number;
    bootTimeoutMs: number;
    staleAfterMs: number;
    /** slots of a new instance per class (default 1) */
    slotsPerInstance?: Record<string, number>;
    /** rule 8: undefined = no maximum */
    maxLifetimeMs?: number;
    /** rule 9: undefined = never */
    hungAfterMs?: number;
  };
  /** rule 7: last moment each class had a pending or running unit */
  lastDemandAt?: Record<string, number>;
  /** rule 10 */
  holds?: Record<string, ClassHold>;
  /** undefined = no budget limit */
  budgetLeftUsd?: number;
  /** price of one new instance per class (USD/h) */
  hourlyUsd: Record<string, number>;
  /** seconds of running paid for up front by every launch (default 60: EC2's minimum billing) */
  reserveS?: number;
}

export type TerminateReason = 'orphan' | 'boot-timeout' | 'lost' | 'idle' | 'stopped' | 'unneeded' | 'max-lifetime' | 'hung';

export type Action =
  | { kind: 'launch'; resourceClass: string; count: number; reason: string }
  | { kind: 'terminate'; id: string; resourceClass: string; reason: TerminateReason; force: boolean };

export interface Plan {
  actions: Action[];
  /** why a wanted launch did not happen (cap, budget), per class */
  held: Array<{ resourceClass: string; wanted: number; reason: 'cap' | 'budget' | 'backoff' | 'blocked' }>;
}

const LIVE = new Set(['pending', 'running']);

export function plan(input: PlanInput): Plan {
  const { now, limits } = input;
  const actions: Action[] = [];
  const held: Plan['held'] = [];
  const terminating = new Set<string>();
  const terminate = (i: ObservedInstance, reason: TerminateReason, force: boolean) => {
    actions.push({ kind: 'terminate', id: i.id, resourceClass: i.resourceClass, reason, force });
    terminating.add(i.id);
  };
  const pendingOf = (cls: string) => input.demand[cls]?.pending ?? 0;

  for (const i of input.instances) {
    if (i.state === 'stopped') {
      terminate(i, 'stopped', true);
      continue;
    }
    if (!LIVE.has(i.state)) continue;
    const hb = i.heartbeat;
    if (hb?.drainingAt !== undefined) continue; // already claimed: the act step finishes it
    if (limits.maxLifetimeMs !== undefined && now - i.launchedAt >= limits.maxLifetimeMs) {
      terminate(i, 'max-lifetime', true);
      continue;
    }
    if (!hb) {
      if (!i.known) terminate(i, 'orphan', false);
      else if (now - i.launchedAt >= limits.bootTimeoutMs) terminate(i, 'boot-timeout', false);
      continue;
    }
    if (now - hb.at >= limits.staleAfterMs) {
      terminate(i, 'lost', true);
      continue;
    }
    if (limits.hungAfterMs !== undefined && hb.activeUnits > 0 && hb.lastProgressAt !== undefined && now - hb.lastProgressAt >= limits.hungAfterMs) {
      terminate(i, 'hung', true);
      continue;
    }
    if (hb.activeUnits === 0 && now - hb.lastBusyAt >= limits.idleTimeoutMs && pendingOf(i.resourceClass) === 0) {
      terminate(i, 'idle', false);
    }
  }

  // rule 7: booting instances of a class nobody has needed for the idle timeout
  for (const i of input.instances) {
    if (!LIVE.has(i.state) || terminating.has(i.id) || i.heartbeat || !i.known) continue;
    const cls = i.resourceClass;
    if (pendingOf(cls) + (input.demand[cls]?.running ?? 0) > 0) continue;
    if (now - Math.max(i.launchedAt, input.lastDemandAt?.[cls] ?? 0) >= limits.idleTimeoutMs) terminate(i, 'unneeded', false);
  }

  const live = input.instances.filter((i) => LIVE.has(i.state) && !terminating.has(i.id) && i.heartbeat?.drainingAt === undefined);
  let total = live.length;
  let budget = input.budgetLeftUsd;
  const reserveH = (input.reserveS ?? 60) / 3600;
  const classes = Object.keys(input.demand)
    .filter((c) => pendingOf(c) > 0)
    .sort((a, b) => pendingOf(b) - pendingOf(a) || a.localeCompare(b));
  for (const cls of classes) {
    const d = input.demand[cls];
    const mine = live.filter((i) => i.resourceClass === cls);
    const slots = Math.max(1, limits.slotsPerInstance?.[cls] ?? 1);
    const capacity = mine.reduce((s, i) => s + Math.max(1, i.slots), 0);
    const missingSlots = d.pending + d.running - capacity;
    if (missingSlots <= 0) continue;
    const wanted = Math.ceil(missingSlots / slots);
    const hold = input.holds?.[cls];
    if (hold && (hold.notBefore === undefined ? hold.blocked !== undefined : hold.notBefore > now)) {
      held.push({ resourceClass: cls, wanted, reason: hold.blocked ? 'blocked' : 'backoff' });
      continue;
    }
    let count = Math.min(wanted, Math.max(0, limits.maxInstances - total));
    if (count < wanted) held.push({ resourceClass: cls, wanted: wanted - count, reason: 'cap' });
    const price = input.hourlyUsd[cls] ?? 0;
    if (budget !== undefined && price * reserveH > 0 && count > 0) {
      const affordable = Math.max(0, Math.floor(budget / (price * reserveH) + 1e-9));
      if (affordable < count) {
        held.push({ resourceClass: cls, wanted: count - affordable, reason: 'budget' });
        count = affordable;
      }
      budget -= count * price * reserveH;
    } else if (budget !== undefined && budget <= 0 && count > 0) {
      held.push({ resourceClass: cls, wanted: count, reason: 'budget' });
      count = 0;
    }
    if (count > 0) {
      actions.push({ kind: 'launch', resourceClass: cls, count, reason: `${d.pending} pending, ${d.running} running, ${capacity} slots` });
      total += count;
    }
  }
  return { actions, held };
}
