import { describe, expect, it } from 'vitest';
import { mean, runMeans, std, summarize } from '../../services/core/stats.ts';

describe('statistics of unit scores', () => {
  it.each([
    // xs, mean, population std
    [[1], 1, 0],
    [[1, 2, 3, 4], 2.5, Math.sqrt(1.25)],
    [[2, 4, 4, 4, 5, 5, 7, 9], 5, 2],
    [[0.987, 0.985, 0.99], (0.987 + 0.985 + 0.99) / 3, Math.sqrt(((0.987 - 0.9873333333333333) ** 2 + (0.985 - 0.9873333333333333) ** 2 + (0.99 - 0.9873333333333333) ** 2) / 3)],
  ])('mean and population std of %j', (xs, m, s) => {
    expect(mean(xs)).toBeCloseTo(m, 12);
    expect(std(xs)).toBeCloseTo(s, 12);
  });

  it('standard error is std / sqrt(n) and the 95% interval is mean +- 1.96 stderr', () => {
    const s = summarize([2, 4, 4, 4, 5, 5, 7, 9]);
    expect(s.n).toBe(8);
    expect(s.stderr).toBeCloseTo(2 / Math.sqrt(8), 12);
    expect(s.ci95[0]).toBeCloseTo(5 - 1.96 * (2 / Math.sqrt(8)), 12);
    expect(s.ci95[1]).toBeCloseTo(5 + 1.96 * (2 / Math.sqrt(8)), 12);
    expect([s.min, s.max]).toEqual([2, 9]);
  });

  it('an empty list has no statistics rather than zeros', () => {
    expect(Number.isNaN(summarize([]).mean)).toBe(true);
  });

  it('per-run means are ordered by run', () => {
    expect(runMeans([{ run: 1, score: 4 }, { run: 0, score: 1 }, { run: 1, score: 6 }, { run: 0, score: 3 }])).toEqual([2, 5]);
  });
});
