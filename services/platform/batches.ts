/**
 * Batches in Redis: the record (its jobs, schedule, budget), per-tenant and global
 * indexes, the set of batches not finished yet (what the supervisor walks), and
 * the assembled view (status, counts, cost, leaderboard) the API, the CLI, the
 * report and the supervisor share. State lives in Redis and BullMQ only, so a
 * restarted API, provisioner or Redis (with AOF) loses nothing.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { batchStatus, isBatchTerminal, type Batch, type BatchProjection, type BatchRecord, type BatchStatus } from '../core/batch.ts';
import { JOB_STATUSES, type Job, type JobStatus, type UnitResult } from '../core/job.ts';
import { buildLeaderboard, type Contender, type Leaderboard } from '../core/leaderboard.ts';
import { primaryMetric, resolveJobSpec } from '../core/job-defaults.ts';
import type { JobCost } from '../core/costs.ts';
import { createCostReader } from './costs.ts';
import { createFleetStore } from './fleet-store.ts';
import { createMeter } from './meter.ts';
import type { JobRecord, Store } from './store.ts';

export interface BatchListOptions {
  status?: string;
  limit: number;
  cursor?: string;
  /** at most this many leaderboard rows per batch, best first (a list page shows the best job; a 1,000-job batch's rows are ~0.5 MiB) */
  rows?: number;
}

/** The fields of a batch that change after submission. */
interface BatchState {
  cancelled: boolean;
  finishedAt?: string;
  atRisk: boolean;
  projection?: BatchProjection;
  reportWritten?: boolean;
}

/** What a job cost: the instances it ran on or caused, live ones up to now (undefined: nothing metered). */
const costUsdOf = (live: JobCost | undefined, settledUsd: number | null): number | null =>
  live && (live.instanceSeconds > 0 || live.usd > 0) ? live.usd : settledUsd;

/** What a batch's view takes from each job besides its leaderboard entry. */
interface JobState {
  id: string;
  status: JobStatus;
  unitsDone: number;
  /** the cost written into the job's record once its instances ended */
  settledUsd: number | null;
}

/** How long the API's batch views reuse a batch's job costs (createBatchStore's costsOfBatch). */
export const COSTS_MAX_AGE_MS = 5_000;
const MAX_BATCH_COSTS = 200;

/** Where a batch view reads its jobs' costs (the API passes its cost service's cached reader). */
export interface JobCostSource {
  jobCosts(jobIds: string[]): Promise<Map<string, JobCost>>;
}

/** How much a batch store keeps in memory (tests set them small). */
export interface BatchStoreLimits {
  /** jobs whose leaderboard facts are kept */
  facts?: number;
  /** jobs of finished batches whose view parts are kept, in all */
  keptJobs?: number;
}

export function createBatchStore(redis: Redis, prefix: string, store: Store, costs?: JobCostSource, limits: BatchStoreLimits = {}) {
  // each job's cost as GET /v1/jobs/:id answers it: instances still running count up to now,
  // so a running batch shows its cost so far, not only what its retired instances cost.
  // Without a shared source, each view reads and apportions every instance of the batch
  // afresh (the supervisor's one view of an ended batch); the API shares its cached reader,
  // so a dashboard polling a running 1,000-job batch does not redo that every 2 s.
  const meter = createMeter(redis, prefix);
  const instances = createFleetStore(redis, prefix).instanceSource();
  const k = {
    batch: (id: string) => `${prefix}:batch:${id}`,
    tenant: (tenant: string) => `${prefix}:batches:${tenant}`,
    all: `${prefix}:batches`,
    active: `${prefix}:batches:active`,
  };

  async function state(id: string): Promise<BatchState> {
    const h = await redis.hmget(k.batch(id), 'cancelled', 'finishedAt', 'atRisk', 'projection', 'reportWritten');
    return {
      cancelled: h[0] === '1',
      ...(h[1] ? { finishedAt: h[1] } : {}),
      atRisk: h[2] === '1',
      ...(h[3] ? { projection: JSON.parse(h[3]) as BatchProjection } : {}),
      ...(h[4] === '1' ? { reportWritten: true } : {}),
    };
  }

  async function getRecord(id: string): Promise<BatchRecord | undefined> {
    const r = await redis.hget(k.batch(id), 'record');
    return r ? (JSON.parse(r) as BatchRecord) : undefined;
  }

  /** Jobs of a batch, their records and unit results, read in two pipelines. */
  async function members(rec: BatchRecord): Promise<Array<{ job: Job; record: JobRecord; units: UnitResult[] }>> {
    const { jobs } = await store.jobsOf(rec.jobIds);
    const units = await store.unitResultsOf(jobs.map((m) => m.job.id));
    return jobs.map((m) => ({ ...m, units: units.get(m.job.id) ?? [] }));
  }

  /**
   * What a leaderboard row takes from a job's record and unit results, by job id.
   * A record never changes once written, and a completed job's results never change
   * either, so a view reads the unit results of a job only once it has completed and
   * only the first time (a dashboard polls a running 1,000-job batch every 2 s).
   * Bounded: the oldest entry goes past MAX_FACTS jobs (with the kept parts below, about
   * 2 MiB of heap per 1,000 jobs of 10 folds, measured with bench/batch-view.ts's batch).
   */
  const facts = new Map<string, { metric: string; foldSignature: string; evals?: Pick<Contender, 'scores' | 'testRows' | 'trainRows'> }>();
  const MAX_FACTS = limits.facts ?? 20_000;
  function factsOf(m: { job: Job; record: JobRecord }) {
    let f = facts.get(m.job.id);
    if (!f) {
      const spec = resolveJobSpec(m.record.spec);
      f = { metric: primaryMetric(spec), foldSignature: JSON.stringify([spec.dataset.uri, spec.dataset.target, spec.evaluation]) };
      if (facts.size >= MAX_FACTS) facts.delete(facts.keys().next().value!);
      facts.set(m.job.id, f);
    }
    return f;
  }
  function evalsOf(units: UnitResult[]): Pick<Contender, 'scores' | 'testRows' | 'trainRows'> {
    const evals = units.filter((u) => u.kind === 'eval' && typeof u.score === 'number');
    if (!evals.length) return {};
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    return { scores: Object.fromEntries(evals.map((u) => [u.key, u.score!])), testRows: mean(evals.map((u) => u.testRows)), trainRows: mean(evals.map((u) => u.trainRows)) };
  }

  function contender(rec: BatchRecord, i: number, m: { job: Job; record: JobRecord }, f: ReturnType<typeof factsOf>, costUsd: number | null): Contender {
    const evals = m.job.status === 'completed' ? f.evals ?? {} : {};
    const started = m.job.startedAt ? Date.parse(m.job.startedAt) : undefined;
    const finished = m.job.finishedAt ? Date.parse(m.job.finishedAt) : undefined;
    return {
      jobId: m.job.id,
      name: m.job.name,
      status: m.job.status,
      params: rec.params[i] ?? {},
      metric: m.job.result?.metric ?? f.metric,
      ...(evals.scores ? { scores: evals.scores } : {}),
      foldSignature: f.foldSignature,
      ...(evals.scores ? { testRows: evals.testRows, trainRows: evals.trainRows } : {}),
      costUsd,
      warnings: [...new Set((m.job.warnings ?? []).map((w) => w.code))],
      durationS: started !== undefined && finished !== undefined ? (finished - started) / 1000 : null,
    };
  }

  /**
   * A batch's job costs as the API's views answer them: read at most every
   * COSTS_MAX_AGE_MS per batch. Each of a 1,000-job batch's jobs has a share of each of
   * the 100 instances launched for it: 100,000 instance-set members read and shares
   * summed, 100-200 ms of Redis and CPU while the fleet drains, every 2 s while a
   * dashboard polls. A running batch's cost so far is then at most that old. Without
   * a shared source (the supervisor's one view of an ended batch) costs are read afresh.
   */
  const batchCosts = new Map<string, { at: number; jobs: string; costs: Promise<Map<string, JobCost>> }>();
  function costsOfBatch(rec: BatchRecord, now: number): Promise<Map<string, JobCost>> {
    if (!costs) return createCostReader(meter, instances, () => now).jobCosts(rec.jobIds);
    const t = performance.now();
    const kept = batchCosts.get(rec.id);
    // a retry puts new jobs in the failed ones' places: the batch's costs are read again
    const jobs = rec.jobIds.join(',');
    if (kept && t - kept.at < COSTS_MAX_AGE_MS && kept.jobs === jobs) return kept.costs;
    const read = costs.jobCosts(rec.jobIds);
    const entry = { at: t, jobs, costs: read };
    batchCosts.delete(rec.id);
    if (batchCosts.size >= MAX_BATCH_COSTS) batchCosts.delete(batchCosts.keys().next().value!);
    batchCosts.set(rec.id, entry);
    read.catch(() => {
      if (batchCosts.get(rec.id) === entry) batchCosts.delete(rec.id);
    });
    return read;
  }

  /**
   * The parts of a finished batch's view that change only with its jobs (each job's
   * state and unpriced leaderboard entry), kept with the jobs' marks they were read
   * with (store.jobMarks): a later view reads the marks, one small read a job, and reuses
   * the parts while none changed. A list page shows up to 50 batches, each a full view
   * otherwise. Only batches seen finished are kept (a running one changes with every
   * unit), oldest out first past MAX_KEPT_JOBS jobs in all; costs are never kept here
   * (costsOfBatch).
   */
  const finished = new Map<string, { jobIds: string; marks: string; jobs: JobState[]; base: Contender[] }>();
  const MAX_KEPT_JOBS = limits.keptJobs ?? 20_000;
  let keptJobs = 0;
  function keep(id: string, parts: { jobIds: string; marks: string; jobs: JobState[]; base: Contender[] } | undefined): void {
    const old = finished.get(id);
    if (old) {
      finished.delete(id);
      keptJobs -= old.jobs.length;
    }
    if (!parts) return;
    finished.set(id, parts);
    keptJobs += parts.jobs.length;
    for (const [oldest, o] of finished) {
      if (keptJobs <= MAX_KEPT_JOBS || oldest === id) break;
      finished.delete(oldest);
      keptJobs -= o.jobs.length;
    }
  }

  /** The batch's jobs' states and unpriced leaderboard entries, reused or read afresh. */
  async function parts(rec: BatchRecord, jobIds: string): Promise<{ jobs: JobState[]; base: Contender[]; marks: string; reused: boolean }> {
    const kept = finished.get(rec.id);
    if (kept && kept.jobIds === jobIds) {
      const marks = await store.jobMarks(rec.jobIds);
      if (marks === kept.marks) return { ...kept, reused: true };
    }
    const { jobs: ms, marks } = await store.jobsOf(rec.jobIds);
    // held here, not looked up again: the cache may drop entries while this view waits
    const fs = ms.map(factsOf);
    // unit results only for completed jobs not seen completed before (a completed job's results are final)
    const fresh = ms.flatMap((m, i) => (m.job.status === 'completed' && !fs[i].evals ? [i] : []));
    const results = await store.unitResultsOf(fresh.map((i) => ms[i].job.id));
    for (const i of fresh) fs[i].evals = evalsOf(results.get(ms[i].job.id) ?? []);
    const position = new Map(rec.jobIds.map((jobId, i) => [jobId, i]));
    const base: Contender[] = [];
    for (let i = 0; i < ms.length; i++) {
      if (i > 0 && i % 200 === 0) await nextTurn(); // let other requests in
      base.push(contender(rec, position.get(ms[i].job.id)!, ms[i], fs[i], null));
    }
    const jobs = ms.map(({ job }): JobState => ({ id: job.id, status: job.status as JobStatus, unitsDone: job.progress.unitsDone, settledUsd: job.cost?.usd ?? null }));
    return { jobs, base, marks, reused: false };
  }

  async function view(id: string, now = Date.now()): Promise<{ batch: Batch; leaderboard: Leaderboard } | undefined> {
    const rec = await getRecord(id);
    if (!rec) return undefined;
    const jobIds = rec.jobIds.join(',');
    const [st, p, live] = await Promise.all([state(id), parts(rec, jobIds), costsOfBatch(rec, now)]);
    const counts: Record<string, number> = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0]));
    for (const j of p.jobs) counts[j.status] = (counts[j.status] ?? 0) + 1;
    const status: BatchStatus = batchStatus(p.jobs.map((j) => j.status), { cancelled: st.cancelled, ...(rec.notBefore ? { notBefore: Date.parse(rec.notBefore) } : {}), now });
    const jobCosts = p.jobs.map((j) => costUsdOf(live.get(j.id), j.settledUsd));
    const metered = jobCosts.filter((x): x is number => x !== null);
    const contenders = p.base.map((c, i): Contender => ({ ...c, costUsd: jobCosts[i] }));
    if (!isBatchTerminal(status)) keep(id, undefined);
    else if (!p.reused) keep(id, { jobIds, marks: p.marks, jobs: p.jobs, base: p.base });
    await nextTurn();
    const leaderboard = buildLeaderboard(contenders);
    const batch: Batch = {
      id: rec.id,
      name: rec.name,
      tenant: rec.tenant,
      status,
      createdAt: rec.createdAt,
      ...(st.finishedAt && isBatchTerminal(status) ? { finishedAt: st.finishedAt } : {}),
      ...(rec.notBefore ? { notBefore: rec.notBefore } : {}),
      ...(rec.deadline ? { deadline: rec.deadline } : {}),
      ...(rec.window ? { window: rec.window } : {}),
      ...(rec.budgetUsd !== undefined ? { budgetUsd: rec.budgetUsd } : {}),
      priority: rec.priority,
      jobIds: rec.jobIds,
      counts,
      progress: { unitsDone: p.jobs.reduce((s, j) => s + j.unitsDone, 0), unitsTotal: rec.unitsTotal },
      costUsd: metered.length ? Math.round(metered.reduce((s, x) => s + x, 0) * 1e6) / 1e6 : null,
      atRisk: !isBatchTerminal(status) && st.atRisk,
      ...(st.projection && !isBatchTerminal(status) ? { projection: st.projection } : {}),
      metric: leaderboard.metric,
      higherIsBetter: leaderboard.higherIsBetter,
      leaderboard: leaderboard.rows,
    };
    return { batch, leaderboard };
  }

  return {
    keys: k,
    getRecord,
    state,
    view,
    members,

    async create(rec: BatchRecord): Promise<void> {
      const score = Date.parse(rec.createdAt);
      await redis
        .multi()
        .hset(k.batch(rec.id), { record: JSON.stringify(rec), tenant: rec.tenant, cancelled: '0', atRisk: '0' })
        .zadd(k.tenant(rec.tenant), score, rec.id)
        .zadd(k.all, score, rec.id)
        .sadd(k.active, rec.id)
        .exec();
    },

    async replaceRecord(rec: BatchRecord): Promise<void> {
      await redis.hset(k.batch(rec.id), 'record', JSON.stringify(rec));
    },

    async tenantOf(id: string): Promise<string | undefined> {
      return (await redis.hget(k.batch(id), 'tenant')) ?? undefined;
    },

    async markCancelled(id: string): Promise<void> {
      await redis.hset(k.batch(id), 'cancelled', '1');
    },

    async setProjection(id: string, atRisk: boolean, p: BatchProjection | undefined): Promise<void> {
      const m = redis.multi().hset(k.batch(id), 'atRisk', atRisk ? '1' : '0');
      if (p) m.hset(k.batch(id), 'projection', JSON.stringify(p));
      else m.hdel(k.batch(id), 'projection');
      await m.exec();
    },

    /** Ends the batch's active life: it leaves the supervisor's set and keeps its finish time. */
    async finish(id: string, at: string): Promise<void> {
      await redis.multi().hsetnx(k.batch(id), 'finishedAt', at).hset(k.batch(id), 'reportWritten', '1').srem(k.active, id).exec();
    },

    /** A batch is active again (retry-failed re-queued some of its jobs). */
    async reactivate(id: string): Promise<void> {
      await redis.multi().hdel(k.batch(id), 'finishedAt', 'reportWritten').sadd(k.active, id).exec();
    },

    async active(): Promise<string[]> {
      return redis.smembers(k.active);
    },

    /** Newest first; the cursor is the id of the last item of the previous page. */
    async list(tenant: string | undefined, o: BatchListOptions, now = Date.now()): Promise<{ items: Batch[]; nextCursor: string | null }> {
      const key = tenant ? k.tenant(tenant) : k.all;
      let max = '+inf';
      let pastCursor = o.cursor === undefined;
      if (o.cursor) {
        const s = await redis.zscore(key, o.cursor);
        if (s === null) return { items: [], nextCursor: null };
        max = s; // same-millisecond ids after the cursor are kept: skip up to the cursor itself
      }
      const items: Batch[] = [];
      let offset = 0;
      const page = Math.max(20, o.limit + 1);
      for (;;) {
        const ids = await redis.zrevrangebyscore(key, max, '-inf', 'LIMIT', offset, page);
        if (ids.length === 0) break;
        offset += ids.length;
        for (const id of ids) {
          if (!pastCursor) {
            if (id === o.cursor) pastCursor = true;
            continue;
          }
          const v = await view(id, now);
          if (!v) continue;
          if (o.status && v.batch.status !== o.status) continue;
          items.push(o.rows === undefined ? v.batch : { ...v.batch, leaderboard: v.batch.leaderboard.slice(0, o.rows) });
          if (items.length > o.limit) break;
        }
        if (items.length > o.limit) break;
      }
      const more = items.length > o.limit;
      const out = items.slice(0, o.limit);
      return { items: out, nextCursor: more ? out[out.length - 1].id : null };
    },

    /** The budget a batch was submitted with (the cost gate reads it); undefined: none. */
    async budgetUsd(id: string): Promise<number | undefined> {
      return (await getRecord(id))?.budgetUsd;
    },
  };
}

export type BatchStore = ReturnType<typeof createBatchStore>;

/** The budget of a batch, for the budget gate (scope "batch"). */
export async function batchBudgetUsd(batches: BatchStore, batchId: string): Promise<number | undefined> {
  return batches.budgetUsd(batchId);
}
