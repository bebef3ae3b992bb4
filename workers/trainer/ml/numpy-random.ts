/**
 * numpy's legacy `numpy.random.RandomState` (MT19937), reproduced draw for draw so
 * that data sets generated with scikit-learn's `random_state=<int>` can be rebuilt
 * exactly. Only the methods the built-in generators need are implemented:
 *
 *   random_sample / rand      -> randomSample()
 *   uniform(low, high)        -> uniform()
 *   standard_normal / randn   -> standardNormal()   (legacy polar method, cached pair)
 *   normal(loc, scale)        -> normal()
 *   randint(low, high)        -> randint()          (masked rejection, int64 dtype)
 *   shuffle(1-D array)        -> shuffle()
 *   permutation(n)            -> permutation()
 *
 * Array-valued draws are made in C (row-major) order, one element after another, so
 * the array helpers just loop over the scalar methods.
 *
 * Two float helpers make the arithmetic around the draws match numpy's as well:
 * `logCorrectlyRounded` (the C library's log, which the polar method uses, rounds
 * correctly where Math.log may not) and `fma` (BLAS kernels accumulate dot products
 * with fused multiply-adds).
 */

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

/** Smallest all-ones bit mask >= max (max < 2**32). */
function maskFor(max: number): number {
  let mask = max >>> 0;
  mask |= mask >>> 1;
  mask |= mask >>> 2;
  mask |= mask >>> 4;
  mask |= mask >>> 8;
  mask |= mask >>> 16;
  return mask >>> 0;
}

export class RandomState {
  private readonly key = new Uint32Array(N);
  private pos = N;
  private hasGauss = false;
  private gauss = 0;

  /** `RandomState(seed)` for an integer seed in [0, 2**32 - 1] (MT19937 init_genrand). */
  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed must be an integer in [0, 2**32 - 1], got ${seed}`);
    const key = this.key;
    key[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = key[i - 1];
      key[i] = (Math.imul(1812433253, (prev ^ (prev >>> 30)) >>> 0) + i) >>> 0;
    }
  }

  private generate(): void {
    const mt = this.key;
    let kk = 0;
    let y: number;
    for (; kk < N - M; kk++) {
      y = (mt[kk] & UPPER_MASK) | (mt[kk + 1] & LOWER_MASK);
      mt[kk] = mt[kk + M] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    for (; kk < N - 1; kk++) {
      y = (mt[kk] & UPPER_MASK) | (mt[kk + 1] & LOWER_MASK);
      mt[kk] = mt[kk + (M - N)] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    y = (mt[N - 1] & UPPER_MASK) | (mt[0] & LOWER_MASK);
    mt[N - 1] = mt[M - 1] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    this.pos = 0;
  }

  /** genrand_int32: the next tempered 32-bit output, as an unsigned number. */
  nextUint32(): number {
    if (this.pos === N) this.generate();
    let y = this.key[this.pos++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** `random_sample()`: 53-bit double in [0, 1). */
  randomSample(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864.0 + b) / 9007199254740992.0;
  }

  /** `uniform(low, high)` = low + (high - low) * random_sample(). */
  uniform(low = 0, high = 1): number {
    return low + (high - low) * this.randomSample();
  }

  /** `standard_normal()`: legacy polar (Marsaglia) method; the second value of each pair is cached. */
  standardNormal(): number {
    if (this.hasGauss) {
      const g = this.gauss;
      this.hasGauss = false;
      this.gauss = 0;
      return g;
    }
    let x1: number, x2: number, r2: number;
    do {
      x1 = 2.0 * this.randomSample() - 1.0;
      x2 = 2.0 * this.randomSample() - 1.0;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 === 0.0);
    const f = Math.sqrt((-2.0 * logCorrectlyRounded(r2)) / r2);
    this.gauss = f * x1;
    this.hasGauss = true;
    return f * x2;
  }

  /** `normal(loc, scale)` = loc + scale * standard_normal(). */
  normal(loc = 0, scale = 1): number {
    return loc + scale * this.standardNormal();
  }

  /**
   * `random_interval(max)`: uniform integer in [0, max] by masked rejection on 32-bit
   * draws (used by the legacy shuffle). max must be < 2**32.
   */
  randomInterval(max: number): number {
    if (max === 0) return 0;
    const mask = maskFor(max);
    let value: number;
    while ((value = (this.nextUint32() & mask) >>> 0) > max);
    return value;
  }

  /**
   * `randint(low, high)` (high exclusive; `randint(n)` is `randint(0, n)`) for the default
   * int64 dtype: legacy masked rejection; ranges below 2**32 use one 32-bit draw per try,
   * and an empty range (high - low == 1) draws nothing.
   */
  randint(low: number, high?: number): number {
    if (high === undefined) [low, high] = [0, low];
    const rng = high - 1 - low;
    if (!Number.isInteger(low) || !Number.isInteger(high) || rng < 0) throw new RangeError(`randint: low >= high (${low}, ${high})`);
    if (rng > 0xfffffffe) throw new RangeError('randint: ranges of 2**32 or more are not supported');
    return low + this.randomInterval(rng);
  }

  /** In-place `shuffle` of a 1-D array (or of the first axis): Fisher-Yates from the end with random_interval. */
  shuffle<T>(a: T[] | Int32Array | Uint32Array | Float64Array): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.randomInterval(i);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  }

  /** `permutation(n)`: a shuffled arange(n). */
  permutation(n: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    this.shuffle(out);
    return out;
  }

  /** `random_sample(size=count)`. */
  randomSampleArray(count: number): Float64Array {
    const out = new Float64Array(count);
    for (let i = 0; i < count; i++) out[i] = this.randomSample();
    return out;
  }

  /** `standard_normal(size=count)` (a C-order fill for multi-dimensional sizes). */
  standardNormalArray(count: number): Float64Array {
    const out = new Float64Array(count);
    for (let i = 0; i < count; i++) out[i] = this.standardNormal();
    return out;
  }
}

// ---------------------------------------------------------------------------
// Fused multiply-add. numpy's matrix products go through BLAS, whose x86-64 kernels
// accumulate each dot product as acc = fma(a_k, b_k, acc) over k; reproducing that
// rounding (rather than a*b + c, rounded twice) keeps the generators' products
// bit-identical to numpy's on such machines.
// ---------------------------------------------------------------------------

const SPLITTER = 134217729; // 2**27 + 1 (Veltkamp split)
const f64 = new Float64Array(1);
const bits = new BigInt64Array(f64.buffer);

/** The float next to s (s finite, non-zero), away from zero when `up` is true, toward zero otherwise. */
function stepMagnitude(s: number, up: boolean): number {
  f64[0] = s;
  bits[0] += up ? 1n : -1n;
  return f64[0];
}

/**
 * Correctly rounded a * b + c (one rounding), emulated with error-free transformations
 * and a round-to-odd addition (Boldo & Melquiond, "Emulation of FMA and correctly rounded
 * sums: proved algorithms using rounding to odd", IEEE TC 2008). Falls back to a * b + c
 * where the splits could overflow or underflow.
 */
export function fma(a: number, b: number, c: number): number {
  const p = a * b;
  if (!Number.isFinite(p) || !Number.isFinite(c) || p === 0 || Math.abs(a) > 2 ** 995 || Math.abs(b) > 2 ** 995 || Math.abs(p) < 2 ** -960 || (c !== 0 && Math.abs(c) < 2 ** -960)) {
    return p + c;
  }
  // TwoProduct: p + pe = a * b exactly
  let t = SPLITTER * a;
  const ah = t - (t - a), al = a - ah;
  t = SPLITTER * b;
  const bh = t - (t - b), bl = b - bh;
  const pe = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
  // TwoSum: th + tl = c + p exactly
  const th = c + p;
  let bb = th - c;
  const tl = (c - (th - bb)) + (p - bb);
  // v = tl + pe rounded to odd
  let v = tl + pe;
  bb = v - tl;
  const ve = (tl - (v - bb)) + (pe - bb);
  if (ve !== 0) {
    f64[0] = v;
    if ((bits[0] & 1n) === 0n) v = stepMagnitude(v, ve > 0 === v > 0);
  }
  return th + v;
}

// ---------------------------------------------------------------------------
// Correctly rounded natural logarithm. The polar method's log(r2) decides every normal
// draw; numpy takes it from the C library, whose log is (nearly always) correctly
// rounded, while Math.log may be off by an ulp. This one evaluates log in double-double
// arithmetic (about 2**-104 relative) and rounds once.
// ---------------------------------------------------------------------------

type DD = [number, number];

const twoSum = (a: number, b: number): DD => {
  const s = a + b;
  const bb = s - a;
  return [s, (a - (s - bb)) + (b - bb)];
};
const fastTwoSum = (a: number, b: number): DD => {
  const s = a + b;
  return [s, b - (s - a)];
};
const twoProd = (a: number, b: number): DD => {
  const p = a * b;
  let t = SPLITTER * a;
  const ah = t - (t - a), al = a - ah;
  t = SPLITTER * b;
  const bh = t - (t - b), bl = b - bh;
  return [p, ((ah * bh - p) + ah * bl + al * bh) + al * bl];
};
const ddAdd = (a: DD, b: DD): DD => {
  const [s, e] = twoSum(a[0], b[0]);
  return fastTwoSum(s, e + a[1] + b[1]);
};
const ddMul = (a: DD, b: DD): DD => {
  const [p, e] = twoProd(a[0], b[0]);
  return fastTwoSum(p, e + a[0] * b[1] + a[1] * b[0]);
};
const ddDiv = (a: DD, b: DD): DD => {
  const q = a[0] / b[0];
  const [p, pe] = twoProd(q, b[0]);
  const r = (((a[0] - p) - pe) + a[1]) - q * b[1];
  return fastTwoSum(q, r / b[0]);
};

/** 2 * atanh(s) = log((1 + s) / (1 - s)) for a double-double |s| <= 1/3, by its odd series. */
function ddTwoAtanh(s: DD): DD {
  const s2 = ddMul(s, s);
  let pow = s;
  let sum = s;
  for (let k = 1; k < 80; k++) {
    pow = ddMul(pow, s2);
    const term = ddDiv(pow, [2 * k + 1, 0]);
    sum = ddAdd(sum, term);
    if (Math.abs(term[0]) < 2 ** -112 * Math.abs(sum[0])) break;
  }
  return [2 * sum[0], 2 * sum[1]];
}

const LN2: DD = ddTwoAtanh(ddDiv([1, 0], [3, 0])); // log 2 = 2 atanh(1/3)
const LOG_TABLE_MIN = -38; // c_i = 1 + i/128 covers [sqrt(1/2), sqrt(2)]
const LOG_TABLE: DD[] = Array.from({ length: 92 }, (_, k) => {
  const c = 1 + (k + LOG_TABLE_MIN) / 128;
  return ddTwoAtanh(ddDiv([c - 1, 0], [c + 1, 0])); // exact numerator and denominator
});

/** log(x), correctly rounded (to double-double accuracy) for positive normal x; Math.log elsewhere. */
export function logCorrectlyRounded(x: number): number {
  if (!(x >= 2 ** -1022) || x === Infinity) return Math.log(x);
  f64[0] = x;
  let e = Number((bits[0] >> 52n) & 0x7ffn) - 1023;
  let m = x / 2 ** e; // exact, in [1, 2)
  if (m > Math.SQRT2) {
    m /= 2;
    e += 1;
  }
  const i = Math.round((m - 1) * 128);
  const c = 1 + i / 128;
  // log m = log c + 2 atanh((m - c) / (m + c)); m - c is exact (Sterbenz)
  const s = ddDiv([m - c, 0], twoSum(m, c));
  let r = ddAdd(LOG_TABLE[i - LOG_TABLE_MIN], ddTwoAtanh(s));
  if (e !== 0) {
    const [p, pe] = twoProd(e, LN2[0]);
    r = ddAdd([p, pe + e * LN2[1]], r);
  }
  return r[0] + r[1];
}
