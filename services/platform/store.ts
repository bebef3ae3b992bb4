/**
 * Job and data set state in Redis, shared by the API, the provisioner and the
 * workers. Every key lives under `<prefix>:`. Updates from many workers at once
 * are field-level (HINCRBY, HSETNX) so no one overwrites another's progress, and
 * a terminal status is final (checked atomically in Lua).
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Placement } from '../core/placement.ts';
import type { ChainableCommander, Redis } from 'ioredis';
import type { Job, JobStatus, JobResult, UnitResult } from '../core/job.ts';
import { isTerminal, TERMINAL } from '../core/job.ts';
import type { ErrorInfo } from '../core/errors.ts';
import type { TrainingWarning } from '../core/health.ts';
import type { JobSpec } from '../core/spec.ts';
import type { DatasetSummary } from '../core/dataset-summary.ts';
import type { DatasetView } from '../core/views.ts';

export interface JobRecord {
  id: string;
  name: string;
  tenant: string;
  batchId?: string;
  createdAt: string;
  spec: JobSpec;
  unitsTotal: number;
  resourceClass: string;
  /** where the units run and what one is estimated to cost (core/placement.ts) */
  placement?: Placement;
}

/** A data set as stored: what the API shows, plus its owner, its S3 key and its column summary. */
export interface DatasetRecord extends DatasetView {
  tenant: string;
  key: string;
  summary: DatasetSummary;
}

export interface JobEvent {
  type: 'status' | 'progress' | 'unit';
  jobId: string;
  at: string;
  [k: string]: unknown;
}

// Per-tenant unit counters (hash <prefix>:tenant-units:<tenant>, fields active and backlog):
//   active  = over the tenant's jobs not terminal, units not done and not failed (the queued-units quota)
//   backlog = over the same jobs, units not done (where fair-share priorities count from)
// kept by every script that changes a job's status or unit counts, so a submission reads
// two numbers instead of every job. A counter that does not exist yet is left alone
// (COUNTERS_ENSURE recounts it from the per-status indexes on first use).
const COUNTERS_LIB = `
local function remaining(h)
  local v = redis.call('HMGET', h, 'unitsTotal', 'unitsDone', 'unitsFailed')
  local t, d, f = tonumber(v[1] or '0') or 0, tonumber(v[2] or '0') or 0, tonumber(v[3] or '0') or 0
  return math.max(0, t - d - f), math.max(0, t - d)
end
local function tenantOf(h)
  local t = redis.call('HGET', h, 'tenant')
  if t then return t end
  local raw = redis.call('HGET', h, 'record')
  if not raw then return nil end
  return cjson.decode(raw)['tenant']
end
local function adjust(base, tenant, da, db)
  if not tenant then return end
  local key = base .. tenant
  if redis.call('EXISTS', key) == 0 then return end
  if da ~= 0 then redis.call('HINCRBY', key, 'active', da) end
  if db ~= 0 then redis.call('HINCRBY', key, 'backlog', db) end
end
local function isTerminal(s)
  return s == 'completed' or s == 'failed' or s == 'cancelled' or s == 'budget_exhausted' or s == 'deadline_missed'
end
`;

// The tenant's counters, recounted from its queued/scheduled/running indexes when they do not exist
// (the first submission after an upgrade; O(jobs not terminal) once). KEYS: counters, job key base
// ("<prefix>:job:"), then the tenant's queued, scheduled and running indexes. Returns {active, backlog}.
const COUNTERS_ENSURE = `${COUNTERS_LIB}
if redis.call('EXISTS', KEYS[1]) == 0 then
  local a, b = 0, 0
  for i = 3, #KEYS do
    for _, id in ipairs(redis.call('ZRANGE', KEYS[i], 0, -1)) do
      local ra, rb = remaining(KEYS[2] .. id)
      a = a + ra
      b = b + rb
    end
  end
  redis.call('HSET', KEYS[1], 'active', a, 'backlog', b)
end
local v = redis.call('HMGET', KEYS[1], 'active', 'backlog')
return { tonumber(v[1] or '0'), tonumber(v[2] or '0') }
`;

// A finished unit, recorded once. KEYS: job, its unit results, counters base. ARGV: unit key, result JSON.
// Returns the job's unitsDone.
const UNIT_DONE = `${COUNTERS_LIB}
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return tonumber(redis.call('HGET', KEYS[1], 'unitsDone') or '0') end
local a0, b0 = remaining(KEYS[1])
local done = redis.call('HINCRBY', KEYS[1], 'unitsDone', 1)
local status = redis.call('HGET', KEYS[1], 'status')
if status and not isTerminal(status) then
  local a1, b1 = remaining(KEYS[1])
  adjust(KEYS[3], tenantOf(KEYS[1]), a1 - a0, b1 - b0)
end
return done
`;

// A failed unit. KEYS: job, counters base.
const UNIT_FAILED = `${COUNTERS_LIB}
local a0, b0 = remaining(KEYS[1])
redis.call('HINCRBY', KEYS[1], 'unitsFailed', 1)
local status = redis.call('HGET', KEYS[1], 'status')
if status and not isTerminal(status) then
  local a1, b1 = remaining(KEYS[1])
  adjust(KEYS[2], tenantOf(KEYS[1]), a1 - a0, b1 - b0)
end
return 1
`;

// budget_exhausted -> queued (or running when a unit had started), for a budget that was raised. ARGV: none.
// KEYS[2]: the per-status index base, as in SET_STATUS; KEYS[3]: the counters base.
const REOPEN = `${COUNTERS_LIB}
if redis.call('HGET', KEYS[1], 'status') ~= 'budget_exhausted' then return 0 end
local started = redis.call('HGET', KEYS[1], 'startedAt')
local next = started and 'running' or 'queued'
redis.call('HSET', KEYS[1], 'status', next)
redis.call('HDEL', KEYS[1], 'finishedAt', 'error', 'waiting')
local raw = redis.call('HGET', KEYS[1], 'record')
if raw then
  local rec = cjson.decode(raw)
  local score = redis.call('HGET', KEYS[1], 'score') or '0'
  redis.call('ZREM', KEYS[2] .. 'budget_exhausted', rec['id'])
  redis.call('ZREM', KEYS[2] .. rec['tenant'] .. ':budget_exhausted', rec['id'])
  redis.call('ZADD', KEYS[2] .. next, score, rec['id'])
  redis.call('ZADD', KEYS[2] .. rec['tenant'] .. ':' .. next, score, rec['id'])
  local ra, rb = remaining(KEYS[1])
  adjust(KEYS[3], rec['tenant'], ra, rb)
end
return 1
`;

// Sets status unless the current one is terminal, and moves the job between the
// per-status indexes (KEYS[2] = "<prefix>:jobs-by-status:", followed by the status,
// or by tenant:status; KEYS[3] = the counters base). ARGV: status, nowIso, finishedIfTerminal(0/1), extra field/value pairs...
const SET_STATUS = `${COUNTERS_LIB}
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return -1 end
if ${[...TERMINAL].map((s) => `cur == '${s}'`).join(' or ')} then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1])
local raw = redis.call('HGET', KEYS[1], 'record')
if raw then
  local rec = cjson.decode(raw)
  local id = rec['id']
  local score = redis.call('HGET', KEYS[1], 'score') or '0'
  redis.call('ZREM', KEYS[2] .. cur, id)
  redis.call('ZREM', KEYS[2] .. rec['tenant'] .. ':' .. cur, id)
  redis.call('ZADD', KEYS[2] .. ARGV[1], score, id)
  redis.call('ZADD', KEYS[2] .. rec['tenant'] .. ':' .. ARGV[1], score, id)
  if isTerminal(ARGV[1]) then
    local ra, rb = remaining(KEYS[1])
    adjust(KEYS[3], rec['tenant'], -ra, -rb)
  end
end
if ARGV[1] == 'running' and not redis.call('HGET', KEYS[1], 'startedAt') then redis.call('HSET', KEYS[1], 'startedAt', ARGV[2]) end
if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'finishedAt', ARGV[2]) end
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1]) end
return 1
`;

/** The job fields whose changes a batch's view must see (store.jobMarks); the rest change with status or never. */
const MARK_FIELDS = ['status', 'unitsDone', 'unitsFailed', 'cost'] as const;
const MARKS_SEP = '\u0002';
const markOf = (values: ReadonlyArray<string | null | undefined>): string => values.map((v) => v ?? '').join('\u0001');

/** A MULTI or pipeline answers errors per command: the first one is thrown. */
function failedExec(res: Array<[Error | null, unknown]> | null): void {
  if (!res) throw new Error('the Redis transaction was aborted');
  for (const [err] of res) if (err) throw err;
}

const DEL_IF_EQUAL = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * One Redis subscriber connection for every event stream of a process: a channel
 * is subscribed while at least one listener wants it, and each message is handed
 * to that channel's listeners. The connection is made on first use.
 */
export function createEventHub(redis: Redis, channelOf: (jobId: string) => string, name = 'nightshift-events') {
  let sub: Redis | undefined;
  const listeners = new Map<string, Set<(e: JobEvent) => void>>();
  /** SUBSCRIBE in flight per channel: later listeners wait for it too */
  const subscribing = new Map<string, Promise<unknown>>();
  const connection = (): Redis => {
    if (sub) return sub;
    sub = redis.duplicate({ connectionName: name, enableAutoPipelining: false });
    sub.on('error', () => {});
    sub.on('message', (ch: string, msg: string) => {
      const set = listeners.get(ch);
      if (!set) return;
      let ev: JobEvent;
      try {
        ev = JSON.parse(msg) as JobEvent;
      } catch {
        return;
      }
      for (const fn of [...set]) fn(ev);
    });
    return sub;
  };
  return {
    async subscribe(id: string, onEvent: (e: JobEvent) => void): Promise<() => Promise<void>> {
      const ch = channelOf(id);
      let set = listeners.get(ch);
      const first = !set;
      if (!set) listeners.set(ch, (set = new Set()));
      set.add(onEvent);
      if (first) subscribing.set(ch, connection().subscribe(ch));
      try {
        await subscribing.get(ch);
      } catch (e) {
        set.delete(onEvent);
        if (set.size === 0) {
          listeners.delete(ch);
          subscribing.delete(ch);
        }
        throw e;
      }
      let done = false;
      return async () => {
        if (done) return;
        done = true;
        const s = listeners.get(ch);
        if (!s) return;
        s.delete(onEvent);
        if (s.size === 0) {
          listeners.delete(ch);
          subscribing.delete(ch);
          await sub?.unsubscribe(ch).catch(() => undefined);
        }
      };
    },
    connections: (): number => (sub ? 1 : 0),
    /** channels with at least one listener */
    channels: (): number => listeners.size,
    close(): void {
      listeners.clear();
      sub?.disconnect();
      sub = undefined;
    },
  };
}

export interface ListOptions {
  status?: string;
  batch?: string;
  limit: number;
  cursor?: string;
}

export function createStore(redis: Redis, prefix: string) {
  const k = {
    job: (id: string) => `${prefix}:job:${id}`,
    units: (id: string) => `${prefix}:job:${id}:units`,
    tenantJobs: (tenant: string) => `${prefix}:jobs:${tenant}`,
    allJobs: `${prefix}:jobs`,
    dataset: (tenant: string, id: string) => `${prefix}:dataset:${tenant}:${id}`,
    datasetName: (tenant: string, name: string) => `${prefix}:dataset-name:${tenant}:${name}`,
    events: (id: string) => `${prefix}:events:${id}`,
    /** job ids by status: <statusBase><status> (all tenants) and <statusBase><tenant>:<status> */
    statusBase: `${prefix}:jobs-by-status:`,
    byStatus: (status: string, tenant?: string) => `${prefix}:jobs-by-status:${tenant ? `${tenant}:` : ''}${status}`,
    /** per-tenant unit counters (active, backlog): <countersBase><tenant> */
    countersBase: `${prefix}:tenant-units:`,
    /** bytes of uploaded data sets per tenant */
    storedBytes: (tenant: string) => `${prefix}:dataset-bytes:${tenant}`,
  };
  const events = createEventHub(redis, (id) => k.events(id), `nightshift-events:${prefix}`);

  async function publish(ev: JobEvent): Promise<void> {
    await redis.publish(k.events(ev.jobId), JSON.stringify(ev));
  }

  const NOT_TERMINAL = ['queued', 'scheduled', 'running'] as const;
  const ensureArgs = (tenant: string): string[] => [k.countersBase + tenant, `${prefix}:job:`, ...NOT_TERMINAL.map((st) => k.byStatus(st, tenant))];
  const ensureCounters = (r: Pick<Redis, 'eval'>, tenant: string) => r.eval(COUNTERS_ENSURE, 2 + NOT_TERMINAL.length, ...ensureArgs(tenant));

  /** Queues the commands that store one job on a MULTI or pipeline. */
  function addJob<C extends ChainableCommander>(m: C, rec: JobRecord, status: JobStatus): C {
    // the counters exist before the job is indexed (a recount would otherwise see it and count it twice)
    if (!isTerminal(status)) m.eval(COUNTERS_ENSURE, 2 + NOT_TERMINAL.length, ...ensureArgs(rec.tenant));
    return addJobRecord(m, rec, status);
  }

  /** addJob without the counters' existence check (done once per tenant by the caller) */
  function addJobRecord<C extends ChainableCommander>(m: C, rec: JobRecord, status: JobStatus): C {
    const score = Date.parse(rec.createdAt);
    m.hset(k.job(rec.id), { record: JSON.stringify(rec), tenant: rec.tenant, status, unitsDone: 0, unitsFailed: 0, unitsTotal: rec.unitsTotal, score })
      .zadd(k.tenantJobs(rec.tenant), score, rec.id)
      .zadd(k.allJobs, score, rec.id)
      .zadd(k.byStatus(status), score, rec.id)
      .zadd(k.byStatus(status, rec.tenant), score, rec.id);
    if (!isTerminal(status)) m.hincrby(k.countersBase + rec.tenant, 'active', rec.unitsTotal).hincrby(k.countersBase + rec.tenant, 'backlog', rec.unitsTotal);
    m.publish(k.events(rec.id), JSON.stringify({ type: 'status', jobId: rec.id, at: rec.createdAt, status }));
    return m;
  }

  function toJob(h: Record<string, string>, parsed?: JobRecord): Job | undefined {
    if (!h.record) return undefined;
    const rec = parsed ?? (JSON.parse(h.record) as JobRecord);
    const job: Job = {
      id: rec.id,
      name: rec.name,
      tenant: rec.tenant,
      ...(rec.batchId ? { batchId: rec.batchId } : {}),
      status: h.status as JobStatus,
      createdAt: rec.createdAt,
      ...(h.startedAt ? { startedAt: h.startedAt } : {}),
      ...(h.finishedAt ? { finishedAt: h.finishedAt } : {}),
      progress: {
        unitsDone: Number(h.unitsDone ?? 0),
        unitsTotal: rec.unitsTotal,
        ...(Number(h.unitsFailed ?? 0) > 0 ? { unitsFailed: Number(h.unitsFailed) } : {}),
        ...(h.epoch ? { epoch: Number(h.epoch) } : {}),
        ...(h.epochs ? { epochs: Number(h.epochs) } : {}),
      },
      ...(h.result ? { result: JSON.parse(h.result) as JobResult } : {}),
      ...(h.artifacts ? { artifacts: JSON.parse(h.artifacts) as Record<string, string> } : {}),
      ...(h.cost ? { cost: JSON.parse(h.cost) as NonNullable<Job['cost']> } : {}),
      ...(h.waiting && !isTerminal(h.status ?? '') ? { waiting: JSON.parse(h.waiting) as NonNullable<Job['waiting']> } : {}),
      ...(h.error ? { error: JSON.parse(h.error) as ErrorInfo } : {}),
      ...(h.backend ? { backend: h.backend } : {}),
      ...(h.engine ? { engine: h.engine } : {}),
      ...(h.engineReason ? { engineReason: h.engineReason } : {}),
      ...(h.warnings ? { warnings: JSON.parse(h.warnings) as TrainingWarning[] } : {}),
      ...(rec.placement ? { placement: rec.placement } : {}),
    };
    return job;
  }

  return {
    keys: k,
    redis,

    /**
     * Stores a job: record, indexes, the tenant's unit counters and the status event,
     * in one MULTI (one round trip, all or nothing).
     */
    async createJob(rec: JobRecord, status: JobStatus = 'queued'): Promise<void> {
      await addJob(redis.multi(), rec, status).exec().then(failedExec);
    },

    /**
     * Jobs written in one MULTI, all or none (single submissions committed together):
     * the counters' existence is checked once per tenant, then every record written.
     */
    async createJobsAtomically(recs: JobRecord[], status: JobStatus = 'queued'): Promise<void> {
      if (!recs.length) return;
      const m = redis.multi();
      if (!isTerminal(status)) for (const tenant of new Set(recs.map((r) => r.tenant))) m.eval(COUNTERS_ENSURE, 2 + NOT_TERMINAL.length, ...ensureArgs(tenant));
      for (const rec of recs) addJobRecord(m, rec, status);
      await m.exec().then(failedExec);
    },

    /** Many jobs in one pipeline (a batch's); one status event each. */
    async createJobs(recs: JobRecord[], status: JobStatus = 'queued'): Promise<void> {
      for (let i = 0; i < recs.length; i += 500) {
        const m = redis.pipeline();
        for (const rec of recs.slice(i, i + 500)) addJob(m, rec, status);
        await m.exec().then(failedExec);
      }
    },

    /**
     * A tenant's training units not finished yet over its jobs that are not terminal:
     * `active` (not done and not failed: what counts against the queued-units quota)
     * and `backlog` (not done: where fair-share priorities count from). Two counters
     * kept by the scripts that change jobs, so this is one call whatever the number of jobs.
     */
    async tenantUnits(tenant: string): Promise<{ active: number; backlog: number }> {
      const [active, backlog] = (await ensureCounters(redis, tenant)) as [number, number];
      return { active: Math.max(0, active), backlog: Math.max(0, backlog) };
    },

    /** Training units of a tenant not done yet, over its jobs that are not terminal: the backlog fair-share priorities count from. */
    async tenantBacklog(tenant: string): Promise<number> {
      return Math.max(0, ((await ensureCounters(redis, tenant)) as [number, number])[1]);
    },

    async getRecord(id: string): Promise<JobRecord | undefined> {
      const r = await redis.hget(k.job(id), 'record');
      return r ? (JSON.parse(r) as JobRecord) : undefined;
    },

    async getJob(id: string): Promise<Job | undefined> {
      return toJob(await redis.hgetall(k.job(id)));
    },

    /**
     * Many jobs with their records, read in one pipeline, each record parsed once.
     * The work is handed out in slices of `slice` jobs with the event loop let go
     * between them, so a 1,000-job batch does not hold the process (and every request
     * waiting on it) for the whole read. Jobs that no longer exist are left out.
     * `marks` is what jobMarks answers for the same jobs, from the same read.
     */
    async jobsOf(ids: string[], slice = 100): Promise<{ jobs: Array<{ job: Job; record: JobRecord }>; marks: string }> {
      const pipe = redis.pipeline();
      for (const id of ids) pipe.hgetall(k.job(id));
      const res = (await pipe.exec()) ?? [];
      const out: Array<{ job: Job; record: JobRecord }> = [];
      const marks: string[] = [];
      for (let i = 0; i < ids.length; i++) {
        if (i > 0 && i % slice === 0) await nextTurn();
        const h = (res[i]?.[1] ?? {}) as Record<string, string>;
        marks.push(markOf(MARK_FIELDS.map((f) => h[f])));
        if (!h.record) continue;
        const record = JSON.parse(h.record) as JobRecord;
        out.push({ job: toJob(h, record)!, record });
      }
      return { jobs: out, marks: marks.join(MARKS_SEP) };
    },

    /**
     * A fingerprint of these jobs' state: equal answers mean that none of them changed
     * status, finished or failed a unit, or had its cost settled in between (what a
     * batch's view is built from, besides records that never change). One small read
     * per job, against jobsOf's whole hashes.
     */
    async jobMarks(ids: string[]): Promise<string> {
      const pipe = redis.pipeline();
      for (const id of ids) pipe.hmget(k.job(id), ...MARK_FIELDS);
      const res = (await pipe.exec()) ?? [];
      return ids.map((_, i) => markOf((res[i]?.[1] ?? []) as Array<string | null>)).join(MARKS_SEP);
    },

    /** Many jobs' unit results in one pipeline (sliced as jobsOf), by job id. */
    async unitResultsOf(ids: string[], slice = 100): Promise<Map<string, UnitResult[]>> {
      const out = new Map<string, UnitResult[]>();
      if (!ids.length) return out;
      const pipe = redis.pipeline();
      for (const id of ids) pipe.hgetall(k.units(id));
      const res = (await pipe.exec()) ?? [];
      for (let i = 0; i < ids.length; i++) {
        if (i > 0 && i % slice === 0) await nextTurn();
        out.set(ids[i], Object.values((res[i]?.[1] ?? {}) as Record<string, string>).map((v) => JSON.parse(v) as UnitResult));
      }
      return out;
    },

    /** The record and the status in one call (a worker taking a unit). */
    async getRecordAndStatus(id: string): Promise<{ record?: JobRecord; status?: JobStatus }> {
      const [r, s] = await redis.hmget(k.job(id), 'record', 'status');
      return { ...(r ? { record: JSON.parse(r) as JobRecord } : {}), ...(s ? { status: s as JobStatus } : {}) };
    },

    async getStatus(id: string): Promise<JobStatus | undefined> {
      return ((await redis.hget(k.job(id), 'status')) as JobStatus | null) ?? undefined;
    },

    /** Newest first. The cursor is the id of the last item of the previous page. */
    async listJobs(tenant: string | undefined, o: ListOptions): Promise<{ items: Job[]; nextCursor: string | null }> {
      // a status filter reads that status's index, not every job
      const key = o.status ? k.byStatus(o.status, tenant) : tenant ? k.tenantJobs(tenant) : k.allJobs;
      let max = '+inf';
      let skipId: string | undefined;
      if (o.cursor) {
        const s = await redis.zscore(key, o.cursor);
        if (s === null) return { items: [], nextCursor: null };
        max = s;
        skipId = o.cursor;
      }
      const items: Job[] = [];
      let offset = 0;
      const page = Math.max(50, o.limit * 2);
      let pastCursor = skipId === undefined;
      for (;;) {
        const ids = await redis.zrevrangebyscore(key, max, '-inf', 'LIMIT', offset, page);
        if (ids.length === 0) break;
        offset += ids.length;
        const pipe = redis.pipeline();
        for (const id of ids) pipe.hgetall(k.job(id));
        const res = (await pipe.exec()) ?? [];
        for (let i = 0; i < ids.length; i++) {
          if (!pastCursor) {
            if (ids[i] === skipId) pastCursor = true;
            continue;
          }
          const job = toJob((res[i]?.[1] ?? {}) as Record<string, string>);
          if (!job) continue;
          if (o.status && job.status !== o.status) continue;
          if (o.batch && job.batchId !== o.batch) continue;
          items.push(job);
          if (items.length > o.limit) break;
        }
        if (items.length > o.limit) break;
      }
      const more = items.length > o.limit;
      const out = items.slice(0, o.limit);
      return { items: out, nextCursor: more ? out[out.length - 1].id : null };
    },

    /** false when the job is already in a terminal state (or unknown). */
    async setStatus(
      id: string,
      status: JobStatus,
      extra: { error?: ErrorInfo; result?: JobResult; artifacts?: Record<string, string>; backend?: string; engine?: string; warnings?: TrainingWarning[] } = {},
    ): Promise<boolean> {
      const now = new Date().toISOString();
      const fields: string[] = [];
      if (extra.error) fields.push('error', JSON.stringify(extra.error));
      if (extra.result) fields.push('result', JSON.stringify(extra.result));
      if (extra.artifacts) fields.push('artifacts', JSON.stringify(extra.artifacts));
      if (extra.backend) fields.push('backend', extra.backend);
      if (extra.engine) fields.push('engine', extra.engine);
      if (extra.warnings?.length) fields.push('warnings', JSON.stringify(extra.warnings));
      const r = (await redis.eval(SET_STATUS, 3, k.job(id), k.statusBase, k.countersBase, status, now, isTerminal(status) ? '1' : '0', ...fields)) as number;
      if (r === 1) await publish({ type: 'status', jobId: id, at: now, status, ...(extra.error ? { error: extra.error } : {}) });
      return r === 1;
    },

    /** scheduled -> queued once the window opens; false when a unit started (or it ended) meanwhile. */
    async promoteScheduled(id: string): Promise<boolean> {
      const r = (await redis.eval(
        `if redis.call('HGET', KEYS[1], 'status') == 'scheduled' then redis.call('HSET', KEYS[1], 'status', 'queued') return 1 end return 0`,
        1, k.job(id),
      )) as number;
      if (r === 1) await publish({ type: 'status', jobId: id, at: new Date().toISOString(), status: 'queued' });
      return r === 1;
    },

    /** why the job's queued work does not run (undefined clears it) */
    async setWaiting(id: string, waiting: { reason: string; message: string } | undefined): Promise<void> {
      if (waiting) await redis.hset(k.job(id), 'waiting', JSON.stringify(waiting));
      else await redis.hdel(k.job(id), 'waiting');
    },

    /** a job stopped by its budget goes back to queued/running (the budget was raised); false if it was not budget_exhausted */
    async reopenFromBudget(id: string): Promise<boolean> {
      const r = (await redis.eval(REOPEN, 3, k.job(id), k.statusBase, k.countersBase)) as number;
      if (r === 1) {
        const status = await redis.hget(k.job(id), 'status');
        await publish({ type: 'status', jobId: id, at: new Date().toISOString(), status });
      }
      return r === 1;
    },

    async setField(id: string, field: 'backend' | 'engine' | 'engineReason' | 'cost', value: string): Promise<void> {
      await redis.hset(k.job(id), field, value);
    },

    /** Called every epoch of every running unit: one round trip for the field update and the event. */
    async progress(id: string, unit: string, epoch: number, epochs: number, logs?: Record<string, number>): Promise<void> {
      const ev: JobEvent = { type: 'progress', jobId: id, at: new Date().toISOString(), unit, epoch, epochs, ...(logs ? { logs } : {}) };
      await redis.multi().hset(k.job(id), { epoch, epochs }).publish(k.events(id), JSON.stringify(ev)).exec();
    },

    /** Records a finished unit once; a retried or duplicated report does not count twice. */
    async unitDone(id: string, result: UnitResult): Promise<number> {
      const done = Number(await redis.eval(UNIT_DONE, 3, k.job(id), k.units(id), k.countersBase, result.key, JSON.stringify(result)));
      await publish({ type: 'unit', jobId: id, at: new Date().toISOString(), unit: result.key, unitsDone: done, score: result.score ?? null, worker: result.worker });
      return done;
    },

    /**
     * Training units of a tenant's jobs that are queued, scheduled or running and
     * not yet done: what counts against the tenant's queued-units quota.
     */
    async activeUnits(tenant: string): Promise<number> {
      return Math.max(0, ((await ensureCounters(redis, tenant)) as [number, number])[0]);
    },

    async unitFailed(id: string): Promise<void> {
      await redis.eval(UNIT_FAILED, 2, k.job(id), k.countersBase);
    },

    async unitResults(id: string): Promise<UnitResult[]> {
      const h = await redis.hgetall(k.units(id));
      return Object.values(h).map((v) => JSON.parse(v) as UnitResult);
    },

    /** Stores a data set; its name (when given) then refers to the newest upload under that name. */
    async putDataset(d: DatasetRecord): Promise<void> {
      const m = redis.multi().set(k.dataset(d.tenant, d.id), JSON.stringify(d));
      if (d.name) m.set(k.datasetName(d.tenant, d.name), d.id);
      await m.exec();
    },

    /** By id, or by the name given at upload (`dataset:mammography`). */
    async getDataset(tenant: string, idOrName: string): Promise<DatasetRecord | undefined> {
      let v = await redis.get(k.dataset(tenant, idOrName));
      if (!v) {
        const id = await redis.get(k.datasetName(tenant, idOrName));
        if (id) v = await redis.get(k.dataset(tenant, id));
      }
      return v ? (JSON.parse(v) as DatasetRecord) : undefined;
    },

    /** Forgets a data set record (and its name, when the name still points at it); answers whether it existed. */
    async deleteDataset(d: DatasetRecord): Promise<boolean> {
      const m = redis.multi().del(k.dataset(d.tenant, d.id));
      const res = await m.exec();
      if (d.name) await redis.eval(DEL_IF_EQUAL, 1, k.datasetName(d.tenant, d.name), d.id);
      return Number(res?.[0]?.[1] ?? 0) > 0;
    },

    /** Adds (or with a negative delta, subtracts) bytes to a tenant's stored-bytes tally; answers the new total. */
    async addStoredBytes(tenant: string, delta: number): Promise<number> {
      return redis.incrby(k.storedBytes(tenant), delta);
    },

    async storedBytes(tenant: string): Promise<number> {
      return Number((await redis.get(k.storedBytes(tenant))) ?? 0);
    },

    /** Data set records of a tenant (SCAN, for deletions and quotas; not a request path of every call). */
    async listDatasets(tenant: string): Promise<DatasetRecord[]> {
      const out: DatasetRecord[] = [];
      let cursor = '0';
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', `${k.dataset(tenant, '')}*`, 'COUNT', 500);
        cursor = next;
        if (found.length) for (const v of await redis.mget(found)) if (v) out.push(JSON.parse(v) as DatasetRecord);
      } while (cursor !== '0');
      return out;
    },

    publish,

    // ---- reads for passes over many jobs (the provisioner's budget gate) ----

    /** Statuses of many jobs in one pipeline (absent: no such job). */
    async getStatuses(ids: string[]): Promise<Map<string, JobStatus>> {
      const out = new Map<string, JobStatus>();
      for (let i = 0; i < ids.length; i += 1_000) {
        const chunk = ids.slice(i, i + 1_000);
        const pipe = redis.pipeline();
        for (const id of chunk) pipe.hget(k.job(id), 'status');
        const res = (await pipe.exec()) ?? [];
        chunk.forEach((id, j) => {
          const st = res[j]?.[1] as string | null | undefined;
          if (st) out.set(id, st as JobStatus);
        });
      }
      return out;
    },

    /**
     * Subscribe to a job's events; returns an unsubscribe function. All subscriptions
     * of this store share one Redis connection (see createEventHub).
     */
    subscribe: events.subscribe,
    /** Redis subscriber connections this store holds (0 or 1). */
    subscriberConnections: events.connections,
    closeSubscriptions: events.close,
  };
}

export type Store = ReturnType<typeof createStore>;
