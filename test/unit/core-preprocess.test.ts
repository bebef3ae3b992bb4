import { describe, expect, it } from 'vitest';
import { PreprocessColumnError, applyScaling, fitScaling, scalingPlan, type PreprocessSpec } from '../../services/core/preprocess.ts';

const pre = (o: Partial<PreprocessSpec>): PreprocessSpec => ({ standardize: false, minmax: false, columns: {}, ...o });

describe('scaling plan', () => {
  // a data set of 5 columns whose target is column 2: features are columns 0, 1, 3, 4
  const features = [0, 1, 3, 4];
  it.each([
    ['nothing', pre({}), ['none', 'none', 'none', 'none']],
    ['standardize everything', pre({ standardize: true }), ['standardize', 'standardize', 'standardize', 'standardize']],
    ['minmax everything', pre({ minmax: true }), ['minmax', 'minmax', 'minmax', 'minmax']],
    ['per column over a default', pre({ standardize: true, columns: { '3': 'minmax', '-1': 'none' } }), ['standardize', 'standardize', 'minmax', 'none']],
    ['per column alone', pre({ columns: { '0': 'minmax' } }), ['minmax', 'none', 'none', 'none']],
  ])('%s', (_what, p, kinds) => expect(scalingPlan(p, features, 5)).toEqual(kinds));

  it.each([
    [{ '2': 'minmax' }, '2', /column 2 is a target column/],
    [{ '5': 'minmax' }, '5', /column 5 is out of range: the data set has 5 columns/],
    [{ '-6': 'none' }, '-6', /out of range/],
  ] as const)('refuses %o', (columns, key, message) => {
    try {
      scalingPlan(pre({ columns: { ...columns } }), features, 5);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(PreprocessColumnError);
      expect((e as PreprocessColumnError).key).toBe(key);
      expect((e as Error).message).toMatch(message);
    }
  });
});

describe('fit and apply', () => {
  // rows x 3 features; rows 0..2 train, row 3 is held out with values far outside
  const x = Float32Array.from([1, 10, 5, 2, 20, 5, 3, 60, 5, 100, -500, 9]);
  it('fits only the given rows: mean/std, min/max, none; a constant column keeps scale 1', () => {
    const s = fitScaling(x, 3, [0, 1, 2], ['standardize', 'minmax', 'standardize']);
    expect(s.offset[0]).toBeCloseTo(2, 12);
    expect(s.scale[0]).toBeCloseTo(Math.sqrt(2 / 3), 12);
    expect([s.offset[1], s.scale[1]]).toEqual([10, 50]);
    expect([s.offset[2], s.scale[2]]).toEqual([5, 1]);
    const y = applyScaling(x, 3, s);
    expect(y[1]).toBe(0);
    expect(y[4]).toBeCloseTo(0.2, 6);
    expect(y[7]).toBe(1);
    expect(y[10]).toBeCloseTo(-10.2, 5); // the held-out row is scaled with the training statistics, not refitted
  });
});
