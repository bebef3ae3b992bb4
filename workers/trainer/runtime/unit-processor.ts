/**
 * BullMQ processor for training units. Runs in the worker process; the training
 * itself happens in the trainer child. Decides what an outcome means for the job:
 * bad spec or data -> the job fails once (UnrecoverableError); transient errors ->
 * retried up to maxAttempts; an interruption notice -> the unit goes back to the
 * queue without spending an attempt and resumes from its checkpoint elsewhere.
 */
import { DelayedError, UnrecoverableError, WaitingError, type Job as BullJob } from 'bullmq';
import { shapeKey } from '../../../services/core/budget.ts';
import type { Meter } from '../../../services/platform/meter.ts';
import { CATALOG, parsePayload, type UnitPayload } from '../../../services/core/catalog.ts';
import { isTerminal, type UnitResult } from '../../../services/core/job.ts';
import { resolveJobSpec } from '../../../services/core/job-defaults.ts';
import type { Store } from '../../../services/platform/store.ts';
import { s3SourceFor, s3SourceNotFound, type DataSourcePolicy, type S3Location } from '../../../services/core/data-sources.ts';
import type { TrainerChild, UnitOutcome } from './trainer-child.ts';
import type { ChildPool } from './child-pool.ts';

export interface UnitProcessorDeps {
  store: Store;
  /** one trainer process, or a pool when the worker runs several units at once */
  child: TrainerChild | ChildPool;
  /** the backend name a job records for a unit (e.g. the verified GPU's name after "tensorflow-gpu") */
  backendLabel?(backend: string): string;
  workerId: string;
  instanceId?: string;
  /** which s3:// objects each tenant may train on (checked again here, whatever the API accepted) */
  dataSources: DataSourcePolicy;
  /** true once an interruption notice (spot, SIGTERM) arrived: hand units back */
  interrupted(): boolean;
  onActive?(delta: 1 | -1): void;
  /** a unit finished an epoch */
  onProgress?(): void;
  /** records which instance ran the unit and for how long (costs) */
  meter?: Meter;
  logger: { info(o: object, m?: string): void; warn(o: object, m?: string): void; error(o: object, m?: string): void };
}

export type UnitReturn = UnitResult | { skipped: string };

/** How often the processor checks whether the job was cancelled meanwhile. */
const STATUS_POLL_MS = 1_000;
/** A unit asked to stop at a deadline that has not checkpointed by then is killed. */
const DEADLINE_STOP_GRACE_MS = 30_000;
/** A unit of a job stopped by its budget waits this long before it looks again (a raised budget reopens the job). */
export const BUDGET_PARK_MS = 30_000;

/**
 * Whether a unit may have a checkpoint: it was attempted or stalled before, or reported
 * an epoch (checkpoints are written at epoch ends, after the epoch's progress).
 */
export function mayResume(job: Pick<BullJob, 'attemptsMade' | 'stalledCounter' | 'progress'>): boolean {
  const progressed = typeof job.progress === 'object' ? Object.keys(job.progress ?? {}).length > 0 : Boolean(job.progress);
  return job.attemptsMade > 0 || (job.stalledCounter ?? 0) > 0 || progressed;
}

type UnitRecord = NonNullable<Awaited<ReturnType<Store['getRecordAndStatus']>>['record']>;
type LogFields = { jobId: string; unit: string; attempt: number; worker: string };

/** Where the child reads the unit's data set: an uploaded data set's key, or an s3:// object the tenant may read. */
interface DatasetLocation {
  datasetKey?: string;
  datasetHeader?: boolean;
  datasetObject?: S3Location;
}

export function createUnitProcessor(d: UnitProcessorDeps) {
  /** Fails the job once with `error` (a bad spec or data set is not retried). */
  const failJob = async (jobId: string, error: { code: string; message: string; field?: string }): Promise<never> => {
    await d.store.setStatus(jobId, 'failed', { error });
    throw new UnrecoverableError(error.message);
  };

  /**
   * The job's record when the unit should run now; otherwise what to answer: skipped
   * (an unknown or ended job), parked (a job stopped by its budget) or handed back
   * (an interruption notice arrived).
   */
  async function admit(job: BullJob, token: string | undefined, p: UnitPayload): Promise<UnitRecord | { skipped: string }> {
    const { record: rec, status } = await d.store.getRecordAndStatus(p.jobId);
    if (!rec) return { skipped: 'unknown job' };
    if (status === 'budget_exhausted' && token) {
      // parked, not dropped: raising the budget reopens the job and its units run
      await job.moveToDelayed(Date.now() + BUDGET_PARK_MS, token);
      throw new DelayedError();
    }
    if (!status || isTerminal(status)) return { skipped: status ?? 'unknown' };
    if (d.interrupted()) {
      await job.moveToWait(token);
      throw new WaitingError();
    }
    return rec;
  }

  /** The data set's location, checked again here; a missing data set or a refused s3:// object fails the job. */
  async function locateDataset(rec: UnitRecord, jobId: string, log: LogFields): Promise<DatasetLocation> {
    const uri = rec.spec.dataset.uri;
    if (uri.startsWith('dataset:')) {
      const ds = await d.store.getDataset(rec.tenant, uri.slice('dataset:'.length));
      if (!ds) return failJob(jobId, { code: 'dataset_not_found', message: `dataset.uri: ${uri} does not exist`, field: 'dataset.uri' });
      return { datasetKey: ds.key, datasetHeader: ds.header };
    }
    if (uri.startsWith('s3://')) {
      const datasetObject = s3SourceFor(uri, rec.tenant, d.dataSources);
      if (!datasetObject) {
        const e = s3SourceNotFound(uri, d.dataSources.bucket);
        d.logger.warn({ ...log, tenant: rec.tenant }, 'refused an s3:// data set outside the tenant\'s sources');
        return failJob(jobId, { code: e.code, message: e.message, field: 'dataset.uri' });
      }
      return { datasetObject };
    }
    return {};
  }

  /**
   * Stops the child when it must: at the job's timeout (killed), on an interruption
   * notice (asked to checkpoint and stop), when the job is cancelled or otherwise ends
   * (killed within a second, mid-epoch if need be), past a batch deadline (asked to
   * checkpoint at its epoch's end, killed after a grace period). A budget stop lets
   * running units finish. Returns the function that ends the watch.
   */
  function watch(child: TrainerChild, jobId: string, timeoutMs: number): () => void {
    let stopAsked = false;
    const askStop = (): boolean => {
      if (stopAsked) return false;
      stopAsked = true;
      child.requestStop();
      return true;
    };
    const timer = setTimeout(() => child.kill('timeout'), timeoutMs);
    const interruptWatch = setInterval(() => {
      if (d.interrupted()) askStop();
    }, 200);
    let deadlineKill: NodeJS.Timeout | undefined;
    const statusWatch = setInterval(() => {
      void d.store.getStatus(jobId).then((s) => {
        if (s === 'deadline_missed') {
          if (askStop()) deadlineKill = setTimeout(() => child.kill('job deadline_missed'), DEADLINE_STOP_GRACE_MS);
        } else if (s && isTerminal(s) && s !== 'budget_exhausted') child.kill(`job ${s}`);
      }, () => undefined);
    }, STATUS_POLL_MS);
    return () => {
      clearTimeout(timer);
      clearInterval(interruptWatch);
      clearInterval(statusWatch);
      clearTimeout(deadlineKill);
    };
  }

  /** Trains the unit in a trainer child (one from the pool when there is one), recording its span for costs. */
  async function train(job: BullJob, p: UnitPayload, rec: UnitRecord, where: DatasetLocation, timeoutMs: number, log: LogFields): Promise<UnitOutcome> {
    const span = d.instanceId ? { instanceId: d.instanceId, jobId: p.jobId, tenant: rec.tenant, ...(rec.batchId ? { batchId: rec.batchId } : {}), unit: p.unit.key, start: Date.now() } : undefined;
    // the status and the cost record in one round of Redis calls, not one after the other
    await Promise.all([
      d.store.setStatus(p.jobId, 'running'),
      span ? d.meter?.unitStarted(span).catch((err: unknown) => d.logger.warn({ ...log, err: (err as Error).message }, 'could not record the unit start (costs)')) : undefined,
    ]);
    const pool = 'take' in d.child ? d.child : undefined;
    const child: TrainerChild = pool ? pool.take() : (d.child as TrainerChild);
    d.onActive?.(1);
    const unwatch = watch(child, p.jobId, timeoutMs);
    try {
      return await child.run(
        { type: 'run', payload: p, spec: rec.spec, ...where, worker: d.workerId, instanceId: d.instanceId, mayResume: mayResume(job) },
        {
          onEpoch: (m) => {
            d.onProgress?.();
            void d.store.progress(p.jobId, m.unit, m.epoch, m.epochs, m.logs).catch(() => undefined);
            void job.updateProgress({ unit: m.unit, epoch: m.epoch, epochs: m.epochs }).catch(() => undefined);
          },
          onResumed: (epoch) => d.logger.info({ ...log, epoch }, 'resuming unit from checkpoint'),
        },
      );
    } finally {
      unwatch();
      pool?.give(child);
      d.onActive?.(-1);
      if (span) await d.meter?.unitEnded(span, Date.now()).catch((err: unknown) => d.logger.warn({ ...log, err: (err as Error).message }, 'could not record the unit end (costs)'));
    }
  }

  /** A finished unit's result in the job: its scores, the measured duration (for estimates) and the backend and engine it ran on. */
  async function recordDone(jobId: string, rec: UnitRecord, result: UnitResult, log: LogFields): Promise<UnitResult> {
    if (d.backendLabel && result.backend) result.backend = d.backendLabel(result.backend);
    await d.store.unitDone(jobId, result);
    if (result.epochs > 0 && !result.resumedFromEpoch) {
      await d.meter?.recordDuration(shapeKey(rec.spec), result.durationMs / 1000, result.epochs).catch(() => undefined);
    }
    if (result.backend) await d.store.setField(jobId, 'backend', result.backend);
    if (result.engine) await d.store.setField(jobId, 'engine', result.engine);
    if (result.engineReason) await d.store.setField(jobId, 'engineReason', result.engineReason);
    d.logger.info({ ...log, score: result.score, ms: result.durationMs }, 'unit done');
    return result;
  }

  /**
   * What an outcome means for BullMQ and the job: done -> the result; interrupted ->
   * back to the queue (or skipped when the job ended meanwhile); a timeout or an
   * unretryable error or the last attempt -> the job fails once; else a retry.
   */
  async function settle(job: BullJob, token: string | undefined, p: UnitPayload, rec: UnitRecord, outcome: UnitOutcome, timeoutMinutes: number, log: LogFields): Promise<UnitReturn> {
    const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    switch (outcome.kind) {
      case 'done':
        return recordDone(p.jobId, rec, outcome.result, log);
      case 'interrupted': {
        const now = await d.store.getStatus(p.jobId);
        if (now && isTerminal(now)) {
          d.logger.info({ ...log, epoch: outcome.epoch, status: now }, 'unit checkpointed and stopped: the job ended');
          return { skipped: now };
        }
        d.logger.warn({ ...log, epoch: outcome.epoch }, 'unit checkpointed and handed back');
        await job.moveToWait(token);
        throw new WaitingError();
      }
      case 'killed':
        if (outcome.reason === 'timeout') return failJob(p.jobId, { code: 'timeout', message: `timeoutMinutes: unit ${p.unit.key} ran longer than ${timeoutMinutes} minutes` });
        return { skipped: outcome.reason };
      case 'error': {
        d.logger.warn({ ...log, error: outcome.error, retryable: outcome.retryable }, 'unit failed');
        if (!outcome.retryable || last) {
          await d.store.unitFailed(p.jobId);
          await d.store.setStatus(p.jobId, 'failed', { error: outcome.error });
          throw new UnrecoverableError(`${outcome.error.code}: ${outcome.error.message}`);
        }
        throw new Error(`${outcome.error.code}: ${outcome.error.message}`);
      }
      case 'crashed': {
        const message = `trainer process died (code ${outcome.code}, signal ${outcome.signal}) while training unit ${p.unit.key}`;
        if (last) {
          await d.store.unitFailed(p.jobId);
          return failJob(p.jobId, { code: 'internal', message });
        }
        throw new Error(message);
      }
    }
  }

  return async function processUnit(job: BullJob, token?: string): Promise<UnitReturn> {
    const p: UnitPayload = parsePayload(CATALOG.unit.schema, job.data);
    const log: LogFields = { jobId: p.jobId, unit: p.unit.key, attempt: job.attemptsMade + 1, worker: d.workerId };
    const rec = await admit(job, token, p);
    if ('skipped' in rec) return rec;
    const where = await locateDataset(rec, p.jobId, log);
    const { timeoutMinutes } = resolveJobSpec(rec.spec);
    const outcome = await train(job, p, rec, where, timeoutMinutes * 60_000, log);
    return settle(job, token, p, rec, outcome, timeoutMinutes, log);
  };
}
