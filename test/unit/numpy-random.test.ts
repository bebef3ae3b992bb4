import { describe, expect, it } from 'vitest';
import { RandomState, fma, logCorrectlyRounded } from '../../workers/trainer/ml/numpy-random.ts';
import { sampleWithoutReplacement } from '../../workers/trainer/ml/generators.ts';

const draw = <T>(count: number, f: () => T): T[] => Array.from({ length: count }, f);

describe('numpy legacy RandomState (MT19937)', () => {
  it('MT19937 init_genrand(5489) gives the reference outputs', () => {
    const r = new RandomState(5489);
    expect(draw(5, () => r.nextUint32())).toEqual([3499211612, 581869302, 3890346734, 3586334585, 545404204]);
  });

  it('random_sample, standard_normal, normal and uniform as numpy.random.RandomState(0)', () => {
    const a = new RandomState(0);
    expect(draw(3, () => a.randomSample())).toEqual([0.5488135039273248, 0.7151893663724195, 0.6027633760716439]);
    const b = new RandomState(0);
    expect(draw(3, () => b.standardNormal())).toEqual([1.764052345967664, 0.4001572083672233, 0.9787379841057392]);
    const c = new RandomState(0);
    expect(draw(3, () => c.normal(3, 2))).toEqual([6.528104691935328, 3.8003144167344467, 4.957475968211479]);
    // the cached second value of the last pair is consumed before new uniform draws are taken
    expect(c.uniform(-1, 2)).toBe(0.270964398016714);
    const d = new RandomState(2 ** 32 - 1);
    expect(draw(2, () => d.randomSample())).toEqual([0.0976320289940138, 0.9123828453026218]);
  });

  it('randint, shuffle and permutation as numpy', () => {
    const a = new RandomState(0);
    expect(draw(10, () => a.randint(10))).toEqual([5, 0, 3, 3, 7, 9, 3, 5, 2, 4]);
    expect(Array.from(new RandomState(1).permutation(10))).toEqual([2, 9, 6, 4, 0, 3, 1, 7, 8, 5]);
    const b = new RandomState(3);
    const xs = [0, 1, 2, 3, 4, 5, 6];
    b.shuffle(xs);
    expect(xs).toEqual([4, 6, 5, 3, 1, 0, 2]);
    expect(b.randint(5)).toBe(0);
    expect(b.randomSample()).toBe(0.5693113274346809);
    expect(new RandomState(7).randint(4, 5)).toBe(4); // a one-value range draws nothing
  });

  it('sample_without_replacement follows scikit-learn (its documented example)', () => {
    expect(sampleWithoutReplacement(10, 5, new RandomState(42))).toEqual([8, 1, 5, 0, 7]);
    expect(sampleWithoutReplacement(4, 4, new RandomState(0))).toEqual([0, 1, 2, 3]); // reservoir: no draws
  });

  it('refuses seeds outside [0, 2**32 - 1]', () => {
    expect(() => new RandomState(-1)).toThrow(/seed/);
    expect(() => new RandomState(2 ** 32)).toThrow(/seed/);
    expect(() => new RandomState(1.5)).toThrow(/seed/);
  });
});

describe('float helpers', () => {
  it('fma rounds once', () => {
    const e = 2 ** -52;
    expect((1 + e) * (1 - e) - 1).toBe(0);
    expect(fma(1 + e, 1 - e, -1)).toBe(-(2 ** -104));
    expect(fma(0.1, 10, -1)).toBe(5.551115123125783e-17);
    expect(fma(3, 4, 5)).toBe(17);
    expect(fma(0, 5, -2)).toBe(-2);
  });

  it('log is correctly rounded where Math.log may be an ulp off', () => {
    // [x, correctly rounded log x]
    const cases: [number, number][] = [
      [0.9035723685650978, -0.10139907413307132],
      [0.8187405772937647, -0.1999880007477374],
      [0.10752183522705262, -2.23006133364898],
      [0.3790373605391606, -0.9701205021375899],
      [2, 0.6931471805599453],
      [10, 2.302585092994046],
      [1, 0],
    ];
    for (const [x, lx] of cases) expect(logCorrectlyRounded(x)).toBe(lx);
    expect(logCorrectlyRounded(2 ** -1074)).toBe(Math.log(2 ** -1074));
    expect(logCorrectlyRounded(0)).toBe(-Infinity);
  });
});
