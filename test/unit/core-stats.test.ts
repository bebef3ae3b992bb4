import { describe, expect, it } from 'vitest';
import { mean, runMeans, std, summarize } from '../../services/core/stats.ts';

describe('statistics of unit scores', () => {
  it.each([
    // xs, mean, population std
    [[1], 1, 0],
    [[1, 2, 3, 4], 2.5, Math.sqrt(1.25)],
    [[2, 4, 4, 4, 5, 5, 7, 9], 5, 2],
    // by hand: mean 2.962 / 3; deviations -1/3000, -7/3000, +8/3000, so std = sqrt((1 + 49 + 64) / 3) / 3000 = sqrt(114 / 27) / 1000
    [[0.987, 0.985, 0.99], 0.987333333333333333, 0.00205480466765633],
  ])('mean and population std of %j', (xs, m, s) => {
    expect(mean(xs)).toBeCloseTo(m, 12);
    expect(std(xs)).toBeCloseTo(s, 12);
  });

  it('standard error is std / sqrt(n); the 95% interval is Student t with n - 1 df over the sample std', () => {
    const s = summarize([2, 4, 4, 4, 5, 5, 7, 9]);
    expect(s.n).toBe(8);
    expect(s.stderr).toBeCloseTo(2 / Math.sqrt(8), 12);
    // scipy: t.ppf(0.975, 7) = 2.364624251592784; sample std = sqrt(32 / 7)
    const half = 2.364624251592784 * Math.sqrt(32 / 7) / Math.sqrt(8);
    expect(s.ci95[0]).toBeCloseTo(5 - half, 10);
    expect(s.ci95[1]).toBeCloseTo(5 + half, 10);
    expect(s.interval).toMatchObject({ method: 'student_t', confidence: 0.95, df: 7 });
    expect(s.interval.t).toBeCloseTo(2.364624251592784, 10);
    expect([s.min, s.max]).toEqual([2, 9]);
  });

  it('with 3 folds the interval is t = 4.30 sample standard errors wide each side, not 1.96', () => {
    // scores 0.70, 0.75, 0.80: sample std 0.05, s / sqrt(3) = 0.028868; t(0.975, 2) = 4.302652729749462
    const s = summarize([0.7, 0.75, 0.8]);
    expect(s.ci95[1] - s.mean).toBeCloseTo(4.302652729749462 * 0.05 / Math.sqrt(3), 10);
    expect(s.ci95[1] - s.mean).toBeGreaterThan(2 * 1.96 * s.stderr);
  });

  it('one score has no interval: the mean alone, and says so', () => {
    const s = summarize([0.8]);
    expect(s.ci95).toEqual([0.8, 0.8]);
    expect(s.interval).toEqual({ method: 'none', confidence: 0.95, df: 0 });
  });

  it('an empty list has no statistics rather than zeros', () => {
    expect(Number.isNaN(summarize([]).mean)).toBe(true);
  });

  it('per-run means are ordered by run', () => {
    expect(runMeans([{ run: 1, score: 4 }, { run: 0, score: 1 }, { run: 1, score: 6 }, { run: 0, score: 3 }])).toEqual([2, 5]);
  });
});
