/**
 * Jobs: submission (checks, record, BullMQ flow), listing, lookup with
 * tenant isolation (another tenant's job is "not found", never "forbidden") and
 * cancellation.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { ArtifactStore } from '../../core/artifacts.ts';
import type { Config } from '../../core/config.ts';
import { NightshiftError, notFound } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import type { Job, JobStatus } from '../../core/job.ts';
import { checkJobSpec } from '../../core/job-rules.ts';
import { jobCompute } from '../../core/job-compute.ts';
import { resolveJobSpec, type ResolvedJobSpec } from '../../core/job-defaults.ts';
import { resourceClassOf, type SpotPolicy } from '../../core/resource-class.ts';
import { validationError } from '../../core/errors.ts';
import type { ComputeEstimate } from '../../core/model-limits.ts';
import type { JobSpec } from '../../core/spec.ts';
import { planUnits } from '../../core/units.ts';
import { enqueueJobs, removePendingUnits, type EnqueueArgs, type Queues } from '../../platform/queue.ts';
import { groupCommit } from '../../core/group-commit.ts';
import type { UnitRef } from '../../core/units.ts';
import type { JobRecord, ListOptions, Store } from '../../platform/store.ts';
import { canSee, type Principal } from '../auth.ts';
import { readArchivedJob } from '../../platform/retention.ts';
import type { DatasetService } from './datasets.ts';
import { isDependencyFailure } from '../hardening.ts';
import { placeJob } from './placement.ts';
import type { Placement } from '../../core/placement.ts';

export interface JobServiceDeps {
  store: Store;
  queues: Queues;
  artifacts: ArtifactStore;
  config: Config;
  datasets: DatasetService;
  now?: () => Date;
  log?: { error(obj: unknown, msg?: string): void };
}

export type DryRunResult = { valid: true; unitsTotal: number; resolved: ResolvedJobSpec; compute?: ComputeEstimate; placement?: Placement };

/** A job checked and ready to store and queue (batches prepare all their jobs before accepting any). */
export interface PreparedJob {
  record: JobRecord;
  resolved: ResolvedJobSpec;
  units: UnitRef[];
}

/** at most this many submissions share one commit (one MULTI of their records, one addBulk of their flows) */
const SUBMIT_GROUP_MAX = 100;

/** the records were stored but the flows could not be queued (the jobs are marked failed) */
class NotQueued extends Error {
  constructor(override readonly cause: unknown) {
    super('the jobs could not be queued');
  }
}

export function createJobService({ store, queues, artifacts, datasets, config, now = () => new Date(), log }: JobServiceDeps) {
  /**
   * The job, if the caller may see it; otherwise not_found. A job retention took
   * out of Redis answers from its archive copy in S3 (archived: true).
   */
  async function visibleJob(p: Principal, id: string): Promise<Job> {
    const job = (await store.getJob(id)) ?? (await readArchivedJob(artifacts, id));
    if (!job || !canSee(p, job.tenant)) throw notFound('job', id);
    return job;
  }

  async function visibleRecord(p: Principal, id: string): Promise<JobRecord> {
    const rec = await store.getRecord(id);
    if (!rec || !canSee(p, rec.tenant)) throw notFound('job', id);
    return rec;
  }

  /**
   * Schema-valid spec -> resolved spec, with every cross-field and data set rule
   * checked, and the data set URI pinned to the upload those checks saw.
   */
  async function check(p: Principal, spec: JobSpec, lookups?: Map<string, ReturnType<DatasetService['lookup']>>): Promise<{ resolved: ResolvedJobSpec; datasetUri: string; placement?: Placement; compute?: ComputeEstimate }> {
    const limits = config.limits;
    const maxPriority = p.admin ? 100 : limits.tenantMaxPriority.get(p.tenant) ?? limits.maxPriority;
    if (spec.priority !== undefined && spec.priority > maxPriority) {
      throw validationError('priority', `${spec.priority} is above the highest priority this tenant may use (${maxPriority}); the operator sets it with NIGHTSHIFT_TENANT_MAX_PRIORITY`);
    }
    let lookup = lookups?.get(spec.dataset.uri);
    if (!lookup) {
      lookup = datasets.lookup(p.tenant, spec.dataset.uri);
      lookups?.set(spec.dataset.uri, lookup);
    }
    const { uri, summary } = await lookup;
    const ec2 = config.compute === 'ec2';
    const fleet = ec2 ? { instanceTypes: config.ec2.instanceTypes, cpuInstanceTypes: config.ec2.cpuInstanceTypes, spot: config.ec2.spot ?? 'no', cpuSpot: config.ec2.cpuSpot ?? config.ec2.spot ?? 'no' } : undefined;
    const operator = { allowedTypes: config.ec2.allowedTypes, ...(config.ec2.maxHourlyUsd !== undefined ? { maxHourlyUsd: config.ec2.maxHourlyUsd } : {}) };
    const resolved = checkJobSpec(spec, summary, fleet, operator);
    const compute = jobCompute(resolved, summary);
    if (compute && compute.total > limits.maxJobCompute) {
      throw validationError('model', `the job asks for ${compute.total.toExponential(2)} parameter updates (${compute.parameters} parameters x ${compute.rows} rows x ${compute.epochs} epochs x ${compute.units} training units), over the limit of ${limits.maxJobCompute.toExponential(2)}; use a smaller model, fewer epochs or fewer folds/repeats/runs`);
    }
    // on EC2 the class names the concrete accelerator ("any" resolved by estimated cost per unit)
    const placement = ec2 ? placeJob(resolved, summary, config) : undefined;
    return { resolved, datasetUri: uri, ...(compute ? { compute } : {}), ...(placement ? { placement } : {}) };
  }

  /**
   * Refuses work that would take the tenant over its queued-units quota; answers the
   * tenant's backlog (where the new units' fair-share priorities start).
   */
  async function checkQueuedUnits(p: Principal, adding: number): Promise<number> {
    const max = config.limits.maxQueuedUnits;
    const { active, backlog } = await store.tenantUnits(p.tenant);
    if (active + adding > max) {
      throw new NightshiftError('quota_exceeded', `this submission has ${adding} training units and the tenant already has ${active} queued or running; the limit is ${max} (NIGHTSHIFT_MAX_QUEUED_UNITS). Wait for work to finish or cancel some`);
    }
    return backlog;
  }

  /** The resource class (on EC2 with the accelerator the placement chose) and the placement itself. */
  function placed(resolved: ResolvedJobSpec, placement: Placement | undefined, submitted: JobSpec): { resourceClass: string; placement?: Placement } {
    const resourceClass = resourceClassOf(
      placement ? { resources: { ...resolved.resources, accelerator: placement.accelerator } } : resolved,
      submitted.resources?.spot as SpotPolicy | undefined,
    );
    return { resourceClass, ...(placement ? { placement } : {}) };
  }

  /**
   * Writes submitted jobs in groups (core/group-commit.ts): the records in one MULTI
   * (a failure stores none of them), then the flows. Accepted work is never silently
   * lost: when the flows cannot be queued, each job's record says why it will not run.
   */
  const commitJob = groupCommit<{ record: JobRecord; queued: EnqueueArgs }>(async (group) => {
    await store.createJobsAtomically(group.map((g) => g.record));
    try {
      await enqueueJobs(queues, group.map((g) => g.queued));
    } catch (e) {
      log?.error({ err: e, jobIds: group.map((g) => g.record.id) }, 'could not queue jobs');
      for (const { record } of group) {
        await store
          .setStatus(record.id, 'failed', { error: { code: 'internal', message: 'the job could not be queued' } })
          .catch((err: unknown) => log?.error({ err, jobId: record.id }, 'could not mark the job failed'));
      }
      throw new NotQueued(e);
    }
  }, SUBMIT_GROUP_MAX);

  return {
    visibleJob,
    visibleRecord,
    checkQueuedUnits,

    async dryRun(p: Principal, spec: JobSpec): Promise<DryRunResult> {
      const { resolved, compute, placement } = await check(p, spec);
      return { valid: true, unitsTotal: planUnits(resolved).length, resolved, ...(compute ? { compute } : {}), ...(placement ? { placement } : {}) };
    },

    /**
     * Stores and queues one job. Submissions that arrive together are committed
     * together (commitJob): their records, indexes and counters in one MULTI, then
     * their BullMQ flows in one call, so under load a round trip carries many jobs.
     * The record holds the spec; spec.json in the artifact store is written with the
     * job's results (the artifact route answers from the record until then).
     */
    async submit(p: Principal, submitted: JobSpec, opts: { batchId?: string } = {}): Promise<Pick<Job, 'id' | 'status'>> {
      const { resolved, datasetUri, placement } = await check(p, submitted);
      const spec: JobSpec = { ...submitted, dataset: { ...submitted.dataset, uri: datasetUri } };
      const units = planUnits(resolved);
      const backlog = await checkQueuedUnits(p, units.length);
      const id = newId('job');
      const record: JobRecord = {
        id,
        name: resolved.name,
        tenant: p.tenant,
        ...(opts.batchId ? { batchId: opts.batchId } : {}),
        createdAt: now().toISOString(),
        spec,
        unitsTotal: units.length,
        ...placed(resolved, placement, submitted),
      };
      try {
        await commitJob({
          record,
          queued: { jobId: id, tenant: p.tenant, units, resourceClass: record.resourceClass, priority: resolved.priority, maxAttempts: resolved.maxAttempts, ordinal: backlog },
        });
      } catch (e) {
        if (!(e instanceof NotQueued)) throw e; // nothing was stored
        if (isDependencyFailure(e.cause)) {
          throw new NightshiftError('unavailable', `job ${id} could not be queued (Redis or the artifact store is not answering) and was marked failed; try again shortly`, { retryable: true, cause: e.cause });
        }
        throw new NightshiftError('internal', `job ${id} could not be queued and was marked failed; try again`, { retryable: true, cause: e.cause });
      }
      return { id, status: 'queued' };
    },

    /**
     * Checks many specs (data sets looked up once each) without storing anything.
     * A failing spec throws its validation error with the field renamed by `where`.
     */
    async prepareMany(p: Principal, specs: JobSpec[], opts: { batchId: string; where(i: number, field: string): string }): Promise<PreparedJob[]> {
      const lookups = new Map<string, ReturnType<DatasetService['lookup']>>();
      const createdAt = now().toISOString();
      const out: PreparedJob[] = [];
      for (let i = 0; i < specs.length; i++) {
        // the checks of a 1,000-job batch take ~50-90 ms of CPU: other requests are served between slices
        if (i > 0 && i % 50 === 0) await nextTurn();
        const submitted = specs[i];
        let checked: { resolved: ResolvedJobSpec; datasetUri: string; placement?: Placement };
        try {
          checked = await check(p, submitted, lookups);
        } catch (e) {
          if (e instanceof NightshiftError && e.field) {
            const field = opts.where(i, e.field);
            throw new NightshiftError(e.code, `${field}: ${e.message.startsWith(`${e.field}: `) ? e.message.slice(e.field.length + 2) : e.message}`, { field });
          }
          throw e;
        }
        const { resolved, datasetUri, placement } = checked;
        const spec: JobSpec = { ...submitted, dataset: { ...submitted.dataset, uri: datasetUri } };
        const units = planUnits(resolved);
        out.push({
          resolved,
          units,
          record: {
            id: newId('job'), name: resolved.name, tenant: p.tenant, batchId: opts.batchId, createdAt, spec, unitsTotal: units.length,
            ...placed(resolved, placement, submitted),
          },
        });
      }
      return out;
    },

    /** Stores and queues prepared jobs: all scheduled (delayed) when delayMs > 0, with fair-share priorities. */
    async commitMany(p: Principal, jobs: PreparedJob[], opts: { delayMs?: number } = {}): Promise<void> {
      const scheduled = (opts.delayMs ?? 0) > 0;
      let ordinal = await checkQueuedUnits(p, jobs.reduce((n, j) => n + j.units.length, 0));
      await store.createJobs(jobs.map((j) => j.record), scheduled ? 'scheduled' : 'queued');
      try {
        const args = jobs.map((j) => {
          const a = {
            jobId: j.record.id, tenant: p.tenant, units: j.units, resourceClass: j.record.resourceClass, priority: j.resolved.priority,
            maxAttempts: j.resolved.maxAttempts, ordinal: Math.max(0, ordinal), ...(scheduled ? { delayMs: opts.delayMs } : {}),
          };
          ordinal += j.units.length;
          return a;
        });
        await enqueueJobs(queues, args);
      } catch (e) {
        log?.error({ err: e }, 'could not queue the jobs of a batch');
        for (const j of jobs) await store.setStatus(j.record.id, 'failed', { error: { code: 'internal', message: 'the job could not be queued' } }).catch(() => undefined);
        throw new NightshiftError('internal', 'the batch could not be queued and its jobs were marked failed; try again', { retryable: true, cause: e });
      }
    },

    async list(p: Principal, o: ListOptions): Promise<{ items: Job[]; nextCursor: string | null }> {
      return store.listJobs(p.admin ? undefined : p.tenant, o);
    },

    /** Cancels a job that is not finished; pending units are removed, running ones stop at their next epoch. */
    async cancel(p: Principal, id: string): Promise<Job> {
      const rec = await visibleRecord(p, id);
      const ok = await store.setStatus(id, 'cancelled');
      if (!ok) {
        const status = (await store.getStatus(id)) as JobStatus;
        throw new NightshiftError('conflict', `job ${id} is already ${status} and cannot be cancelled`);
      }
      const unitKeys = planUnits(resolveJobSpec(rec.spec)).map((u) => u.key);
      await removePendingUnits(queues, id, unitKeys);
      return (await store.getJob(id))!;
    },
  };
}

export type JobService = ReturnType<typeof createJobService>;
