import { describe, expect, it } from 'vitest';
import { addJobCosts, apportionInstance, billedSeconds, instanceJobShares, jobCostsOf, billingWindows, groupCosts, instanceUsd, jobCost, monthStartUtc, type MeteredInstance, type UnitSpan } from '../../services/core/costs.ts';

const T0 = Date.UTC(2026, 10, 27, 22, 0, 0);
const s = (n: number) => n * 1000;
const inst = (o: Partial<MeteredInstance> = {}): MeteredInstance => ({ id: 'i-1', type: 'p3.2xlarge', market: 'on-demand', hourlyUsd: 3.6, launchedAt: T0, terminatedAt: T0 + s(1000), slots: 1, ...o });
const span = (jobId: string, start: number, end: number | undefined, o: Partial<UnitSpan> = {}): UnitSpan => ({ instanceId: 'i-1', jobId, tenant: 'alice', unit: 'r0-p0-f0', start: T0 + s(start), ...(end === undefined ? {} : { end: T0 + s(end) }), ...o });

describe('billing: per second, 60 s minimum', () => {
  it.each([
    ['0 s is billed 60 s', 0, 60],
    ['59.9 s is billed 60 s', 59.9, 60],
    ['60 s', 60, 60],
    ['61.5 s is billed to the millisecond', 61.5, 61.5],
    ['one hour', 3600, 3600],
  ])('%s', (_n, secs, billed) => {
    expect(billedSeconds(T0, T0 + secs * 1000)).toBeCloseTo(billed, 9);
  });
  it('a 30-second instance at 3.60 USD/h costs 0.06 USD (the minute)', () => {
    expect(instanceUsd({ hourlyUsd: 3.6, launchedAt: T0, terminatedAt: T0 + s(30) }, 0)).toBeCloseTo(0.06, 12);
  });
  it('a live instance bills up to now', () => {
    expect(instanceUsd({ hourlyUsd: 3.6, launchedAt: T0 }, T0 + s(600))).toBeCloseTo(0.6, 12);
  });
});

describe('apportioning', () => {
  // 1000 s at 3.60 USD/h = 1.00 USD, 0.001 USD per second
  it.each([
    ['one unit used 600 s of 1000: 0.60 use, 0.40 idle, both its own', [span('a', 100, 700)], undefined, { a: [1.0, 0.4] }, 0],
    ['two jobs split use, idle by use (3:1)', [span('a', 0, 600), span('b', 600, 800)], undefined, { a: [0.6 + 0.15, 0.15], b: [0.2 + 0.05, 0.05] }, 0],
    ['idle goes to the demand that caused the launch, not to the user', [span('b', 0, 500)], [{ jobId: 'a', tenant: 'alice', units: 1 }], { a: [0.5, 0.5], b: [0.5, 0] }, 0],
    ['demand weights: 3 units vs 1 unit', [], [{ jobId: 'a', tenant: 'alice', units: 3 }, { jobId: 'b', tenant: 'bob', units: 1 }], { a: [0.75, 0.75], b: [0.25, 0.25] }, 0],
    ['nobody used or caused it: all unattributed', [], undefined, {}, 1.0],
    ['a span past termination is cut at the termination', [span('a', 900, 5000)], undefined, { a: [1.0, 0.9] }, 0],
    ['an unfinished span counts until the instance ended', [span('a', 400, undefined)], undefined, { a: [1.0, 0.4] }, 0],
    ['spans of other instances are ignored', [span('a', 0, 1000, { instanceId: 'i-2' })], undefined, {}, 1.0],
  ] as const)('%s', (_n, spans, demand, expected, unattributed) => {
    const bill = apportionInstance(inst(demand ? { demand: [...demand] } : {}), [...spans], 0);
    expect(bill.usd).toBeCloseTo(1.0, 9);
    const byJob = Object.fromEntries(bill.lines.filter((l) => l.jobId).map((l) => [l.jobId, [l.usd, l.idleUsd]]));
    expect(Object.keys(byJob).sort()).toEqual(Object.keys(expected).sort());
    for (const [j, [usd, idle]] of Object.entries(expected)) {
      expect(byJob[j][0]).toBeCloseTo(usd, 9);
      expect(byJob[j][1]).toBeCloseTo(idle, 9);
    }
    const un = bill.lines.filter((l) => !l.jobId).reduce((a, l) => a + l.usd, 0);
    expect(un).toBeCloseTo(unattributed, 9);
    // totals add up: jobs + unattributed = the instance, in USD and in instance-seconds
    expect(bill.lines.reduce((a, l) => a + l.usd, 0)).toBeCloseTo(bill.usd, 9);
    expect(bill.lines.reduce((a, l) => a + l.instanceSeconds, 0)).toBeCloseTo(1000, 6);
  });

  it('slots: one unit alone on a 4-slot instance pays a quarter of its wall time; the rest is idle', () => {
    const bill = apportionInstance(inst({ slots: 4, demand: [{ jobId: 'a', tenant: 'alice', units: 1 }] }), [span('a', 0, 1000)], 0);
    expect(bill.idleUsd).toBeCloseTo(0.75, 9);
    expect(bill.lines[0].usd - bill.lines[0].idleUsd).toBeCloseTo(0.25, 9);
  });

  it('more overlapping units than slots never charge more than the bill', () => {
    const bill = apportionInstance(inst(), [span('a', 0, 1000), span('b', 0, 1000)], 0);
    expect(bill.lines.reduce((a, l) => a + l.usd, 0)).toBeCloseTo(1.0, 9);
    expect(bill.idleUsd).toBeCloseTo(0, 9);
  });

  it('spot savings = (on-demand - paid) x seconds, split like the cost', () => {
    const bill = apportionInstance(inst({ market: 'spot', hourlyUsd: 0.9, onDemandUsd: 3.06 }), [span('a', 0, 500), span('b', 500, 1000)], 0);
    expect(bill.spotSavingsUsd).toBeCloseTo((2.16 * 1000) / 3600, 9);
    expect(bill.lines.map((l) => l.spotSavingsUsd).reduce((a, b) => a + b, 0)).toBeCloseTo(bill.spotSavingsUsd, 9);
  });

  it('a short-lived instance is billed its minute and the unit carries it', () => {
    const bill = apportionInstance(inst({ terminatedAt: T0 + s(10) }), [span('a', 1, 9)], 0);
    expect(bill.billedSeconds).toBe(60);
    expect(jobCost(bill.lines, 'a').usd).toBeCloseTo(0.06, 9);
  });
});

describe('a job\'s cost summed from per-instance shares', () => {
  it('equals jobCost over all the lines, for every job, and a job with no share costs nothing', () => {
    const a = apportionInstance(inst({ demand: [{ jobId: 'a', tenant: 'alice', units: 3 }, { jobId: 'b', tenant: 'bob', units: 1 }] }), [span('a', 0, 600), span('c', 100, 300)], 0);
    const b = apportionInstance(inst({ id: 'i-2' }), [span('a', 0, 400, { instanceId: 'i-2' }), span('b', 200, 900, { instanceId: 'i-2' })], 0);
    const shares = [jobCostsOf(a.lines), jobCostsOf(b.lines)];
    for (const j of ['a', 'b', 'c']) {
      const whole = jobCost([...a.lines, ...b.lines], j);
      expect(whole.usd).toBeGreaterThan(0);
      expect(addJobCosts(shares.map((m) => m.get(j)))).toEqual(whole);
    }
    expect(addJobCosts(shares.map((m) => m.get('nobody')))).toEqual({ usd: 0, instanceSeconds: 0, idleUsd: 0, spotSavingsUsd: 0 });
  });
});

describe('one job\'s share read alone (instanceJobShares) equals its lines\' sum', () => {
  /** a seeded generator: the same case every run */
  const rand = (seed: number) => () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const many = (seed: number, jobs: number, n: number, o: { live?: boolean; lifeS?: number } = {}) => {
    const r = rand(seed);
    const lifeS = o.lifeS ?? 5000;
    const spans: UnitSpan[] = Array.from({ length: n }, (_, k) => {
      const a = r() * lifeS;
      const open = r() < 0.05;
      return span(`j${Math.floor(r() * jobs)}`, a, open ? undefined : a + r() * 300, { unit: `u${k}`, tenant: r() < 0.5 ? 'alice' : 'bob', ...(r() < 0.5 ? { batchId: 'bat-1' } : {}) });
    });
    return spans;
  };
  const cases: Array<[string, MeteredInstance, UnitSpan[], number]> = [
    ['idle by use, no demand', inst(), [span('a', 0, 600), span('b', 600, 800)], 0],
    ['idle by the launch\'s demand, a user outside it', inst({ demand: [{ jobId: 'a', tenant: 'alice', units: 3 }, { jobId: 'b', tenant: 'bob', units: 1 }] }), [span('c', 0, 500)], 0],
    ['nobody used or caused it', inst(), [], 0],
    ['more overlapping units than slots', inst({ slots: 2 }), [span('a', 0, 1000), span('b', 0, 1000), span('c', 0, 1000)], 0],
    ['spot, prices changing, across UTC midnight', inst({ market: 'spot', hourlyUsd: 0.9, onDemandUsd: 3.06, terminatedAt: T0 + s(4 * 3600), prices: [{ from: T0, hourlyUsd: 0.9 }, { from: T0 + s(3000), hourlyUsd: 1.2 }, { from: T0 + s(9000), hourlyUsd: 0.7 }] }), many(7, 12, 200, { lifeS: 4 * 3600 }), 0],
    ['live (no end yet), billed up to now', inst({ terminatedAt: undefined, demand: Array.from({ length: 40 }, (_, k) => ({ jobId: `j${k}`, tenant: 'alice', units: 1 + (k % 3) })) }), many(11, 60, 400), T0 + s(5000)],
    ['4 slots, 300 spans of 50 jobs, some on another instance', inst({ slots: 4, terminatedAt: T0 + s(6000) }), [...many(3, 50, 300), span('j1', 10, 20, { instanceId: 'i-2' })], 0],
  ];
  it.each(cases)('%s', (_n, i, spans, now) => {
    const lines = jobCostsOf(apportionInstance(i, spans, now).lines);
    const shares = instanceJobShares(i, spans, now);
    const ids = shares.jobIds();
    for (const j of lines.keys()) expect(ids).toContain(j);
    for (const j of ids) expect(shares.of(j), j).toEqual(lines.get(j));
    expect(shares.of('nobody')).toBeUndefined();
    // the cases that have jobs compare every one of them
    if (spans.length || i.demand?.length) expect(lines.size).toBeGreaterThan(0);
    else expect(ids).toEqual([]);
  });
});

describe('grouping', () => {
  const a = apportionInstance(inst(), [span('a', 0, 500, { batchId: 'b1' }), span('b', 500, 900, { tenant: 'bob' })], 0);
  const c = apportionInstance(inst({ id: 'i-2', type: 'g5.xlarge', hourlyUsd: 1.8, launchedAt: T0 + s(7200), terminatedAt: T0 + s(9000) }), [], 0);
  const lines = [...a.lines, ...c.lines];

  it.each([
    ['day', [['2026-11-27', 1.0], ['2026-11-28', 0.9]]],
    ['instanceType', [['p3.2xlarge', 1.0], ['g5.xlarge', 0.9]]],
    ['tenant', [['(unattributed)', 0.9], ['alice', 0.5 + 0.1 * 5 / 9], ['bob', 0.4 + 0.1 * 4 / 9]]],
    ['batch', [['(unattributed)', 0.9], ['b1', 0.5 + 0.1 * 5 / 9], ['(no batch)', 0.4 + 0.1 * 4 / 9]]],
  ] as const)('by %s', (by, expected) => {
    const r = groupCosts(lines, by);
    expect(r.totalUsd).toBeCloseTo(1.9, 6);
    expect(r.unattributedUsd).toBeCloseTo(0.9, 6);
    expect(r.groups.map((g) => g.key).sort()).toEqual(expected.map((e) => e[0]).sort());
    for (const [k, usd] of expected) expect(r.groups.find((g) => g.key === k)!.usd).toBeCloseTo(usd, 6);
    expect(r.groups.reduce((x, g) => x + g.usd, 0)).toBeCloseTo(r.totalUsd, 5);
  });

  it('from/to select by the time the cost was billed (these instances each lie in one day)', () => {
    const r = groupCosts(lines, 'job', { from: T0 + s(3600) });
    expect(r.totalUsd).toBeCloseTo(0.9, 6);
    expect(groupCosts(lines, 'job', { to: T0 + s(3600) }).totalUsd).toBeCloseTo(1.0, 6);
  });

  it('the month starts at 00:00 UTC on the 1st', () => {
    expect(new Date(monthStartUtc(T0)).toISOString()).toBe('2026-11-01T00:00:00.000Z');
  });
});

describe('splitting at UTC midnight', () => {
  const M = Date.UTC(2026, 10, 28); // midnight between the 27th and the 28th
  const day = (r: ReturnType<typeof groupCosts>) => Object.fromEntries(r.groups.map((g) => [g.key, [g.usd, g.instanceSeconds]]));

  it.each([
    // [name, launch (s from midnight), end (s from midnight), minBilledS, expected seconds per day]
    ['within one day', -3600, -600, 60, { '2026-11-27': 3000 }],
    ['an hour either side of midnight', -3600, 3600, 60, { '2026-11-27': 3600, '2026-11-28': 3600 }],
    ['a 3-day instance: 22:00 on the 27th to 02:00 on the 30th', -7200, 2 * 86400 + 7200, 60, { '2026-11-27': 7200, '2026-11-28': 86400, '2026-11-29': 86400, '2026-11-30': 7200 }],
    ['20 s across midnight: the minute\'s extra 40 s is billed at launch, on the first day', -10, 10, 60, { '2026-11-27': 50, '2026-11-28': 10 }],
    ['launched exactly at midnight', 0, 120, 60, { '2026-11-28': 120 }],
    ['the local provider has no minimum', -5, 5, 0, { '2026-11-27': 5, '2026-11-28': 5 }],
  ] as const)('%s', (_n, from, to, minBilledS, expected) => {
    const i = inst({ launchedAt: M + s(from), terminatedAt: M + s(to), minBilledS });
    const windows = billingWindows(i, 0);
    const bill = apportionInstance(i, [], 0);
    const r = groupCosts(bill.lines, 'day');
    const total = Object.values(expected).reduce((a, b) => a + b, 0);
    expect(Object.fromEntries(Object.entries(day(r)).map(([k, v]) => [k, v[1]]))).toEqual(expected);
    // the days add up to the instance's bill
    expect(windows.reduce((a, w) => a + w.seconds, 0)).toBeCloseTo(billedSeconds(i.launchedAt, i.terminatedAt!, minBilledS), 9);
    expect(r.totalUsd).toBeCloseTo(bill.usd, 6);
    expect(bill.usd).toBeCloseTo((total * 3.6) / 3600, 9);
  });

  it('a unit running across midnight is split too, and the job\'s days add up to its cost', () => {
    // 23:00 -> 01:00; the unit runs 23:30 -> 00:30; the idle hour is its own (it is the only user)
    const i = inst({ launchedAt: M - s(3600), terminatedAt: M + s(3600) });
    const bill = apportionInstance(i, [span('a', 0, 0, { start: M - s(1800), end: M + s(1800) })], 0);
    const byDay = groupCosts(bill.lines, 'day');
    expect(day(byDay)).toEqual({ '2026-11-27': [3.6, 3600], '2026-11-28': [3.6, 3600] });
    // use 1800 s per day, idle 1800 s per day
    expect(byDay.groups.map((g) => g.idleUsd)).toEqual([1.8, 1.8]);
    expect(jobCost(bill.lines, 'a').usd).toBeCloseTo(7.2, 9);
    expect(groupCosts(bill.lines, 'job', { from: M }).totalUsd).toBeCloseTo(3.6, 9);
  });
});

describe('prices that change while an instance runs (spot re-read hourly)', () => {
  it.each([
    // [name, segments (s from launch, USD/h), life s, expected USD]
    ['no segments: the launch price', [], 3600, 3.6],
    ['one segment from launch', [[0, 1.0]], 3600, 1.0],
    ['1.00 for the first half hour, 2.00 after', [[0, 1.0], [1800, 2.0]], 3600, 1.5],
    ['a change after termination does not count', [[0, 1.0], [7200, 9.0]], 3600, 1.0],
    ['30 s life: the minimum\'s extra 30 s at the launch price', [[0, 1.2], [20, 9.0]], 30, (50 * 1.2 + 10 * 9.0) / 3600],
  ] as const)('%s', (_n, segs, life, usd) => {
    const i = inst({ terminatedAt: T0 + s(life), prices: segs.map(([f, p]) => ({ from: T0 + s(f), hourlyUsd: p })) });
    const bill = apportionInstance(i, [], 0);
    expect(bill.usd).toBeCloseTo(usd, 9);
    expect(instanceUsd(i, 0)).toBeCloseTo(usd, 9);
    expect(bill.lines.reduce((a, l) => a + l.usd, 0)).toBeCloseTo(usd, 9);
  });

  it('units pay the price in force while they ran; idle and spot savings follow the segments', () => {
    // 1 h, spot 1.00 then 2.00 from 30 min (on-demand 3.00); unit a runs 0-30 min, unit b 30-45 min
    const i = inst({ market: 'spot', onDemandUsd: 3, terminatedAt: T0 + s(3600), prices: [{ from: T0, hourlyUsd: 1 }, { from: T0 + s(1800), hourlyUsd: 2 }], demand: [{ jobId: 'a', tenant: 'alice', units: 1 }] });
    const bill = apportionInstance(i, [span('a', 0, 1800), span('b', 1800, 2700, { tenant: 'bob' })], 0);
    const a = jobCost(bill.lines, 'a');
    const b = jobCost(bill.lines, 'b');
    expect(a.usd - a.idleUsd).toBeCloseTo(0.5, 9); // 30 min at 1.00
    expect(b.usd).toBeCloseTo(0.5, 9); // 15 min at 2.00
    expect(a.idleUsd).toBeCloseTo(0.5, 9); // the idle 15 min at 2.00, to the job that caused the launch
    expect(a.usd + b.usd).toBeCloseTo(bill.usd, 9);
    expect(bill.usd).toBeCloseTo(1.5, 9);
    expect(bill.spotSavingsUsd).toBeCloseTo(0.5 * 2 + 0.5 * 1, 9);
  });
});
