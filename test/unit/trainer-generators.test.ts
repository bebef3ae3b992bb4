import { describe, expect, it } from 'vitest';
import { generateBuiltin, makeRegression } from '../../workers/trainer/ml/generators.ts';
import type { Table } from '../../services/platform/csv.ts';

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

  describe('same data as scikit-learn with the same random_state', () => {
    // reference values from numpy.random.RandomState + scikit-learn's make_regression / make_classification
    const row = (t: Table, r: number, cols: number): number[] => Array.from({ length: cols }, (_, j) => col(t, j)[r]);

    it('make_regression(n_samples=1000, n_features=10, n_informative=5, n_targets=3, random_state=2)', () => {
      const { table, coef } = makeRegression(new URLSearchParams('n_samples=1000&n_features=10&n_informative=5&n_targets=3&random_state=2'));
      expect(row(table, 0, 10)).toEqual([
        -0.998593526959469, 2.192843088045316, -0.4263256850897922, -0.2104325807814952, -1.1365561175277785, -0.5567160238008024,
        -0.6316904533182338, -0.8762509824969279, -0.9944557777907765, -0.36774870322133574,
      ]);
      expect([10, 11, 12].map((c) => col(table, c)[0])).toEqual([-148.03723473555715, -80.6320984755657, -91.57365609739456]);
      expect(coef[0]).toEqual([92.81820865819351, 21.55603124007709, 60.04551390065724]);
      expect(coef[1]).toEqual([0, 0, 0]);
      expect(coef[9]).toEqual([19.976427532904527, 54.7184396788295, 32.95694364529068]);
      // the Keras multi-output regression tutorial predicts on a row that starts as this X[0]
      // (its other entries are not values of this data set)
      const tutorial = [-0.99859353, 2.19284309, -0.42632938, -0.21043258];
      for (const j of [0, 1, 3]) expect(Math.abs(row(table, 0, 10)[j] - tutorial[j])).toBeLessThan(1e-7);
    });

    it('make_regression with noise and bias', () => {
      const { table } = makeRegression(new URLSearchParams('n_samples=300&n_features=20&n_informative=7&n_targets=2&noise=0.5&bias=3.5&random_state=123'));
      expect(row(table, 5, 22)).toEqual([
        0.1579587801589276, -0.19510847021258867, 0.9955950119998253, 0.21369560233776932, 0.8344989339590665, -0.9433839363906805,
        0.5554889157620354, -2.1245752847438957, -0.20431653477724301, 1.0338782015211176, -0.6322607782348555, -0.7892555297763586,
        0.19726916503940956, -0.06783008579806996, -0.3691753722778006, -0.300232397105865, 1.2396349893012046, -0.8915898824001487,
        1.5194710966809868, 0.5930700051303133, -35.402490155657226, -130.7253324930759,
      ]);
    });

    it('make_classification(n_samples=100, random_state=0)', () => {
      const t = generateBuiltin('builtin:make_classification?n_samples=100&random_state=0');
      expect(row(t, 0, 20)).toEqual([
        -0.039267991037953184, 0.1319117557874122, -0.21120598363152, -1.21414739515473, 1.0500446681804023, -0.4213275873246805,
        0.768770644399475, 0.8756956787795067, 2.451229719075076, -0.4802420417382233, -2.132641055314084, -0.5232509433848951,
        0.7086952731104266, -1.9805655910689397, -1.3651628772251687, -0.9489328108497634, 1.9470986428203578, 1.9769890149980527,
        1.021224743167163, -0.46931073627910674,
      ]);
      expect(Array.from(col(t, 20).subarray(0, 20))).toEqual([0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 1, 0, 1]);
    });

    it('make_classification with repeated features, flipped labels and one cluster per class', () => {
      const q = 'n_samples=500&n_features=12&n_informative=5&n_redundant=2&n_repeated=2&n_classes=4&n_clusters_per_class=1&flip_y=0.2&random_state=42';
      const t = generateBuiltin(`builtin:make_classification?${q}`);
      expect(row(t, 3, 12)).toEqual([
        1.529916812703004, 0.11200645636393147, 1.0936976406914414, -1.048735469139437, -1.048735469139437, -0.7595220153937757,
        1.1195507766446224, -0.3326571805631725, -1.048735469139437, 0.5643252218469555, -0.12442732310641852, -0.45547862513552206,
      ]);
      const y = Array.from(col(t, 12));
      expect(y.slice(0, 20)).toEqual([3, 1, 1, 2, 1, 3, 3, 2, 3, 3, 1, 2, 1, 2, 3, 1, 1, 3, 1, 1]);
      expect([0, 1, 2, 3].map((k) => y.filter((v) => v === k).length)).toEqual([127, 139, 123, 111]);
    });

    it('make_classification: shift=None / scale=None draw per-feature values', () => {
      const base = 'n_samples=50&n_features=4&n_informative=2&n_redundant=0&random_state=3';
      const a = generateBuiltin(`builtin:make_classification?${base}`);
      const b = generateBuiltin(`builtin:make_classification?${base}&shift=None&scale=None`);
      expect(Array.from(col(b, 0))).not.toEqual(Array.from(col(a, 0)));
      // labels are drawn before shift and scale (only the row shuffle after them differs)
      expect(Array.from(col(b, 4)).sort()).toEqual(Array.from(col(a, 4)).sort());
    });
  });
});
