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

export function createUnitProcessor(d: UnitProcessorDeps) {
  return async function processUnit(job: BullJob, token?: string): Promise<UnitReturn> {
    const p: UnitPayload = parsePayload(CATALOG.unit.schema, job.data);
    const log = { jobId: p.jobId, unit: p.unit.key, attempt: job.attemptsMade + 1, worker: d.workerId };
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

    let datasetKey: string | undefined;
    let datasetHeader: boolean | undefined;
    if (rec.spec.dataset.uri.startsWith('dataset:')) {
      const ds = await d.store.getDataset(rec.tenant, rec.spec.dataset.uri.slice('dataset:'.length));
      if (!ds) {
        const error = { code: 'dataset_not_found', message: `dataset.uri: ${rec.spec.dataset.uri} does not exist`, field: 'dataset.uri' };
        await d.store.setStatus(p.jobId, 'failed', { error });
        throw new UnrecoverableError(error.message);
      }
      datasetKey = ds.key;
      datasetHeader = ds.header;
    }
    let datasetObject: S3Location | undefined;
    if (rec.spec.dataset.uri.startsWith('s3://')) {
      datasetObject = s3SourceFor(rec.spec.dataset.uri, rec.tenant, d.dataSources);
      if (!datasetObject) {
        const e = s3SourceNotFound(rec.spec.dataset.uri, d.dataSources.bucket);
        const error = { code: e.code, message: e.message, field: 'dataset.uri' };
        d.logger.warn({ ...log, tenant: rec.tenant }, 'refused an s3:// data set outside the tenant\'s sources');
        await d.store.setStatus(p.jobId, 'failed', { error });
        throw new UnrecoverableError(error.message);
      }
    }

    const span = d.instanceId ? { instanceId: d.instanceId, jobId: p.jobId, tenant: rec.tenant, ...(rec.batchId ? { batchId: rec.batchId } : {}), unit: p.unit.key, start: Date.now() } : undefined;
    // the status and the cost record in one round of Redis calls, not one after the other
    await Promise.all([
      d.store.setStatus(p.jobId, 'running'),
      span ? d.meter?.unitStarted(span).catch((err: unknown) => d.logger.warn({ ...log, err: (err as Error).message }, 'could not record the unit start (costs)')) : undefined,
    ]);
    const pool = 'take' in d.child ? d.child : undefined;
    const child: TrainerChild = pool ? pool.take() : (d.child as TrainerChild);
    d.onActive?.(1);
    const { timeoutMinutes } = resolveJobSpec(rec.spec);
    const timeoutMs = timeoutMinutes * 60_000;
    let stopAsked = false;
    const timer = setTimeout(() => child.kill('timeout'), timeoutMs);
    const interruptWatch = setInterval(() => {
      if (d.interrupted() && !stopAsked) {
        stopAsked = true;
        child.requestStop();
      }
    }, 200);
    // a cancelled (or otherwise ended) job stops its units within a second, mid-epoch if need be;
    // past a batch deadline the unit first checkpoints (at its epoch's end) and then stops;
    // a budget stop lets running units finish
    let deadlineKill: NodeJS.Timeout | undefined;
    const statusWatch = setInterval(() => {
      void d.store.getStatus(p.jobId).then((s) => {
        if (s === 'deadline_missed') {
          if (stopAsked) return;
          stopAsked = true;
          child.requestStop();
          deadlineKill = setTimeout(() => child.kill('job deadline_missed'), DEADLINE_STOP_GRACE_MS);
        } else if (s && isTerminal(s) && s !== 'budget_exhausted') child.kill(`job ${s}`);
      }, () => undefined);
    }, STATUS_POLL_MS);
    let outcome: UnitOutcome;
    try {
      outcome = await child.run(
        { type: 'run', payload: p, spec: rec.spec, datasetKey, datasetObject, datasetHeader, worker: d.workerId, instanceId: d.instanceId, mayResume: mayResume(job) },
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
      clearTimeout(timer);
      clearInterval(interruptWatch);
      clearInterval(statusWatch);
      clearTimeout(deadlineKill);
      pool?.give(child);
      d.onActive?.(-1);
      if (span) await d.meter?.unitEnded(span, Date.now()).catch((err: unknown) => d.logger.warn({ ...log, err: (err as Error).message }, 'could not record the unit end (costs)'));
    }

    switch (outcome.kind) {
      case 'done':
        if (d.backendLabel && outcome.result.backend) outcome.result.backend = d.backendLabel(outcome.result.backend);
        await d.store.unitDone(p.jobId, outcome.result);
        if (outcome.result.epochs > 0 && !outcome.result.resumedFromEpoch) {
          await d.meter?.recordDuration(shapeKey(rec.spec), outcome.result.durationMs / 1000, outcome.result.epochs).catch(() => undefined);
        }
        if (outcome.result.backend) await d.store.setField(p.jobId, 'backend', outcome.result.backend);
        if (outcome.result.engine) await d.store.setField(p.jobId, 'engine', outcome.result.engine);
        if (outcome.result.engineReason) await d.store.setField(p.jobId, 'engineReason', outcome.result.engineReason);
        d.logger.info({ ...log, score: outcome.result.score, ms: outcome.result.durationMs }, 'unit done');
        return outcome.result;
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
      case 'killed': {
        if (outcome.reason === 'timeout') {
          const error = { code: 'timeout', message: `timeoutMinutes: unit ${p.unit.key} ran longer than ${timeoutMinutes} minutes` };
          await d.store.setStatus(p.jobId, 'failed', { error });
          throw new UnrecoverableError(error.message);
        }
        return { skipped: outcome.reason };
      }
      case 'error': {
        const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
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
        const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
        if (last) {
          await d.store.unitFailed(p.jobId);
          await d.store.setStatus(p.jobId, 'failed', { error: { code: 'internal', message } });
          throw new UnrecoverableError(message);
        }
        throw new Error(message);
      }
    }
  };
}
