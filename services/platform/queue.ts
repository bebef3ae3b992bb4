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
  await registerDemand(q, [a]);
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
  for (const chunk of commitChunks(all, (a) => a.units.length + 1, BULL_JOBS_PER_COMMIT)) {
    await q.flow.addBulk(chunk.map(flowOf));
    await registerDemand(q, chunk);
  }
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
 * The jobs whose units may still be in the queue: a hash `<prefix>:demand-jobs`, job id ->
 * resource class, written right after each enqueue (enqueueJob, enqueueJobs) and pruned by
 * the demand count once a job has no unit left. It lets the provisioner count demand per
 * job in O(jobs) instead of reading every queued unit's id.
 */
export const demandJobsKey = (prefix: string): string => `${prefix}:demand-jobs`;

/** Drops jobs from the demand register (the retention sweep, for jobs it trims; a provisioner's count drops finished ones itself). */
export async function forgetDemand(q: Queues, jobIds: string[]): Promise<void> {
  if (jobIds.length === 0) return;
  const client = (await q.units.client) as unknown as Pick<Redis, 'hdel'>;
  await client.hdel(demandJobsKey(q.units.opts.prefix ?? 'bull'), ...jobIds);
}

async function registerDemand(q: Queues, jobs: EnqueueArgs[]): Promise<void> {
  if (jobs.length === 0) return;
  const client = (await q.units.client) as unknown as Pick<Redis, 'hset'>;
  await client.hset(demandJobsKey(q.units.opts.prefix ?? 'bull'), Object.fromEntries(jobs.map((a) => [a.jobId, a.resourceClass])));
}

/**
 * Pending and running units per registered job, counted in Redis without reading the
 * queued units. A unit stays in its parent's BullMQ `dependencies` set from the moment it
 * is queued until it completes, fails for good or is removed (BullMQ's moveToFinished and
 * removeJob; ignoreDependencyOnFailure moves a failed one out), so that set's size is the
 * job's units not finished; of those, the ones in the active list run and the ones in the
 * delayed set (a notBefore window, a retry's backoff) are not pending yet. Cost: one SCARD
 * per registered job plus the active list (bounded by the fleet's slots) and the delayed
 * set. A job with no unit left is dropped from the register.
 * KEYS: register, units' active list, units' delayed set. ARGV: the parents' key prefix.
 * Returns job, class, pending, running, ... flattened.
 */
const DEMAND_BY_JOB_LUA = `
local function jobOf(id)
  local dot = string.find(id, '.', 1, true)
  if dot and dot > 1 then return string.sub(id, 1, dot - 1) end
  return id
end
local running, delayed = {}, {}
for _, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do local j = jobOf(id) running[j] = (running[j] or 0) + 1 end
if redis.call('ZCARD', KEYS[3]) > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do local j = jobOf(id) delayed[j] = (delayed[j] or 0) + 1 end
end
local reg = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #reg, 2 do
  local job = reg[i]
  local left = redis.call('SCARD', ARGV[1] .. job .. ':dependencies')
  if left == 0 then
    redis.call('HDEL', KEYS[1], job)
  else
    local r = running[job] or 0
    out[#out + 1] = job
    out[#out + 1] = reg[i + 1]
    out[#out + 1] = math.max(0, left - r - (delayed[job] or 0))
    out[#out + 1] = r
  end
end
return out
`;

/**
 * The jobs that have units waiting or running, read from BullMQ's lists themselves (one
 * entry per job with one of its unit ids). O(queued units): run when a provisioner
 * starts and then every DEMAND_RESCAN_MS, to register jobs queued by a version before
 * the register or whose register write was lost; KEYS: wait, paused, prioritized, active.
 */
const QUEUED_JOBS_LUA = `
local seen, out = {}, {}
for k = 1, #KEYS do
  local ids = (k == 3) and redis.call('ZRANGE', KEYS[k], 0, -1) or redis.call('LRANGE', KEYS[k], 0, -1)
  for _, id in ipairs(ids) do
    local dot = string.find(id, '.', 1, true)
    local job = (dot and dot > 1) and string.sub(id, 1, dot - 1) or id
    if not seen[job] then
      seen[job] = true
      out[#out + 1] = job
      out[#out + 1] = id
    end
  end
end
return out
`;

/** How often the demand count also reads the queued units themselves (QUEUED_JOBS_LUA). */
export const DEMAND_RESCAN_MS = 60_000;
const lastRescan = new WeakMap<Queues, number>();

/** Registers the queued jobs that the register lacks (one unit of each read for its class); returns how many. */
export async function rescanDemand(q: Queues): Promise<number> {
  const keys = q.units.keys;
  const client = (await q.units.client) as unknown as Pick<Redis, 'eval' | 'hkeys' | 'hset'>;
  const [flat, known] = await Promise.all([
    client.eval(QUEUED_JOBS_LUA, 4, keys.wait, keys.paused, keys.prioritized, keys.active) as Promise<string[]>,
    client.hkeys(demandJobsKey(q.units.opts.prefix ?? 'bull')),
  ]);
  const have = new Set(known);
  const missing: Array<{ jobId: string; unitId: string }> = [];
  for (let i = 0; i < flat.length; i += 2) if (!have.has(String(flat[i]))) missing.push({ jobId: String(flat[i]), unitId: String(flat[i + 1]) });
  const found = await Promise.all(missing.map((m) => q.units.getJob(m.unitId)));
  const add: Record<string, string> = {};
  missing.forEach((m, i) => {
    const j = found[i];
    if (j) add[m.jobId] = j.data.resourceClass; // else: finished or removed between the two reads
  });
  if (Object.keys(add).length > 0) await client.hset(demandJobsKey(q.units.opts.prefix ?? 'bull'), add);
  return Object.keys(add).length;
}

/**
 * Units waiting (pending) and running per job, with the job's resource class: what the
 * budget gate admits from (unitDemand is its per-class sum). Counted in Redis in O(jobs)
 * (DEMAND_BY_JOB_LUA); units are counted through their job's flow, so units added to the
 * queue without a parent are not. The first call per Queues, and one every
 * DEMAND_RESCAN_MS, first registers queued jobs the register lacks.
 */
export async function unitDemandByJob(q: Queues, now = Date.now()): Promise<Map<string, { resourceClass: string; pending: number; running: number }>> {
  const last = lastRescan.get(q);
  if (last === undefined || now - last >= DEMAND_RESCAN_MS) {
    lastRescan.set(q, now);
    await rescanDemand(q);
  }
  const keys = q.units.keys;
  const client = (await q.units.client) as unknown as Pick<Redis, 'eval'>;
  const parents = q.jobs.toKey(''); // '<prefix>:jobs:', a parent's key less its id
  const flat = (await client.eval(DEMAND_BY_JOB_LUA, 3, demandJobsKey(q.units.opts.prefix ?? 'bull'), keys.active, keys.delayed, parents)) as Array<string | number>;
  const out = new Map<string, { resourceClass: string; pending: number; running: number }>();
  for (let i = 0; i < flat.length; i += 4) out.set(String(flat[i]), { resourceClass: String(flat[i + 1]), pending: Number(flat[i + 2]), running: Number(flat[i + 3]) });
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
