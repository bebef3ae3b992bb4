/**
 * Queue order across batches and tenants, pure. BullMQ serves the lowest priority
 * number first and is FIFO within a number. A unit's number is
 *
 *   (100 - specPriority) * SPREAD + 1 + min(ordinal, SPREAD - 1)
 *
 * so a higher JobSpec/BatchSpec priority always goes first, and within a priority
 * a unit's ordinal is its position in its own tenant's backlog (units the tenant
 * already had waiting, then its place in this submission). Tenants thus take turns:
 * a tenant's 10 units queued behind another's 1,000 get ordinals 0..9 and run next
 * to the other's first ten, instead of after all of them.
 */
export const SPREAD = 20_000;
/** BullMQ's largest priority is 2^21 - 1; the formula stays below it */
export const MAX_BULL_PRIORITY = 2 ** 21 - 1;

export function fairPriority(specPriority: number, ordinal: number): number {
  const p = Math.max(0, Math.min(100, Math.round(specPriority)));
  const o = Math.max(0, Math.min(SPREAD - 1, Math.floor(ordinal)));
  return (100 - p) * SPREAD + 1 + o;
}

/**
 * The order in which a FIFO-within-priority queue serves the given submissions
 * (for tests and for explaining the rule): each item is [tenant, specPriority,
 * backlogBefore, count]; answers the tenant of each unit in service order.
 */
export function serviceOrder(subs: Array<{ tenant: string; priority: number; backlog: number; count: number }>): string[] {
  const units: Array<{ tenant: string; prio: number; seq: number }> = [];
  let seq = 0;
  for (const s of subs) for (let i = 0; i < s.count; i++) units.push({ tenant: s.tenant, prio: fairPriority(s.priority, s.backlog + i), seq: seq++ });
  return units.sort((a, b) => a.prio - b.prio || a.seq - b.seq).map((u) => u.tenant);
}
