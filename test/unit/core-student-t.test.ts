import { describe, expect, it } from 'vitest';
import { normalCdf, tCdf, tCritical, tQuantile } from '../../services/core/student-t.ts';

// Reference values: scipy.stats.t.ppf / t.cdf / norm.cdf (SciPy 1.x).
describe("Student's t distribution", () => {
  it.each([
    // df, t(0.975), t(0.995)
    [1, 12.706204736174694, 63.656741162871526],
    [2, 4.302652729749462, 9.924843200918287],
    [3, 3.1824463052837078, 5.840909309733355],
    [4, 2.7764451051977934, 4.604094871349992],
    [9, 2.262157162798205, 3.249835541592126],
    [29, 2.045229642132703, 2.756385903670605],
    [100, 1.9839715185235518, 2.6258905214380173],
  ])('quantiles with %i degrees of freedom', (df, q975, q995) => {
    expect(tQuantile(0.975, df)).toBeCloseTo(q975, 9);
    expect(tQuantile(0.995, df)).toBeCloseTo(q995, 8);
    expect(tQuantile(0.025, df)).toBeCloseTo(-q975, 9);
    expect(tCritical(0.95, df)).toBeCloseTo(q975, 9);
  });

  it.each([
    [1, 1, 0.75],
    [2, 3, 0.9303370157205785],
    [-1.5, 5, 0.09695184012123664],
    [0.3, 2.5, 0.6063288142524014],
    [10, 4, 0.999718998188642],
    [-4, 30, 0.0001909228180418782],
    [0, 7, 0.5],
  ])('tCdf(%d, %d)', (t, df, p) => {
    expect(tCdf(t, df)).toBeCloseTo(p, 12);
  });

  it('quantile and CDF invert each other', () => {
    for (const df of [1, 2.5, 3, 17, 250]) {
      for (const p of [0.001, 0.05, 0.3, 0.5, 0.8, 0.999]) expect(tCdf(tQuantile(p, df), df)).toBeCloseTo(p, 10);
    }
  });

  it('is the normal in the large-df limit: 1.96 is the infinite-df quantile', () => {
    expect(normalCdf(1.96)).toBeCloseTo(0.9750021048517795, 12);
    expect(tQuantile(0.975, Infinity)).toBeCloseTo(1.959963984540054, 9);
    expect(tQuantile(0.975, 1e6)).toBeCloseTo(1.959963984540054, 4);
  });

  it('answers NaN for arguments outside its domain and the infinities at the ends', () => {
    expect(tQuantile(1.2, 3)).toBeNaN();
    expect(tQuantile(0.5, 0)).toBeNaN();
    expect(tCdf(1, -1)).toBeNaN();
    expect(tQuantile(1, 3)).toBe(Infinity);
    expect(tQuantile(0, 3)).toBe(-Infinity);
    expect(tCdf(Infinity, 3)).toBe(1);
  });
});
