/**
 * Statistics of a stochastic model's skill: mean, population standard deviation and
 * standard error = std / sqrt(n) as the tutorials report them, and a 95% confidence
 * interval from Student's t with n - 1 degrees of freedom:
 * mean +- t(0.975, n - 1) * s / sqrt(n), s the sample standard deviation (ddof = 1).
 * The tutorials' mean +- 1.96 stderr is the large-n limit and far too narrow for a
 * few folds (n = 3: t = 4.30). Pure; table-tested.
 */
import { tQuantile } from './student-t.ts';

/** How a confidence interval was computed, so a reader can check it. */
export interface IntervalInfo {
  /** 'student_t': mean +- t * s / sqrt(n); 'none': fewer than 2 scores, the interval is the mean alone */
  method: 'student_t' | 'none';
  confidence: number;
  /** degrees of freedom, n - 1 */
  df: number;
  /** the t quantile used (t(0.975, df) for a 95% interval) */
  t?: number;
  /** s / sqrt(n) with the sample standard deviation (ddof = 1) */
  sampleStderr?: number;
}

export interface Summary {
  n: number;
  mean: number;
  std: number;
  stderr: number;
  ci95: [number, number];
  interval: IntervalInfo;
  min: number;
  max: number;
}

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Population standard deviation (numpy's default, ddof = 0). */
export function std(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) * (x - m);
  return Math.sqrt(s / xs.length);
}

/** Student-t interval of the mean at `confidence` (0.95 by default). */
export function tInterval(xs: readonly number[], confidence = 0.95): { ci: [number, number]; info: IntervalInfo } {
  const n = xs.length;
  const m = mean(xs);
  if (n < 2) return { ci: [m, m], info: { method: 'none', confidence, df: Math.max(0, n - 1) } };
  const df = n - 1;
  const sampleStd = std(xs) * Math.sqrt(n / df);
  const se = sampleStd / Math.sqrt(n);
  const t = tQuantile(1 - (1 - confidence) / 2, df);
  return { ci: [m - t * se, m + t * se], info: { method: 'student_t', confidence, df, t, sampleStderr: se } };
}

export function summarize(xs: readonly number[]): Summary {
  const n = xs.length;
  const m = mean(xs);
  const sd = std(xs);
  const se = n > 0 ? sd / Math.sqrt(n) : NaN;
  const { ci, info } = tInterval(xs, 0.95);
  return { n, mean: m, std: sd, stderr: se, ci95: ci, interval: info, min: n ? Math.min(...xs) : NaN, max: n ? Math.max(...xs) : NaN };
}

/** Mean score of each run, given scores tagged with their run. */
export function runMeans(scores: ReadonlyArray<{ run: number; score: number }>): number[] {
  const byRun = new Map<number, number[]>();
  for (const { run, score } of scores) {
    const a = byRun.get(run) ?? [];
    a.push(score);
    byRun.set(run, a);
  }
  return [...byRun.keys()].sort((a, b) => a - b).map((r) => mean(byRun.get(r)!));
}
