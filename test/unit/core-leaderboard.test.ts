/**
 * Student's t, the two significance tests and the leaderboard built on them.
 * Expected values come from SciPy 1.x (scipy.stats.t, ttest_ind(equal_var=False))
 * and, for the corrected test, from NumPy arithmetic on the formula of Nadeau and
 * Bengio (2003), not from this code.
 */
import { describe, expect, it } from 'vitest';
import { tCdf, tQuantile } from '../../services/core/student-t.ts';
import { buildLeaderboard, correctedResampledT, welchT, type Contender } from '../../services/core/leaderboard.ts';

describe('student-t', () => {
  it.each([
    [1.3, 5, 0.8748496829146615],
    [-2.5, 12.3, 0.013746387519974328],
    [-1.5, 3.7, 0.10679908460100675],
    [0, 7, 0.5],
  ])('tCdf(%f, %f) = %f', (t, df, p) => {
    expect(tCdf(t, df)).toBeCloseTo(p, 9);
  });
  it.each([
    [0.975, 9, 2.262157162798205],
    [0.975, 2, 4.302652729749462],
    [0.025, 30, -2.042272456301238],
    [0.999, 1.5, 52.18443000899263],
    [0.95, 2, 2.9199855803537242],
  ])('tQuantile(%f, %f) = %f', (p, df, t) => {
    expect(tQuantile(p, df)).toBeCloseTo(t, 7);
  });
  it('is undefined for df <= 0 and p outside [0, 1]', () => {
    expect(tCdf(1, 0)).toBeNaN();
    expect(tQuantile(1.5, 3)).toBeNaN();
    expect(tQuantile(1, 3)).toBe(Infinity);
  });
});

const A = [0.80, 0.82, 0.79, 0.85, 0.81, 0.83, 0.80, 0.84, 0.82, 0.81];
const B = [0.79, 0.81, 0.79, 0.83, 0.81, 0.82, 0.80, 0.83, 0.80, 0.81];

describe('tests', () => {
  it('Welch: SciPy ttest_ind(equal_var=False)', () => {
    const r = welchT([0.80, 0.82, 0.79, 0.85, 0.81], [0.78, 0.80, 0.80, 0.82, 0.79])!;
    expect(r.t).toBeCloseTo(1.306394529484374, 9);
    expect(r.p).toBeCloseTo(0.23367197495178021, 8);
  });
  it('the corrected resampled t-test keeps a difference that a plain paired t-test calls significant (p 0.011) unmarked (p 0.055)', () => {
    const r = correctedResampledT(A, B, 1, 9)!; // 10-fold: test rows / training rows = 1/9
    expect(r.test).toBe('nadeau-bengio');
    expect(r.df).toBe(9);
    expect(r.t).toBeCloseTo(2.2073016221458768, 9);
    expect(r.p).toBeCloseTo(0.054685433723938415, 8);
  });
  it('identical samples are tied (p = 1); constant but different ones differ (p = 0); n < 2 is not testable', () => {
    expect(correctedResampledT([1, 1, 1], [1, 1, 1], 1, 2)!.p).toBe(1);
    expect(correctedResampledT([2, 2, 2], [1, 1, 1], 1, 2)!.p).toBe(0);
    expect(welchT([1, 1], [1, 1])!.p).toBe(1);
    expect(welchT([1], [1, 2])).toBeNull();
    expect(correctedResampledT([1], [1], 1, 2)).toBeNull();
  });
});

const keys = (n: number) => Array.from({ length: n }, (_, i) => `r0-p0-f${i}`);
const c = (name: string, scores: number[], over: Partial<Contender> = {}): Contender => ({
  jobId: `job_${name}`, name, status: 'completed', params: { name }, metric: 'accuracy',
  scores: Object.fromEntries(keys(scores.length).map((k, i) => [k, scores[i]])), foldSignature: 'same', testRows: 1, trainRows: 9,
  costUsd: null, durationS: 10, ...over,
});

describe('buildLeaderboard', () => {
  it('accuracy: higher first; marks by the corrected test on shared folds', () => {
    const lb = buildLeaderboard([c('b', B), c('a', A), c('worse', A.map((x) => x - 0.1))]);
    expect(lb).toMatchObject({ metric: 'accuracy', higherIsBetter: true, alpha: 0.05 });
    expect(lb.rows.map((r) => [r.name, r.rank, r.best, r.tiedWithBest])).toEqual([
      ['a', 1, true, null],
      ['b', 2, false, true],
      ['worse', 3, false, false],
    ]);
    expect(lb.rows[1].sig!.p).toBeCloseTo(0.054685433723938415, 8);
  });
  it('losses: lower first; jobs on different folds are compared with Welch', () => {
    const lb = buildLeaderboard([
      c('x', [3, 3.2, 2.9], { metric: 'mse', foldSignature: 'one' }),
      c('y', [2, 2.1, 1.9], { metric: 'mse', foldSignature: 'two' }),
    ]);
    expect(lb.higherIsBetter).toBe(false);
    expect(lb.rows.map((r) => r.name)).toEqual(['y', 'x']);
    expect(lb.rows[1].sig!.test).toBe('welch');
  });
  it('equal means share a rank; jobs without scores follow unranked; the metric most jobs report wins', () => {
    const lb = buildLeaderboard([
      c('p', [0.5, 0.7]), c('q', [0.6, 0.6]), c('pending', [], { status: 'queued', scores: undefined }), c('other', [1, 2], { metric: 'mae' }),
    ]);
    expect(lb.metric).toBe('accuracy');
    expect(lb.rows.map((r) => [r.name, r.rank, r.best])).toEqual([['p', 1, true], ['q', 1, true], ['other', null, false], ['pending', null, false]]);
  });
  it('an empty batch has no metric and no rows', () => {
    expect(buildLeaderboard([])).toMatchObject({ metric: null, rows: [] });
  });
});

describe('training-health warnings on the leaderboard', () => {
  it("carry each job's warning codes into its row, the report's mark and the CSV", async () => {
    const { reportCsv } = await import('../../services/core/batch.ts');
    const base = { status: 'completed', params: {}, metric: 'accuracy', costUsd: null, durationS: null };
    const lb = buildLeaderboard([
      { ...base, jobId: 'a', name: 'learned', scores: { f0: 0.9, f1: 0.92, f2: 0.91 } },
      { ...base, jobId: 'b', name: 'dead', scores: { f0: 0.35, f1: 0.35, f2: 0.35 }, warnings: ['constant_predictions', 'accuracy_at_class_rate'] },
    ]);
    expect(lb.rows.map((r) => [r.name, r.warnings])).toEqual([['learned', []], ['dead', ['constant_predictions', 'accuracy_at_class_rate']]]);
    const csv = reportCsv(lb).split('\n');
    const col = csv[0].split(',').indexOf('warnings');
    expect(col).toBeGreaterThan(0);
    expect(csv[2].split(',')[col]).toBe('constant_predictions accuracy_at_class_rate');
    expect(csv[1].split(',')[col]).toBe('');
  });
});
