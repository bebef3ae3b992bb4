/**
 * The queue module: BullMQ queues and flows named by the job catalog. A job is a
 * flow: one parent ("aggregate", queue `jobs`) and one child per training unit
 * (queue `units`). Children are independent: a failed unit does not block the
 * parent (ignoreDependencyOnFailure), the parent decides what a failure means.
 */
import { FlowProducer, Queue, type ConnectionOptions, type Job as BullJob } from 'bullmq';
import type { Redis } from 'ioredis';
import { CATALOG, QUEUES, parentJobId, unitJobId, type UnitPayload, type AggregatePayload } from '../core/catalog.ts';
import type { UnitRef } from '../core/units.ts';
import { fairPriority } from '../core/fair-share.ts';
import { commitChunks } from '../core/group-commit.ts';

export interface Queues {
  units: Queue<UnitPayload>;
  jobs: Queue<AggregatePayload>;
  flow: FlowProducer;
  close(): Promise<void>;
}

export function createQueues(connection: ConnectionOptions, prefix: string): Queues {
  const units = new Queue<UnitPayload>(QUEUES.units, { connection, prefix });
  const jobs = new Queue<AggregatePayload>(QUEUES.jobs, { connection, prefix });
  const flow = new FlowProducer({ connection, prefix });
  units.on('error', () => {});
  jobs.on('error', () => {});
  flow.on('error', () => {});
  return {
    units,
    jobs,
    flow,
    async close() {
      await Promise.allSettled([units.close(), jobs.close(), flow.close()]);
    },
  };
}

/** BullMQ priority: 1 is the most urgent. JobSpec priority: 100 is the most urgent. */
export const bullPriority = (specPriority: number): number => 101 - Math.max(0, Math.min(100, specPriority));

export interface EnqueueArgs {
  jobId: string;
  tenant: string;
  units: UnitRef[];
  resourceClass: string;
  priority: number;
  maxAttempts: number;
  /** ms from now before the units may start (schedule.notBefore) */
  delayMs?: number;
  /**
   * the tenant's backlog ahead of this job's first unit: units get fair-share
   * priorities (core/fair-share.ts) from here on; absent: the plain spec priority
   */
  ordinal?: number;
}

export async function enqueueJob(q: Queues, a: EnqueueArgs): Promise<void> {
  await q.flow.add(flowOf(a));
  if (!a.delayMs) await announceQueued(q);
}

/**
 * BullMQ jobs (units and parents) per transaction when many jobs are queued together.
 * A transaction holds Redis for everyone else until it ends: 200 ten-unit jobs in one
 * (2,200 BullMQ jobs) held it for up to ~250 ms while a large batch was accepted,
 * stalling other tenants' requests, workers' pickups and the provisioner's pass; at 100
 * the longest stall was 14-21 ms and the batch was accepted as fast (bench/batch-accept.ts).
 */
export const BULL_JOBS_PER_COMMIT = 100;

/** Many jobs (a batch's, or submissions committed together) in a few transactions of bounded size. */
export async function enqueueJobs(q: Queues, all: EnqueueArgs[]): Promise<void> {
  for (const chunk of commitChunks(all, (a) => a.units.length + 1, BULL_JOBS_PER_COMMIT)) await q.flow.addBulk(chunk.map(flowOf));
  if (all.some((a) => !a.delayMs)) await announceQueued(q);
}

/**
 * The Redis channel on which enqueueing announces new units: the provisioner runs its
 * next pass at once instead of at the end of its period (the periodic pass stays,
 * for a missed message).
 */
export const queuedChannel = (prefix: string): string => `${prefix}:units-queued`;

/** Publishes on queuedChannel; never fails the enqueue (the periodic pass catches up). */
async function announceQueued(q: Queues): Promise<void> {
  try {
    const client = (await q.units.client) as unknown as Pick<Redis, 'publish'>;
    await client.publish(queuedChannel(q.units.opts.prefix ?? 'bull'), '1');
  } catch {
    // the units are queued; the provisioner sees them at its next periodic pass
  }
}

/**
 * Calls `fn` whenever units are queued (a subscriber connection of its own, resubscribed
 * after reconnects by ioredis). Returns the unsubscribe function.
 */
export function onUnitsQueued(redis: Pick<Redis, 'duplicate'>, prefix: string, fn: () => void): () => void {
  const sub = redis.duplicate({ connectionName: 'nightshift-units-queued', enableAutoPipelining: false });
  sub.on('error', () => {});
  sub.on('message', () => fn());
  void sub.subscribe(queuedChannel(prefix)).catch(() => undefined);
  return () => sub.disconnect();
}

/**
 * How long BullMQ keeps its own finished jobs: a day, and never more than 10,000 per
 * queue, whatever the rate (a unit's result lives in the job's record; the job record
 * follows NIGHTSHIFT_RETENTION_DAYS). Failed ones stay longer for diagnosis, as many.
 */
const KEEP_COMPLETED = { age: 24 * 3600, count: 10_000 };
const KEEP_FAILED = { age: 30 * 24 * 3600, count: 10_000 };

function flowOf(a: EnqueueArgs) {
  return {
    name: CATALOG.aggregate.name,
    queueName: CATALOG.aggregate.queue,
    data: { jobId: a.jobId, tenant: a.tenant },
    opts: {
      jobId: parentJobId(a.jobId),
      attempts: CATALOG.aggregate.attempts,
      backoff: CATALOG.aggregate.backoff,
      removeOnComplete: KEEP_COMPLETED,
      removeOnFail: KEEP_FAILED,
    },
    children: a.units.map((u, i) => ({
      name: CATALOG.unit.name,
      queueName: CATALOG.unit.queue,
      data: { jobId: a.jobId, tenant: a.tenant, unit: u, resourceClass: a.resourceClass },
      opts: {
        jobId: unitJobId(a.jobId, u.key),
        attempts: a.maxAttempts,
        backoff: CATALOG.unit.backoff,
        priority: a.ordinal === undefined ? bullPriority(a.priority) : fairPriority(a.priority, a.ordinal + i),
        ignoreDependencyOnFailure: true,
        removeOnComplete: KEEP_COMPLETED,
        removeOnFail: KEEP_FAILED,
        ...(a.delayMs && a.delayMs > 0 ? { delay: a.delayMs } : {}),
      },
    })),
  };
}

/**
 * Removes the units of a job that have not started. Running units see the
 * cancelled status at their next epoch and stop; the parent then finds the job
 * terminal and only tidies up.
 */
export async function removePendingUnits(q: Queues, jobId: string, unitKeys: string[]): Promise<number> {
  let removed = 0;
  for (const key of unitKeys) {
    const job = (await q.units.getJob(unitJobId(jobId, key))) as BullJob | undefined;
    if (!job) continue;
    const state = await job.getState();
    if (state === 'waiting' || state === 'delayed' || state === 'prioritized' || state === 'waiting-children') {
      try {
        await job.remove();
        removed++;
      } catch {
        // taken by a worker in the meantime: it will see the cancelled status
      }
    }
  }
  return removed;
}

/** Moves a job's delayed units to the queue now (their notBefore has come). */
export async function promoteDueUnits(q: Queues, jobId: string, unitKeys: string[]): Promise<number> {
  let moved = 0;
  for (const key of unitKeys) {
    const job = (await q.units.getJob(unitJobId(jobId, key))) as BullJob | undefined;
    if (!job || !(await job.isDelayed())) continue;
    try {
      await job.promote();
      moved++;
    } catch {
      // promoted or removed meanwhile
    }
  }
  return moved;
}

/** Resource class of each job seen in the units queue (every unit of a job shares it), per Queues. */
const classOfJob = new WeakMap<Queues, Map<string, string>>();

/** Units waiting or running, grouped by resource class: what the provisioner plans from, every reconcile pass. */
export async function unitDemand(q: Queues): Promise<Map<string, { pending: number; running: number }>> {
  const out = new Map<string, { pending: number; running: number }>();
  for (const w of (await unitDemandByJob(q)).values()) {
    const e = out.get(w.resourceClass) ?? { pending: 0, running: 0 };
    e.pending += w.pending;
    e.running += w.running;
    out.set(w.resourceClass, e);
  }
  return out;
}

/**
 * Units waiting and running per job, counted inside Redis: the reply is one entry per
 * job (its pending and running counts and one unit id), not every unit's id, so a
 * pass over 10,000 queued units moves and parses 1,000 entries. Reads BullMQ's own
 * lists by the names the queue gives them (wait, paused, prioritized, active).
 */
const DEMAND_BY_JOB_LUA = `
local counts, order = {}, {}
local function add(id, slot)
  local dot = string.find(id, '.', 1, true)
  local job = (dot and dot > 1) and string.sub(id, 1, dot - 1) or id
  local c = counts[job]
  if not c then
    c = { 0, 0, id }
    counts[job] = c
    order[#order + 1] = job
  end
  c[slot] = c[slot] + 1
end
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do add(id, 1) end
for _, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do add(id, 1) end
for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do add(id, 1) end
for _, id in ipairs(redis.call('LRANGE', KEYS[4], 0, -1)) do add(id, 2) end
local out = {}
for _, job in ipairs(order) do
  local c = counts[job]
  out[#out + 1] = job
  out[#out + 1] = c[1]
  out[#out + 1] = c[2]
  out[#out + 1] = c[3]
end
return out
`;

/**
 * Units waiting or running per job, with the job's resource class: what the budget
 * gate admits from (unitDemand is its per-class sum). Counted in Redis (one entry per
 * job); a unit's payload is read once per job (unit ids are `<jobId>.<unit>`) to learn
 * its class.
 */
export async function unitDemandByJob(q: Queues): Promise<Map<string, { resourceClass: string; pending: number; running: number }>> {
  let classes = classOfJob.get(q);
  if (!classes) classOfJob.set(q, (classes = new Map()));
  const keys = q.units.keys;
  const client = (await q.units.client) as unknown as Pick<Redis, 'eval'>;
  const flat = (await client.eval(DEMAND_BY_JOB_LUA, 4, keys.wait, keys.paused, keys.prioritized, keys.active)) as Array<string | number>;
  const counted: Array<{ jobId: string; pending: number; running: number; unitId: string }> = [];
  for (let i = 0; i < flat.length; i += 4) counted.push({ jobId: String(flat[i]), pending: Number(flat[i + 1]), running: Number(flat[i + 2]), unitId: String(flat[i + 3]) });
  // the class of each job not seen before, from one of its units: all read at once (a
  // 1,000-job batch is 1,000 reads in one round, not 1,000 round trips)
  const unknown = counted.filter((c) => !classes.has(c.jobId));
  const found = await Promise.all(unknown.map((c) => q.units.getJob(c.unitId)));
  unknown.forEach((c, i) => {
    const j = found[i];
    if (j) classes.set(c.jobId, j.data.resourceClass); // else: finished or removed between the two reads
  });
  const out = new Map<string, { resourceClass: string; pending: number; running: number }>();
  for (const c of counted) {
    const cls = classes.get(c.jobId);
    if (cls !== undefined) out.set(c.jobId, { resourceClass: cls, pending: c.pending, running: c.running });
  }
  for (const jobId of classes.keys()) if (!out.has(jobId)) classes.delete(jobId);
  return out;
}

/** Moves a job's parked (delayed) units back to waiting now, e.g. when its budget was raised. */
export async function promoteDelayedUnits(q: Queues, jobId: string): Promise<number> {
  let n = 0;
  for (const j of await q.units.getDelayed(0, -1)) {
    if (!j || !j.id?.startsWith(`${jobId}.`)) continue;
    await j.promote().then(() => n++, () => undefined);
  }
  return n;
}
