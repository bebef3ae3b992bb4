/**
 * The batch leaderboard: jobs ranked by the mean of their primary metric (accuracy
 * and the like up, losses and errors down), and a mark on every job whose score is
 * not significantly different from the best one's (two-sided, alpha = 0.05):
 *  - jobs evaluated on the same folds (same data set, same split settings, same
 *    unit keys): the corrected resampled t-test of Nadeau and Bengio (2003) on the
 *    paired differences, variance inflated by (1/n + n_test/n_train) because
 *    scores of overlapping training sets are not independent;
 *  - otherwise Welch's t-test on the two score samples.
 * Pure; table-tested in test/unit/core-leaderboard.test.ts.
 */
import { higherIsBetter } from './vocabulary.ts';
import { tInterval } from './stats.ts';
import { tCdf } from './student-t.ts';

export const ALPHA = 0.05;

export type SigTest = 'nadeau-bengio' | 'welch';

export interface Contender {
  jobId: string;
  name: string;
  status: string;
  params: Record<string, unknown>;
  metric?: string;
  /** unit key -> held-out score (eval units only) */
  scores?: Record<string, number>;
  /** identifies the splits: equal strings mean the units saw the same train/test rows */
  foldSignature?: string;
  /** mean rows of a unit's test and training sets (for the Nadeau-Bengio correction) */
  testRows?: number;
  trainRows?: number;
  costUsd: number | null;
  durationS: number | null;
  /** training-health warning codes of the job (core/health.ts): its score may not mean what it seems */
  warnings?: string[];
}

export interface SigMark {
  test: SigTest;
  t: number;
  df: number;
  p: number;
}

export interface LeaderboardRow {
  jobId: string;
  name: string;
  status: string;
  params: Record<string, unknown>;
  metric: string | null;
  mean: number | null;
  std: number | null;
  ci95: [number, number] | null;
  n: number;
  costUsd: number | null;
  durationS: number | null;
  /** 1 = best; equal means share a rank; null = no score (yet) */
  rank: number | null;
  best: boolean;
  /** true: not significantly different from the best (alpha 0.05); null: not testable (n < 2, or the best itself) */
  tiedWithBest: boolean | null;
  sig: SigMark | null;
  /** training-health warning codes of the job; empty when it learned normally */
  warnings: string[];
}

export interface Leaderboard {
  metric: string | null;
  higherIsBetter: boolean;
  alpha: number;
  rows: LeaderboardRow[];
}

const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);
const meanOf = (xs: number[]) => sum(xs) / xs.length;
/** sample variance (ddof = 1) */
function sampleVar(xs: number[]): number {
  const m = meanOf(xs);
  return sum(xs.map((x) => (x - m) * (x - m))) / (xs.length - 1);
}
const twoSided = (t: number, df: number) => Math.min(1, 2 * (1 - tCdf(Math.abs(t), df)));

/** Result of a test whose statistic is 0/0 (identical samples) or d/0 (constant, different). */
function degenerate(diff: number, df: number, test: SigTest): SigMark {
  return diff === 0 ? { test, t: 0, df, p: 1 } : { test, t: diff > 0 ? Infinity : -Infinity, df, p: 0 };
}

/** Nadeau-Bengio corrected resampled t-test on paired scores (a_i, b_i) of the same folds. */
export function correctedResampledT(a: number[], b: number[], testRows: number, trainRows: number): SigMark | null {
  const n = a.length;
  if (n < 2 || b.length !== n || !(trainRows > 0)) return null;
  const d = a.map((x, i) => x - b[i]);
  const md = meanOf(d);
  const v = sampleVar(d);
  const df = n - 1;
  const se = Math.sqrt((1 / n + testRows / trainRows) * v);
  if (!(se > 0)) return degenerate(md, df, 'nadeau-bengio');
  const t = md / se;
  return { test: 'nadeau-bengio', t, df, p: twoSided(t, df) };
}

/** Welch's unequal-variances t-test. */
export function welchT(a: number[], b: number[]): SigMark | null {
  if (a.length < 2 || b.length < 2) return null;
  const va = sampleVar(a) / a.length;
  const vb = sampleVar(b) / b.length;
  const diff = meanOf(a) - meanOf(b);
  const se = Math.sqrt(va + vb);
  if (!(se > 0)) return degenerate(diff, a.length + b.length - 2, 'welch');
  const df = (va + vb) ** 2 / ((va * va) / (a.length - 1) + (vb * vb) / (b.length - 1));
  const t = diff / se;
  return { test: 'welch', t, df, p: twoSided(t, df) };
}

/** The test for two contenders: paired and corrected when they share their folds, Welch otherwise. */
export function compare(a: Contender, b: Contender): SigMark | null {
  const sa = a.scores ?? {};
  const sb = b.scores ?? {};
  const ka = Object.keys(sa).sort();
  const kb = Object.keys(sb).sort();
  const sameFolds = a.foldSignature !== undefined && a.foldSignature === b.foldSignature && ka.length === kb.length && ka.every((k, i) => k === kb[i]);
  if (sameFolds && a.testRows && a.trainRows) {
    return correctedResampledT(ka.map((k) => sa[k]), ka.map((k) => sb[k]), a.testRows, a.trainRows);
  }
  return welchT(Object.values(sa), Object.values(sb));
}

function describe(xs: number[]): { mean: number; std: number; ci95: [number, number] } {
  const m = meanOf(xs);
  // population std and the Student-t interval (n - 1 df), as each job's own result reports them
  const sd = Math.sqrt(sum(xs.map((x) => (x - m) * (x - m))) / xs.length);
  return { mean: m, std: sd, ci95: tInterval(xs).ci };
}

/**
 * Ranks the contenders that have scores in the batch's metric (the metric most of
 * them report; ties broken by name), best first; the others follow unranked.
 */
export function buildLeaderboard(contenders: Contender[], alpha = ALPHA): Leaderboard {
  const scored = contenders.filter((c) => c.metric && c.scores && Object.keys(c.scores).length > 0);
  const counts = new Map<string, number>();
  for (const c of scored) counts.set(c.metric!, (counts.get(c.metric!) ?? 0) + 1);
  const metric = [...counts.entries()].sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0]))[0]?.[0] ?? null;
  const higher = metric !== null && higherIsBetter(metric);
  const ranked = scored.filter((c) => c.metric === metric).map((c) => ({ c, ...describe(Object.values(c.scores!)) }));
  ranked.sort((x, y) => (higher ? y.mean - x.mean : x.mean - y.mean) || x.c.name.localeCompare(y.c.name) || x.c.jobId.localeCompare(y.c.jobId));
  const best = ranked[0];
  const rows: LeaderboardRow[] = [];
  let rank = 0;
  ranked.forEach((r, i) => {
    if (i === 0 || r.mean !== ranked[i - 1].mean) rank = i + 1;
    const sig = i === 0 ? null : compare(r.c, best.c);
    rows.push({
      jobId: r.c.jobId, name: r.c.name, status: r.c.status, params: r.c.params, metric, mean: r.mean, std: r.std, ci95: r.ci95,
      n: Object.keys(r.c.scores!).length, costUsd: r.c.costUsd, durationS: r.c.durationS, rank, best: i === 0 || r.mean === best.mean,
      tiedWithBest: i === 0 || !sig ? null : sig.p >= alpha, sig, warnings: r.c.warnings ?? [],
    });
  });
  const inRanking = new Set(ranked.map((r) => r.c));
  const rest = contenders.filter((c) => !inRanking.has(c)).sort((x, y) => x.name.localeCompare(y.name));
  for (const c of rest) {
    rows.push({
      jobId: c.jobId, name: c.name, status: c.status, params: c.params, metric: c.metric ?? null, mean: null, std: null, ci95: null,
      n: c.scores ? Object.keys(c.scores).length : 0, costUsd: c.costUsd, durationS: c.durationS, rank: null, best: false, tiedWithBest: null, sig: null, warnings: c.warnings ?? [],
    });
  }
  return { metric, higherIsBetter: higher, alpha, rows };
}
