/**
 * Retention of finished jobs: which jobs leave Redis. Pure (no clock, no I/O) so
 * every rule has a table test (test/unit/core-retention.test.ts).
 *
 * A job is trimmed when
 *  - its status is terminal (completed, failed, cancelled, budget_exhausted, deadline_missed),
 *  - it has a finishedAt, and that lies before the cutoff (now - retention days),
 *  - it belongs to no batch: a batch's jobs stay as long as the batch (its
 *    leaderboard and report read them).
 * Its files in S3 stay; an archive copy of the Job answers GET /v1/jobs/:id afterwards.
 */
import { isTerminal } from './job.ts';

export interface TrimCandidate {
  id: string;
  /** null: the record vanished between the index read and this one */
  status: string | null;
  finishedAt?: string | null;
  batchId?: string;
}

export type KeepReason = 'gone' | 'not_finished' | 'no_finish_time' | 'recent' | 'in_batch';

const DAY_MS = 86_400_000;

/** The moment before which a finished job is trimmed; undefined = keep forever (0 days). */
export function retentionCutoff(nowMs: number, days: number): number | undefined {
  if (!(days > 0)) return undefined;
  return nowMs - days * DAY_MS;
}

/** Why a job stays, or undefined when it is trimmed. */
export function keepReason(c: TrimCandidate, cutoffMs: number): KeepReason | undefined {
  if (c.status === null) return 'gone';
  if (!isTerminal(c.status)) return 'not_finished';
  const t = c.finishedAt ? Date.parse(c.finishedAt) : NaN;
  if (!Number.isFinite(t)) return 'no_finish_time';
  if (t >= cutoffMs) return 'recent';
  if (c.batchId) return 'in_batch';
  return undefined;
}

/** The jobs to trim among the candidates, in their order. */
export function chooseTrims(cands: TrimCandidate[], cutoffMs: number | undefined): TrimCandidate[] {
  if (cutoffMs === undefined) return [];
  return cands.filter((c) => keepReason(c, cutoffMs) === undefined);
}

/** The UTC day (YYYY-MM-DD) an archived job is indexed under: the day it finished. */
export function archiveDay(finishedAt: string): string {
  const t = Date.parse(finishedAt);
  return Number.isFinite(t) ? new Date(t).toISOString().slice(0, 10) : 'unknown';
}
