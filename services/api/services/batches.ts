/**
 * Batches: expansion and acceptance (every job checked before any is stored),
 * lookup with tenant isolation, the morning report, cancellation and retry of the
 * failed jobs. Scheduling decisions are pure (core/schedule.ts); the supervisor in
 * the provisioner enforces deadlines.
 */
import type { ArtifactStore } from '../../core/artifacts.ts';
import { isBatchTerminal, reportCsv, reportMarkdown, type Batch, type BatchAccepted, type BatchDryRun, type BatchRecord } from '../../core/batch.ts';
import { BATCH_LIMITS, expandBatch, type BatchSpec } from '../../core/batch-spec.ts';
import { NightshiftError, notFound, validationError } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import { isTerminal, type Job } from '../../core/job.ts';
import { resolveSchedule } from '../../core/schedule.ts';
import type { BatchListOptions, BatchStore } from '../../platform/batches.ts';
import type { Store } from '../../platform/store.ts';
import { canSee, type Principal } from '../auth.ts';
import type { JobService } from './jobs.ts';
import { JobSpecSchema } from '../../core/spec.ts';
import { jobSpecProblem } from '../validation.ts';

const checkJobSpecSchema = jobSpecProblem(JobSpecSchema as unknown as Record<string, unknown>);

export interface BatchServiceDeps {
  store: Store;
  batches: BatchStore;
  jobs: JobService;
  artifacts: ArtifactStore;
  now?: () => Date;
}

export const batchReportKey = (id: string): string => `batches/${id}/report.md`;

export function createBatchService({ store, batches, jobs, artifacts, now = () => new Date() }: BatchServiceDeps) {
  async function visible(p: Principal, id: string): Promise<BatchRecord> {
    const rec = await batches.getRecord(id);
    if (!rec || !canSee(p, rec.tenant)) throw notFound('batch', id);
    return rec;
  }

  async function get(p: Principal, id: string): Promise<Batch> {
    await visible(p, id);
    const v = await batches.view(id, now().getTime());
    if (!v) throw notFound('batch', id);
    return v.batch;
  }

  /** Schedule, expansion and every job's checks; throws a validation error naming the path. */
  async function plan(p: Principal, spec: BatchSpec, id: string) {
    let schedule;
    try {
      schedule = resolveSchedule(spec.schedule, now().getTime());
    } catch (e) {
      const field = (e as { field?: string }).field ?? 'schedule';
      throw validationError(field, (e as Error).message.slice(field.length + 2));
    }
    const expanded = expandBatch(spec, checkJobSpecSchema);
    const params = expanded.map((e) => e.params);
    const where = (i: number, field: string): string => {
      if (spec.jobs) return `jobs.${i}.${field}`;
      const varied = Object.keys(params[i]).find((k) => field === k || field.startsWith(`${k}.`) || k.startsWith(`${field}.`));
      if (varied) return `${spec.grid ? 'grid' : 'random.space'}.${varied}`;
      return `base.${field}`;
    };
    const prepared = await jobs.prepareMany(p, expanded.map((e) => e.spec), { batchId: id, where });
    const unitsTotal = prepared.reduce((s, j) => s + j.units.length, 0);
    if (unitsTotal > BATCH_LIMITS.units) {
      throw validationError(spec.grid ? 'grid' : spec.random ? 'random.count' : 'jobs', `the batch has ${unitsTotal} training units, over the limit of ${BATCH_LIMITS.units}`);
    }
    return { prepared, params, unitsTotal, schedule };
  }

  return {
    get,

    /** Everything submit checks, without storing anything: the jobs, their units, the schedule. */
    async dryRun(p: Principal, spec: BatchSpec): Promise<BatchDryRun> {
      const { prepared, params, unitsTotal, schedule } = await plan(p, spec, newId('bat'));
      return {
        valid: true, unitsTotal,
        jobs: prepared.map((j, i) => ({ name: j.record.name, params: params[i], units: j.units.length })),
        ...(schedule.notBefore !== undefined ? { notBefore: new Date(schedule.notBefore).toISOString() } : {}),
        ...(schedule.deadline !== undefined ? { deadline: new Date(schedule.deadline).toISOString() } : {}),
      };
    },

    async submit(p: Principal, spec: BatchSpec): Promise<BatchAccepted> {
      const id = newId('bat');
      const t = now().getTime();
      const { prepared, params, unitsTotal, schedule } = await plan(p, spec, id);
      const rec: BatchRecord = {
        id,
        name: spec.name ?? 'batch',
        tenant: p.tenant,
        createdAt: new Date(t).toISOString(),
        jobIds: prepared.map((j) => j.record.id),
        params,
        unitsTotal,
        ...(schedule.notBefore !== undefined ? { notBefore: new Date(schedule.notBefore).toISOString() } : {}),
        ...(schedule.deadline !== undefined ? { deadline: new Date(schedule.deadline).toISOString() } : {}),
        ...(schedule.window ? { window: schedule.window } : {}),
        ...(spec.budgetUsd !== undefined ? { budgetUsd: spec.budgetUsd } : {}),
        priority: spec.priority ?? prepared[0]?.resolved.priority ?? 50,
        resourceClass: prepared[0]?.record.resourceClass ?? 'any',
      };
      // the tenant's queued-units quota, before anything is stored
      await jobs.checkQueuedUnits(p, unitsTotal);
      await batches.create(rec);
      const delayMs = schedule.notBefore !== undefined ? schedule.notBefore - now().getTime() : 0;
      await jobs.commitMany(p, prepared, { delayMs: Math.max(0, delayMs) });
      return {
        id, jobIds: rec.jobIds, status: delayMs > 0 ? 'scheduled' : 'queued', unitsTotal,
        ...(rec.notBefore ? { notBefore: rec.notBefore } : {}), ...(rec.deadline ? { deadline: rec.deadline } : {}),
      };
    },

    async list(p: Principal, o: BatchListOptions) {
      return batches.list(p.admin ? undefined : p.tenant, o, now().getTime());
    },

    /** The morning report: Markdown (also stored as batches/<id>/report.md) or CSV. */
    async report(p: Principal, id: string, format: 'md' | 'csv'): Promise<string> {
      await visible(p, id);
      const v = await batches.view(id, now().getTime());
      if (!v) throw notFound('batch', id);
      if (format === 'csv') return reportCsv(v.leaderboard);
      const md = reportMarkdown(v.batch, v.leaderboard);
      await artifacts.put(batchReportKey(id), md, 'text/markdown; charset=utf-8');
      return md;
    },

    /** Cancels every job of the batch that has not ended. */
    async cancel(p: Principal, id: string): Promise<Batch> {
      const rec = await visible(p, id);
      const before = await get(p, id);
      if (isBatchTerminal(before.status)) {
        throw new NightshiftError('conflict', `batch ${id} is already ${before.status}`);
      }
      await batches.markCancelled(id);
      for (const jobId of rec.jobIds) {
        const status = await store.getStatus(jobId);
        if (!status || isTerminal(status)) continue;
        await jobs.cancel(p, jobId).catch((e: unknown) => {
          if (!(e instanceof NightshiftError && e.code === 'conflict')) throw e; // ended meanwhile
        });
      }
      return get(p, id);
    },

    /** Queues again, as new jobs of the batch, every job that failed (or missed its deadline, or ran out of budget). */
    async retryFailed(p: Principal, id: string): Promise<{ id: string; retried: Array<{ from: string; to: string }> }> {
      const rec = await visible(p, id);
      const failed: Array<{ index: number; job: Job }> = [];
      for (const [index, jobId] of rec.jobIds.entries()) {
        const job = await store.getJob(jobId);
        if (job && (job.status === 'failed' || job.status === 'deadline_missed' || job.status === 'budget_exhausted')) failed.push({ index, job });
      }
      if (failed.length === 0) return { id, retried: [] };
      if (rec.deadline && Date.parse(rec.deadline) <= now().getTime()) {
        throw new NightshiftError('conflict', `batch ${id} is past its deadline (${rec.deadline}); submit the jobs as a new batch`);
      }
      const specs = await Promise.all(failed.map(async ({ job }) => (await store.getRecord(job.id))!.spec));
      const prepared = await jobs.prepareMany(p, specs, { batchId: id, where: (i, f) => `jobs.${failed[i].index}.${f}` });
      const next: BatchRecord = { ...rec, jobIds: [...rec.jobIds] };
      prepared.forEach((j, i) => (next.jobIds[failed[i].index] = j.record.id));
      await batches.replaceRecord(next);
      await batches.reactivate(id);
      await jobs.commitMany(p, prepared, {});
      return { id, retried: failed.map((f, i) => ({ from: f.job.id, to: prepared[i].record.id })) };
    },

  };
}

export type BatchService = ReturnType<typeof createBatchService>;
