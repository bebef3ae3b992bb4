/**
 * The retention sweeper: finished jobs older than NIGHTSHIFT_RETENTION_DAYS leave
 * Redis (the job hash, its unit results, its index entries, its BullMQ jobs and its
 * entry in the provisioner's demand register);
 * their files stay in S3. Before a job leaves, the Job as the API showed it is
 * written to jobs/<id>/job.json (GET /v1/jobs/:id answers it with archived: true)
 * and listed in index/jobs/<tenant>/<day finished>/<sweep>.jsonl.
 *
 * Cheap: it reads only the per-status indexes of terminal statuses, and only the
 * entries created before the cutoff (a job finishes after it is created, so
 * nothing newer can qualify), in pages. Safe when two run: a sweep takes a lock,
 * and each removal is one Lua script that checks the job's status and finishedAt
 * are still what the decision saw.
 */
import { randomBytes } from 'node:crypto';
import type { ArtifactStore } from '../core/artifacts.ts';
import { keys } from '../core/keys.ts';
import { TERMINAL, type Job } from '../core/job.ts';
import { archiveDay, chooseTrims, retentionCutoff, type TrimCandidate } from '../core/retention.ts';
import { forgetDemand, type Queues } from './queue.ts';
import type { Store } from './store.ts';

// KEYS: job, units, tenant index, all-jobs index, status index, tenant status index.
// ARGV: expected status, expected finishedAt, job id.
const TRIM = `
local h = redis.call('HMGET', KEYS[1], 'status', 'finishedAt')
if h[1] ~= ARGV[1] or h[2] ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
for i = 3, 6 do redis.call('ZREM', KEYS[i], ARGV[3]) end
return 1
`;

const LOCK_RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** Files written at once while archiving. */
const PUTS_AT_ONCE = 16;

export interface RetentionDeps {
  store: Store;
  queues: Queues;
  artifacts: ArtifactStore;
  /** NIGHTSHIFT_RETENTION_DAYS (0 = keep forever) */
  days: number;
  now?: () => number;
  /** jobs read per page (default 200) */
  pageSize?: number;
  logger?: { info(o: object, m?: string): void; warn(o: object, m?: string): void };
}

export interface SweepResult {
  /** index entries looked at */
  scanned: number;
  trimmed: number;
  /** false when another sweeper held the lock (or retention is off) */
  ran: boolean;
}

export function createRetention(d: RetentionDeps) {
  const { store, queues, artifacts } = d;
  const redis = store.redis;
  const k = store.keys;
  const now = d.now ?? Date.now;
  const pageSize = d.pageSize ?? 200;
  const lockKey = `${k.allJobs}:retention-lock`;

  async function candidates(ids: string[]): Promise<Array<TrimCandidate & { tenant?: string }>> {
    const pipe = redis.pipeline();
    for (const id of ids) pipe.hmget(k.job(id), 'status', 'finishedAt', 'record');
    const res = (await pipe.exec()) ?? [];
    return ids.map((id, i) => {
      const [status, finishedAt, raw] = (res[i]?.[1] ?? [null, null, null]) as Array<string | null>;
      let batchId: string | undefined;
      let tenant: string | undefined;
      if (raw) {
        const rec = JSON.parse(raw) as { batchId?: string; tenant?: string };
        batchId = rec.batchId;
        tenant = rec.tenant;
      }
      return { id, status: raw ? status : null, finishedAt, ...(batchId ? { batchId } : {}), ...(tenant ? { tenant } : {}) };
    });
  }

  /** Removes the job's BullMQ parent and units (those BullMQ's own removeOnComplete/removeOnFail have not taken yet). */
  async function removeQueueJobs(id: string): Promise<void> {
    const unitKeys = await redis.hkeys(k.units(id));
    await queues.jobs.remove(id, { removeChildren: true }).catch(() => 0);
    // units the parent no longer lists (failed ones, or the parent already gone): by id
    await Promise.all(unitKeys.map((u) => queues.units.remove(`${id}.${u}`).catch(() => 0)));
    // and its entry in the provisioner's demand register, where no provisioner pass has dropped it
    await forgetDemand(queues, [id]).catch(() => undefined);
  }

  async function archive(jobs: Job[], sweep: string, at: string): Promise<void> {
    for (let i = 0; i < jobs.length; i += PUTS_AT_ONCE) {
      await Promise.all(jobs.slice(i, i + PUTS_AT_ONCE).map((j) => artifacts.putJson(keys.jobArchive(j.id), { ...j, archived: true, archivedAt: at })));
    }
    const lines = new Map<string, string[]>();
    for (const j of jobs) {
      const key = keys.archiveIndex(j.tenant, archiveDay(j.finishedAt ?? ''), sweep);
      const row = { id: j.id, name: j.name, status: j.status, createdAt: j.createdAt, finishedAt: j.finishedAt, ...(j.result ? { mean: j.result.mean, metric: j.result.metric } : {}) };
      lines.set(key, [...(lines.get(key) ?? []), JSON.stringify(row)]);
    }
    for (const [key, rows] of lines) await artifacts.put(key, rows.join('\n') + '\n', 'application/x-ndjson');
  }

  async function sweep(): Promise<SweepResult> {
    const cutoff = retentionCutoff(now(), d.days);
    if (cutoff === undefined) return { scanned: 0, trimmed: 0, ran: false };
    const token = randomBytes(8).toString('hex');
    const locked = await redis.set(lockKey, token, 'PX', 10 * 60_000, 'NX');
    if (locked !== 'OK') return { scanned: 0, trimmed: 0, ran: false };
    const sweepId = `${new Date(now()).toISOString().replace(/[:.]/g, '-')}-${token.slice(0, 6)}`;
    let scanned = 0;
    let trimmed = 0;
    let page = 0;
    try {
      for (const status of TERMINAL) {
        let offset = 0;
        for (;;) {
          const ids = await redis.zrangebyscore(k.byStatus(status), '-inf', cutoff, 'LIMIT', offset, pageSize);
          if (ids.length === 0) break;
          scanned += ids.length;
          const cands = await candidates(ids);
          const chosen = chooseTrims(cands, cutoff) as Array<TrimCandidate & { tenant?: string }>;
          const jobs = (await Promise.all(chosen.map((c) => store.getJob(c.id)))).filter((j): j is Job => j !== undefined);
          // the archive is written before anything leaves Redis: a failed write keeps the job
          if (jobs.length) await archive(jobs, `${sweepId}-${page++}`, new Date(now()).toISOString());
          let removed = 0;
          for (const c of chosen) {
            if (!c.tenant || !c.status) continue;
            await removeQueueJobs(c.id);
            const r = (await redis.eval(
              TRIM, 6,
              k.job(c.id), k.units(c.id), k.tenantJobs(c.tenant), k.allJobs, k.byStatus(c.status), k.byStatus(c.status, c.tenant),
              c.status, c.finishedAt ?? '', c.id,
            )) as number;
            removed += r;
          }
          trimmed += removed;
          // the page's kept entries stay in the index: step over them
          offset += ids.length - removed;
        }
      }
    } finally {
      await redis.eval(LOCK_RELEASE, 1, lockKey, token).catch(() => undefined);
    }
    if (trimmed > 0) d.logger?.info({ trimmed, scanned, days: d.days }, 'retention: finished jobs moved out of Redis (files stay in S3)');
    return { scanned, trimmed, ran: true };
  }

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  return {
    sweep,
    /** Sweeps every intervalMs (default 10 min), the first time after firstMs (default 60 s). */
    start(o: { intervalMs?: number; firstMs?: number } = {}): void {
      if (timer || d.days <= 0) return;
      const loop = (wait: number) => {
        timer = setTimeout(() => {
          running = sweep()
            .catch((err: Error) => d.logger?.warn({ err: err.message }, 'retention sweep failed; the next one retries'))
            .finally(() => {
              if (timer) loop(o.intervalMs ?? 10 * 60_000);
            });
        }, wait);
        timer.unref();
      };
      loop(o.firstMs ?? 60_000);
    },
    async stop(): Promise<void> {
      if (timer) clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}

export type Retention = ReturnType<typeof createRetention>;

/** Archived jobs of a tenant, from the S3 index (newest day last). */
export async function listArchivedJobs(artifacts: ArtifactStore, tenant: string): Promise<Array<{ id: string; name: string; status: string; createdAt: string; finishedAt?: string }>> {
  const files = await artifacts.list(keys.archiveIndexPrefix(tenant));
  const out: Array<{ id: string; name: string; status: string; createdAt: string; finishedAt?: string }> = [];
  for (const f of files) {
    const b = await artifacts.get(f);
    if (!b) continue;
    for (const line of b.toString('utf8').split('\n')) if (line.trim()) out.push(JSON.parse(line) as (typeof out)[number]);
  }
  return out;
}

/** The archive copy of a job retention took out of Redis, if there is one. */
export async function readArchivedJob(artifacts: ArtifactStore, id: string): Promise<Job | undefined> {
  const j = await artifacts.getJson<Job>(keys.jobArchive(id));
  return j && j.id === id && j.archived === true ? j : undefined;
}
