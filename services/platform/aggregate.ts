/**
 * BullMQ processor for a job's parent: runs once every unit has finished (or
 * failed), computes the statistics over the unit scores, writes history.json,
 * summary.json and spec.json (the submitted spec, held by the job record until
 * then) and completes the job. Pure shaping lives in `summarizeJob`.
 *
 * Both the workers and the provisioner run it (startAggregateWorker). The provisioner
 * runs while no instance does: a parent left active by a worker that died mid-step is
 * found stalled and run again by it, where otherwise the fleet could go idle (no unit
 * left to train) with the job still running and nobody to finish it.
 */
import { Worker, type ConnectionOptions, type Job as BullJob } from 'bullmq';
import { CATALOG, QUEUES, parsePayload } from '../core/catalog.ts';
import { keys } from '../core/keys.ts';
import { isTerminal, jobWarnings, type JobResult, type UnitResult } from '../core/job.ts';
import { primaryMetric, resolveJobSpec, type ResolvedJobSpec } from '../core/job-defaults.ts';
import { runMeans, summarize } from '../core/stats.ts';
import type { ArtifactStore } from '../core/artifacts.ts';
import type { Store } from './store.ts';
import { deleteCheckpoints, readUnitHistories } from './history.ts';
import { unitOrder, type JobSummary } from '../core/views.ts';

/** Pure: the job's result and summary.json from its unit results. */
export function summarizeJob(spec: ResolvedJobSpec, results: UnitResult[], finalLast?: Record<string, number>) {
  const evals = results.filter((r) => r.kind === 'eval' && typeof r.score === 'number').sort(unitOrder);
  const metric = primaryMetric(spec);
  const scores = evals.map((r) => r.score!);
  let result: JobResult | undefined;
  let stats: Pick<JobSummary, 'mean' | 'std' | 'stderr' | 'ci95' | 'interval' | 'min' | 'max' | 'runMeans'> = {};
  if (scores.length > 0) {
    const { mean, std, stderr, ci95, interval, min, max } = summarize(scores);
    const means = spec.runs > 1 ? { runMeans: runMeans(evals.map((r) => ({ run: r.run, score: r.score! }))) } : {};
    result = { metric, scores, mean, std, stderr, ci95, interval, ...means, ...(finalLast ? { final: finalLast } : {}) };
    stats = { mean, std, stderr, ci95, interval, min, max, ...means };
  }
  const summary: JobSummary = {
    metric,
    method: spec.evaluation.method,
    n: scores.length,
    scores,
    ...stats,
    units: [...results].sort(unitOrder).map((r) => ({
      key: r.key, kind: r.kind, run: r.run, repeat: r.repeat, fold: r.fold, score: r.score, heldOut: r.heldOut,
      epochs: r.epochs, trainRows: r.trainRows, testRows: r.testRows, durationMs: r.durationMs, worker: r.worker,
      ...(r.instanceId ? { instanceId: r.instanceId } : {}),
      ...(r.resumedFromEpoch ? { resumedFromEpoch: r.resumedFromEpoch } : {}),
      ...(r.warnings?.length ? { warnings: r.warnings } : {}),
    })),
    ...(finalLast ? { final: finalLast } : {}),
    backend: results[0]?.backend,
    engine: results[0]?.engine,
    workers: [...new Set(results.map((r) => r.worker))],
    unitSeconds: results.reduce((s, r) => s + r.durationMs, 0) / 1000,
  };
  return { result, summary };
}

export interface AggregateDeps {
  store: Store;
  artifacts: ArtifactStore;
  logger: { info(o: object, m?: string): void; warn(o: object, m?: string): void };
}

export function createAggregateProcessor(d: AggregateDeps) {
  return async function aggregate(job: BullJob): Promise<{ status: string }> {
    const p = parsePayload(CATALOG.aggregate.schema, job.data);
    const rec = await d.store.getRecord(p.jobId);
    if (!rec) return { status: 'unknown' };
    const status = await d.store.getStatus(p.jobId);
    await d.artifacts.putJson(keys.jobFile(p.jobId, 'spec.json'), rec.spec);
    if (status && isTerminal(status)) {
      // failed or cancelled: the units' histories stay for diagnosis, their checkpoints go
      await deleteCheckpoints(d.artifacts, p.jobId);
      return { status };
    }
    const spec = resolveJobSpec(rec.spec);
    const results = await d.store.unitResults(p.jobId);
    if (results.length < rec.unitsTotal) {
      const failures = await job.getIgnoredChildrenFailures().catch(() => ({}) as Record<string, string>);
      const first = Object.values(failures)[0];
      const error = { code: 'unit_failed', message: first ? `a training unit failed: ${first}` : `${rec.unitsTotal - results.length} of ${rec.unitsTotal} training units did not finish` };
      await d.store.setStatus(p.jobId, 'failed', { error });
      await deleteCheckpoints(d.artifacts, p.jobId);
      return { status: 'failed' };
    }
    const history = await readUnitHistories(d.artifacts, p.jobId);
    const finalLast = history.final?.epochs[history.final.epochs.length - 1];
    const { result, summary } = summarizeJob(spec, results, finalLast);
    await d.artifacts.putJson(keys.history(p.jobId), history);
    await d.artifacts.putJson(keys.summary(p.jobId), { jobId: p.jobId, name: rec.name, ...summary });
    const base = `/v1/jobs/${p.jobId}/artifacts`;
    const artifacts: Record<string, string> = { history: `${base}/history.json`, summary: `${base}/summary.json`, spec: `${base}/spec.json` };
    if (results.some((r) => r.kind === 'final')) Object.assign(artifacts, { model: `${base}/model.json`, weights: `${base}/weights.bin`, meta: `${base}/meta.json` });
    const warnings = jobWarnings([...results].sort(unitOrder));
    await d.store.setStatus(p.jobId, 'completed', { ...(result ? { result } : {}), artifacts, ...(warnings.length ? { warnings } : {}) });
    d.logger.info({ jobId: p.jobId, mean: result?.mean, n: result?.scores.length, warnings: warnings.length }, 'job completed');
    return { status: 'completed' };
  };
}

/**
 * A BullMQ worker for the parents (queue `jobs`). Its lock is kept short so a parent
 * whose worker died is found stalled within ~AGGREGATE_LOCK_MS and run again: the step
 * itself takes milliseconds to seconds (a few small reads and writes).
 */
export const AGGREGATE_LOCK_MS = 15_000;
export function startAggregateWorker(d: AggregateDeps & { connection: ConnectionOptions; prefix: string; concurrency?: number; autorun?: boolean; lockMs?: number }): Worker {
  const lockMs = d.lockMs ?? AGGREGATE_LOCK_MS;
  const w = new Worker(QUEUES.jobs, createAggregateProcessor(d), {
    connection: d.connection,
    prefix: d.prefix,
    concurrency: d.concurrency ?? 4,
    lockDuration: lockMs,
    stalledInterval: Math.max(500, Math.floor(lockMs / 2)),
    autorun: d.autorun ?? true,
  });
  // a connection error: the worker reconnects on its own; a failed step is retried (CATALOG.aggregate.attempts)
  w.on('error', (err) => d.logger.warn({ err: err.message }, 'aggregate worker error'));
  w.on('failed', (job, err) => d.logger.warn({ jobId: job?.id, err: err.message }, 'aggregate step failed'));
  return w;
}

