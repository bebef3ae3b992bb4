import { describe, expect, it } from 'vitest';
import { generateBuiltin, makeRegression } from '../../workers/trainer/ml/generators.ts';
import type { Table } from '../../workers/trainer/ml/csv.ts';

const col = (t: Table, c: number): Float64Array => t.data[c].values as Float64Array;

/** Least squares via normal equations (Gaussian elimination); X is rows x p. */
function lstsq(X: number[][], y: number[]): number[] {
  const p = X[0].length;
  const A = Array.from({ length: p }, () => new Array(p + 1).fill(0));
  for (let r = 0; r < X.length; r++) {
    for (let i = 0; i < p; i++) {
      for (let j = 0; j < p; j++) A[i][j] += X[r][i] * X[r][j];
      A[i][p] += X[r][i] * y[r];
    }
  }
  for (let i = 0; i < p; i++) {
    let m = i;
    for (let k = i + 1; k < p; k++) if (Math.abs(A[k][i]) > Math.abs(A[m][i])) m = k;
    [A[i], A[m]] = [A[m], A[i]];
    for (let k = 0; k < p; k++) {
      if (k === i) continue;
      const f = A[k][i] / A[i][i];
      for (let j = i; j <= p; j++) A[k][j] -= f * A[i][j];
    }
  }
  return A.map((row, i) => row[p] / row[i]);
}

const code = (f: () => unknown): { code?: string; message: string } => {
  try {
    f();
  } catch (e) {
    return e as { code: string; message: string };
  }
  throw new Error('expected an error');
};

describe('builtin generators', () => {
  it('make_regression: shape, targets last, deterministic by random_state', () => {
    const uri = 'builtin:make_regression?n_samples=50&n_features=4&n_informative=2&n_targets=3&random_state=2';
    const a = generateBuiltin(uri);
    expect(a.rows).toBe(50);
    expect(a.columns).toBe(7);
    const b = generateBuiltin(uri);
    expect(a.data.map((c) => Array.from(c.values as Float64Array))).toEqual(b.data.map((c) => Array.from(c.values as Float64Array)));
    const c = generateBuiltin(uri.replace('random_state=2', 'random_state=3'));
    expect(Array.from(col(c, 0))).not.toEqual(Array.from(col(a, 0)));
  });

  it('make_regression: least squares on noise-free data recovers the coefficients', () => {
    const q = new URLSearchParams('n_samples=200&n_features=6&n_informative=3&n_targets=2&bias=5&random_state=1');
    const { table, coef } = makeRegression(q);
    const X = Array.from({ length: 200 }, (_, r) => [1, ...Array.from({ length: 6 }, (_, j) => col(table, j)[r])]);
    for (let t = 0; t < 2; t++) {
      const w = lstsq(X, Array.from(col(table, 6 + t)));
      expect(w[0]).toBeCloseTo(5, 6);
      const fitted = w.slice(1);
      fitted.forEach((v, j) => expect(v).toBeCloseTo(coef[j][t], 6));
      const informative = fitted.filter((v) => Math.abs(v) > 1e-6);
      expect(informative).toHaveLength(3);
      for (const v of informative) expect(v >= 0 && v < 100).toBe(true);
    }
  });

  it('make_regression: noise is added with the given scale', () => {
    const q = 'n_samples=2000&n_features=3&n_informative=3&noise=2&random_state=4';
    const { table, coef } = makeRegression(new URLSearchParams(q));
    let ss = 0;
    for (let r = 0; r < 2000; r++) {
      let pred = 0;
      for (let j = 0; j < 3; j++) pred += col(table, j)[r] * coef[j][0];
      ss += (col(table, 3)[r] - pred) ** 2;
    }
    expect(Math.sqrt(ss / 2000)).toBeGreaterThan(1.8);
    expect(Math.sqrt(ss / 2000)).toBeLessThan(2.2);
  });

  it('make_classification: labels 0..k-1 in the last column, balanced classes, separable', () => {
    const t = generateBuiltin('builtin:make_classification?n_samples=300&n_features=5&n_informative=3&n_redundant=1&n_classes=3&flip_y=0&random_state=7');
    expect(t.columns).toBe(6);
    const y = Array.from(col(t, 5));
    expect(new Set(y)).toEqual(new Set([0, 1, 2]));
    expect([0, 1, 2].map((k) => y.filter((v) => v === k).length)).toEqual([100, 100, 100]);
    const again = generateBuiltin('builtin:make_classification?n_samples=300&n_features=5&n_informative=3&n_redundant=1&n_classes=3&flip_y=0&random_state=7');
    expect(Array.from(col(again, 0))).toEqual(Array.from(col(t, 0)));
  });

  it('make_classification: weights set class proportions', () => {
    const t = generateBuiltin('builtin:make_classification?n_samples=1000&weights=0.9&flip_y=0&random_state=1');
    const y = Array.from(col(t, t.columns - 1));
    // as sklearn: int(1000 * (1 - 0.9) / 2) = 49 per cluster, remainders go to the first clusters (class 0)
    expect(y.filter((v) => v === 1).length).toBe(99);
  });

  it.each([
    ['builtin:make_moons?n_samples=10', 'make_moons'],
    ['builtin:make_regression?n_sample=10', 'n_sample'],
    ['builtin:make_regression?n_samples=ten', 'n_samples'],
    ['builtin:make_regression?n_samples=1000001', 'n_samples'],
    ['builtin:make_regression?n_features=10001', 'n_features'],
    ['builtin:make_classification?n_features=3&n_informative=3&n_redundant=2', 'n_redundant'],
    ['builtin:make_classification?n_informative=1&n_classes=3', 'n_classes'],
  ])('%s is refused naming %s', (uri, name) => {
    const e = code(() => generateBuiltin(uri));
    expect(e.code).toBe('dataset_invalid');
    expect(e.message).toContain(name);
  });
});
