/**
 * The Batch resource: what the API answers, how its status follows from its jobs',
 * and the morning report (Markdown, CSV). Pure.
 */
import { isTerminal, type JobStatus } from './job.ts';
import type { Leaderboard, LeaderboardRow } from './leaderboard.ts';

export const BATCH_STATUSES = ['scheduled', 'queued', 'running', 'completed', 'failed', 'cancelled', 'deadline_missed'] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];

export interface BatchRecord {
  id: string;
  name: string;
  tenant: string;
  createdAt: string;
  jobIds: string[];
  /** per job (same order as jobIds): the parameters that differ from base */
  params: Array<Record<string, unknown>>;
  unitsTotal: number;
  /** ISO times */
  notBefore?: string;
  deadline?: string;
  window?: { start: string; end: string; timezone: string };
  budgetUsd?: number;
  priority: number;
  /** a class the batch's jobs run on (the first job's) */
  resourceClass: string;
}

export interface BatchProjection {
  at: string;
  /** ISO time the remaining work is projected to finish; null when unknown */
  projectedFinish: string | null;
  instancesNeeded: number;
  unitSeconds: number;
  /** measured from finished units, or an estimate */
  basis: 'measured' | 'estimated';
}

/** POST /v1/batches: what was accepted */
export interface BatchAccepted {
  id: string;
  jobIds: string[];
  status: string;
  unitsTotal: number;
  notBefore?: string;
  deadline?: string;
}

/** POST /v1/batches?dryRun=true: what would be accepted */
export interface BatchDryRun {
  valid: true;
  unitsTotal: number;
  jobs: Array<{ name: string; params: Record<string, unknown>; units: number }>;
  notBefore?: string;
  deadline?: string;
}

export interface Batch {
  id: string;
  name: string;
  tenant: string;
  status: BatchStatus;
  createdAt: string;
  finishedAt?: string;
  notBefore?: string;
  deadline?: string;
  window?: { start: string; end: string; timezone: string };
  budgetUsd?: number;
  priority: number;
  jobIds: string[];
  counts: Record<string, number>;
  progress: { unitsDone: number; unitsTotal: number };
  costUsd: number | null;
  /** the work will not be done by the deadline at the current pace and caps */
  atRisk: boolean;
  projection?: BatchProjection;
  metric: string | null;
  higherIsBetter: boolean;
  leaderboard: LeaderboardRow[];
}

/** The batch's status from its jobs' statuses. */
export function batchStatus(statuses: JobStatus[], o: { cancelled: boolean; notBefore?: number; now: number }): BatchStatus {
  if (statuses.length > 0 && statuses.every((s) => isTerminal(s))) {
    if (o.cancelled) return 'cancelled';
    if (statuses.includes('deadline_missed')) return 'deadline_missed';
    if (statuses.includes('completed')) return 'completed';
    if (statuses.every((s) => s === 'cancelled')) return 'cancelled';
    return 'failed';
  }
  if (statuses.includes('running')) return 'running';
  if (statuses.some((s) => isTerminal(s))) return 'running'; // some done, the rest waiting for a slot
  return o.notBefore !== undefined && o.notBefore > o.now ? 'scheduled' : 'queued';
}

/** Batch statuses after which nothing of the batch runs again. */
export const TERMINAL_BATCH: ReadonlySet<BatchStatus> = new Set(['completed', 'failed', 'cancelled', 'deadline_missed']);
export const isBatchTerminal = (s: string): boolean => TERMINAL_BATCH.has(s as BatchStatus);

const fmt = (x: number | null | undefined, d = 4): string => (x === null || x === undefined || !Number.isFinite(x) ? '' : x.toFixed(d));
const paramText = (p: Record<string, unknown>): string => Object.entries(p).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ');

/** The mark a row gets: "best", "≈ best" (not significantly different), "" (worse), "n/a" (not testable). */
export function markOf(r: LeaderboardRow): string {
  if (r.rank === null) return '';
  if (r.best) return 'best';
  if (r.tiedWithBest === null) return 'n/a';
  return r.tiedWithBest ? '≈ best' : '';
}

const testName = (r: LeaderboardRow): string => (r.sig ? (r.sig.test === 'nadeau-bengio' ? 'corrected resampled t (Nadeau-Bengio)' : 'Welch t') : '');

/** The morning report in Markdown. */
export function reportMarkdown(b: Batch, lb: Leaderboard): string {
  const lines: string[] = [];
  lines.push(`# Batch ${b.name} (${b.id})`, '');
  lines.push(`- status: ${b.status}; jobs: ${Object.entries(b.counts).filter(([, n]) => n > 0).map(([s, n]) => `${n} ${s}`).join(', ') || 'none'}`);
  lines.push(`- units: ${b.progress.unitsDone} of ${b.progress.unitsTotal} done`);
  if (b.window) lines.push(`- window: ${b.window.start}-${b.window.end} ${b.window.timezone}`);
  if (b.notBefore) lines.push(`- not before: ${b.notBefore}`);
  if (b.deadline) lines.push(`- deadline: ${b.deadline}${b.atRisk ? ` (at risk: projected finish ${b.projection?.projectedFinish ?? 'unknown'})` : ''}`);
  lines.push(`- cost: ${b.costUsd === null ? 'not metered' : `$${b.costUsd.toFixed(2)}`}${b.budgetUsd !== undefined ? ` of a $${b.budgetUsd} budget` : ''}`);
  if (lb.metric) lines.push(`- ranked by ${lb.metric} (${lb.higherIsBetter ? 'higher' : 'lower'} is better); "≈ best": not significantly different from the best at alpha ${lb.alpha} (two-sided); "⚠": the job's training-health checks flagged it (its score may not mean what it seems)`);
  lines.push('');
  lines.push('| rank | job | mark | mean | std | 95% CI | n | p vs best | test | cost | duration | parameters |');
  lines.push('| ---: | --- | --- | ---: | ---: | --- | ---: | ---: | --- | ---: | ---: | --- |');
  for (const r of lb.rows) {
    const esc = (s: string) => s.replace(/\|/g, '\\|');
    lines.push(`| ${r.rank ?? '-'} | ${esc(r.name)} (${r.jobId}) | ${markOf(r)}${r.warnings.length ? ` ⚠ ${r.warnings.join(', ')}` : ''} | ${fmt(r.mean)} | ${fmt(r.std)} | ${r.ci95 ? `[${fmt(r.ci95[0])}, ${fmt(r.ci95[1])}]` : ''} | ${r.n} | ${r.sig ? fmt(r.sig.p, 3) : ''} | ${testName(r)} | ${r.costUsd === null ? '' : `$${r.costUsd.toFixed(2)}`} | ${r.durationS === null ? '' : `${Math.round(r.durationS)}s`} | ${esc(paramText(r.params))} |`);
  }
  lines.push('');
  return lines.join('\n');
}

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : typeof v === 'string' ? v : typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : JSON.stringify(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The report as CSV: one row per job, one column per parameter. */
export function reportCsv(lb: Leaderboard): string {
  const paramKeys = [...new Set(lb.rows.flatMap((r) => Object.keys(r.params)))].sort();
  const head = ['rank', 'job_id', 'name', 'status', 'metric', 'mean', 'std', 'ci95_low', 'ci95_high', 'n', 'best', 'tied_with_best', 'test', 'p_vs_best', 'cost_usd', 'duration_s', 'warnings', ...paramKeys];
  const rows = lb.rows.map((r) => [r.rank, r.jobId, r.name, r.status, r.metric, r.mean, r.std, r.ci95?.[0], r.ci95?.[1], r.n, r.best, r.tiedWithBest, r.sig?.test, r.sig?.p, r.costUsd, r.durationS, r.warnings.join(' '), ...paramKeys.map((k) => r.params[k])]);
  return [head, ...rows].map((row) => row.map(csvCell).join(',')).join('\n') + '\n';
}
