/**
 * Deadline-aware scaling, pure: how many instances the remaining units of a batch
 * need to be done by its deadline, and when they will be done with the instances
 * it may have. Units run in waves of (instances x slots); each wave takes about one
 * unit's duration (measured: the mean of the batch's finished units; else the
 * estimate). New instances first boot.
 */
export interface DeadlineInput {
  now: number;
  deadline: number;
  /** units not started yet */
  pendingUnits: number;
  /** units training now (they finish within one unit duration) */
  runningUnits: number;
  unitSeconds: number;
  slotsPerInstance: number;
  /** instances serving the batch's class now */
  liveInstances: number;
  maxInstances: number;
  /** seconds before a new instance takes work */
  bootSeconds: number;
}

export interface DeadlinePlan {
  /** instances the remaining work needs (at least 1 while work remains, at most maxInstances) */
  instancesNeeded: number;
  /** whether even maxInstances cannot finish by the deadline */
  atRisk: boolean;
  /** when the work finishes with instancesNeeded instances (ms since the epoch) */
  projectedFinish: number;
}

/** Finish time of `units` units on n instances. */
export function finishWith(n: number, i: DeadlineInput): number {
  const slots = Math.max(1, i.slotsPerInstance) * n;
  if (i.pendingUnits + i.runningUnits === 0) return i.now;
  if (slots <= 0) return Infinity;
  const waves = Math.ceil((i.pendingUnits + i.runningUnits) / slots);
  const boot = n > i.liveInstances ? i.bootSeconds : 0;
  return i.now + (boot + waves * i.unitSeconds) * 1000;
}

export function deadlinePlan(i: DeadlineInput): DeadlinePlan {
  const work = i.pendingUnits + i.runningUnits;
  if (work === 0) return { instancesNeeded: 0, atRisk: false, projectedFinish: i.now };
  const max = Math.max(0, i.maxInstances);
  const most = Math.min(max, Math.ceil(work / Math.max(1, i.slotsPerInstance)));
  for (let n = 1; n <= most; n++) {
    const end = finishWith(n, i);
    if (end <= i.deadline) return { instancesNeeded: n, atRisk: false, projectedFinish: end };
  }
  const n = Math.max(most, 0);
  return { instancesNeeded: n, atRisk: true, projectedFinish: n > 0 ? finishWith(n, i) : Infinity };
}

/** What the batches with deadlines need of one resource class. */
export interface ClassDeadlineNeed {
  /** pending units of deadline batches in this class */
  pending: number;
  /** slots those batches need to finish in time (instancesNeeded x slots, summed) */
  slots: number;
}

/**
 * Demand as the planner should see it: in a class whose pending work all belongs to
 * batches with deadlines, pending is cut to what those deadlines need, so the fleet
 * grows only as far as finishing on time takes (fewer boots, less idle at the end).
 * Classes with any other pending work keep their full demand.
 */
export function deadlineDemand(
  demand: Record<string, { pending: number; running: number }>,
  needs: Record<string, ClassDeadlineNeed>,
): Record<string, { pending: number; running: number }> {
  const out: Record<string, { pending: number; running: number }> = {};
  for (const [cls, d] of Object.entries(demand)) {
    const n = needs[cls];
    if (!n || d.pending === 0 || d.pending > n.pending) {
      out[cls] = d;
      continue;
    }
    out[cls] = { pending: Math.min(d.pending, Math.max(d.pending > 0 && n.slots > 0 ? 1 : 0, n.slots - d.running)), running: d.running };
  }
  return out;
}
