/**
 * Statistics of a stochastic model's skill, as the tutorials report it:
 * mean, population standard deviation, standard error = std / sqrt(n) and a 95%
 * confidence interval mean +- 1.96 * stderr. Pure; table-tested.
 */
export interface Summary {
  n: number;
  mean: number;
  std: number;
  stderr: number;
  ci95: [number, number];
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

export function summarize(xs: readonly number[]): Summary {
  const n = xs.length;
  const m = mean(xs);
  const sd = std(xs);
  const se = n > 0 ? sd / Math.sqrt(n) : NaN;
  return { n, mean: m, std: sd, stderr: se, ci95: [m - 1.96 * se, m + 1.96 * se], min: n ? Math.min(...xs) : NaN, max: n ? Math.max(...xs) : NaN };
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
