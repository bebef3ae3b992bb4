import { describe, expect, it } from 'vitest';
import { holdoutSplit, kfoldSplits, standardizeApply, standardizeFit } from '../../workers/trainer/ml/splits.ts';

const partitionCheck = (n: number, folds: { test: Int32Array; train: Int32Array }[]) => {
  const seen = new Array(n).fill(0);
  for (const f of folds) {
    for (const i of f.test) seen[i]++;
    expect(f.train.length + f.test.length).toBe(n);
    const tr = new Set(f.train);
    for (const i of f.test) expect(tr.has(i)).toBe(false);
  }
  expect(seen.every((c) => c === 1)).toBe(true);
};

describe('holdoutSplit', () => {
  it.each([[10, 0.33, 4], [100, 0.5, 50], [7, 0.1, 1]])('n=%i testSize=%f -> ceil = %i test rows', (n, ts, want) => {
    const s = holdoutSplit(n, ts, { seed: 1, shuffle: true });
    expect(s.test.length).toBe(want);
    expect(s.train.length).toBe(n - want);
    expect(new Set([...s.train, ...s.test]).size).toBe(n);
  });

  it('is deterministic from the seed; without shuffle the test rows are the last ones', () => {
    expect(holdoutSplit(50, 0.3, { seed: 3, shuffle: true })).toEqual(holdoutSplit(50, 0.3, { seed: 3, shuffle: true }));
    expect(holdoutSplit(50, 0.3, { seed: 3, shuffle: true }).test).not.toEqual(holdoutSplit(50, 0.3, { seed: 4, shuffle: true }).test);
    expect(Array.from(holdoutSplit(10, 0.3, { seed: 3, shuffle: false }).test)).toEqual([7, 8, 9]);
  });

  it('stratified holdout keeps class shares', () => {
    const y = Int32Array.from({ length: 100 }, (_, i) => (i < 90 ? 0 : 1));
    const s = holdoutSplit(100, 0.2, { seed: 1, shuffle: true, stratify: y });
    expect(Array.from(s.test).filter((i) => y[i] === 1).length).toBe(2);
    expect(s.test.length).toBe(20);
  });
});

describe('kfoldSplits', () => {
  it('KFold: sklearn fold sizes (first n % k folds one larger), a partition', () => {
    const folds = kfoldSplits(23, 5, { seed: 1, shuffle: true });
    expect(folds.map((f) => f.test.length)).toEqual([5, 5, 5, 4, 4]);
    partitionCheck(23, folds);
    const plain = kfoldSplits(10, 3, { seed: 1, shuffle: false });
    expect(plain.map((f) => Array.from(f.test))).toEqual([[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]);
  });

  it('different seeds give different folds, the same seed the same', () => {
    expect(kfoldSplits(40, 4, { seed: 9, shuffle: true })).toEqual(kfoldSplits(40, 4, { seed: 9, shuffle: true }));
    expect(kfoldSplits(40, 4, { seed: 9, shuffle: true })[0].test).not.toEqual(kfoldSplits(40, 4, { seed: 10, shuffle: true })[0].test);
  });

  it('StratifiedKFold: every fold keeps each class within one row of its share', () => {
    const n = 1037;
    const y = Int32Array.from({ length: n }, (_, i) => (i % 41 === 0 ? 2 : i % 3 === 0 ? 1 : 0));
    const counts = [0, 1, 2].map((k) => y.filter((v) => v === k).length);
    const k = 10;
    const folds = kfoldSplits(n, k, { seed: 5, shuffle: true, stratify: y });
    partitionCheck(n, folds);
    for (const f of folds) {
      for (let c = 0; c < 3; c++) {
        const inFold = Array.from(f.test).filter((i) => y[i] === c).length;
        expect(Math.abs(inFold - counts[c] / k)).toBeLessThanOrEqual(1);
      }
    }
    const sizes = folds.map((f) => f.test.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
  });

  it('refuses more stratified folds than the smallest class, naming evaluation.folds', () => {
    const y = Int32Array.from({ length: 30 }, (_, i) => (i < 3 ? 1 : 0));
    expect(() => kfoldSplits(30, 5, { seed: 1, shuffle: true, stratify: y })).toThrow(/evaluation\.folds/);
  });
});

describe('standardize', () => {
  it('fits on the training rows only; std 0 becomes 1', () => {
    // 4 rows x 2 cols; row 3 is an outlier that is not a training row
    const x = Float32Array.from([1, 5, 3, 5, 5, 5, 1000, 5]);
    const s = standardizeFit(x, 4, 2, [0, 1, 2]);
    expect(s.mean).toEqual([3, 5]);
    expect(s.std[0]).toBeCloseTo(Math.sqrt(8 / 3), 6);
    expect(s.std[1]).toBe(1);
    const z = standardizeApply(x, 2, s);
    expect(z[0]).toBeCloseTo(-2 / Math.sqrt(8 / 3), 5);
    expect(z[1]).toBe(0);
    expect(z[6]).toBeCloseTo(997 / Math.sqrt(8 / 3), 2);
  });
});
