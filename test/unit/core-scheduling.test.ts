/** Fair-share queue priorities and the deadline scaling rule, as tables. */
import { describe, expect, it } from 'vitest';
import { MAX_BULL_PRIORITY, SPREAD, fairPriority, serviceOrder } from '../../services/core/fair-share.ts';
import { deadlineDemand, deadlinePlan, type DeadlineInput } from '../../services/core/deadline.ts';
import { batchStatus } from '../../services/core/batch.ts';

describe('fair share', () => {
  it('a higher spec priority always goes first; within one, the smaller backlog position', () => {
    expect(fairPriority(100, 0)).toBe(1);
    expect(fairPriority(90, SPREAD * 5)).toBeLessThan(fairPriority(89, 0));
    expect(fairPriority(50, 3)).toBeLessThan(fairPriority(50, 4));
    expect(fairPriority(0, 1e9)).toBeLessThanOrEqual(MAX_BULL_PRIORITY);
    expect(fairPriority(-5, -3)).toBe(fairPriority(0, 0));
  });
  it("one tenant's 10 units queued after another's 1,000 are served among the first 20", () => {
    const order = serviceOrder([
      { tenant: 'big', priority: 50, backlog: 0, count: 1000 },
      { tenant: 'small', priority: 50, backlog: 0, count: 10 },
    ]);
    expect(order.slice(0, 20).filter((t) => t === 'small')).toHaveLength(10);
    expect(order.slice(0, 20).filter((t) => t === 'big')).toHaveLength(10);
    expect(order.lastIndexOf('small')).toBe(19);
  });
  it('a tenant with a backlog queues behind its own backlog, not behind everyone', () => {
    const order = serviceOrder([
      { tenant: 'a', priority: 50, backlog: 0, count: 5 },
      { tenant: 'b', priority: 50, backlog: 0, count: 5 },
      { tenant: 'a', priority: 50, backlog: 5, count: 5 }, // a's second batch
      { tenant: 'c', priority: 50, backlog: 0, count: 2 },
    ]);
    expect(order).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'a', 'b', 'a', 'b', 'a', 'a', 'a', 'a', 'a']);
  });
  it('a high-priority batch overtakes everything queued before it', () => {
    const order = serviceOrder([{ tenant: 'a', priority: 50, backlog: 0, count: 3 }, { tenant: 'b', priority: 90, backlog: 40, count: 2 }]);
    expect(order).toEqual(['b', 'b', 'a', 'a', 'a']);
  });
});

const T0 = Date.parse('2026-11-26T22:00:00Z');
const input = (o: Partial<DeadlineInput>): DeadlineInput => ({
  now: T0, deadline: T0 + 3_600_000, pendingUnits: 100, runningUnits: 0, unitSeconds: 60, slotsPerInstance: 1, liveInstances: 0, maxInstances: 50, bootSeconds: 120, ...o,
});

describe('deadlinePlan', () => {
  it.each<[string, Partial<DeadlineInput>, { instancesNeeded: number; atRisk: boolean; finishMin: number }]>([
    // 100 one-minute units in 60 minutes with 2 minutes of boot: 58 waves fit -> ceil(100/58) = 2 instances (50 waves = 52 min)
    ['100 one-minute units in an hour', {}, { instancesNeeded: 2, atRisk: false, finishMin: 52 }],
    ['the same with 4 slots an instance', { slotsPerInstance: 4 }, { instancesNeeded: 1, atRisk: false, finishMin: 27 }],
    ['a 10-minute deadline', { deadline: T0 + 600_000 }, { instancesNeeded: 13, atRisk: false, finishMin: 10 }],
    ['capped below what the deadline needs', { deadline: T0 + 600_000, maxInstances: 5 }, { instancesNeeded: 5, atRisk: true, finishMin: 22 }],
    ['no room for even one wave', { deadline: T0 + 60_000 }, { instancesNeeded: 50, atRisk: true, finishMin: 4 }],
    ['running instances do not boot again', { deadline: T0 + 600_000, liveInstances: 20, pendingUnits: 20 }, { instancesNeeded: 2, atRisk: false, finishMin: 10 }],
  ])('%s', (_what, o, want) => {
    const p = deadlinePlan(input(o));
    expect({ instancesNeeded: p.instancesNeeded, atRisk: p.atRisk, finishMin: (p.projectedFinish - T0) / 60_000 }).toEqual(want);
  });
  it('no work left needs no instance', () => {
    expect(deadlinePlan(input({ pendingUnits: 0 }))).toEqual({ instancesNeeded: 0, atRisk: false, projectedFinish: T0 });
  });
});

describe('deadlineDemand', () => {
  const demand = { gpu: { pending: 100, running: 2 }, cpu: { pending: 5, running: 0 } };
  it('cuts a class that only serves deadline batches to the slots they need', () => {
    expect(deadlineDemand(demand, { gpu: { pending: 100, slots: 6 } })).toEqual({ gpu: { pending: 4, running: 2 }, cpu: { pending: 5, running: 0 } });
  });
  it('leaves a class alone that also has other work, and keeps one pending while the deadline needs no more slots', () => {
    expect(deadlineDemand(demand, { gpu: { pending: 60, slots: 6 } }).gpu).toEqual({ pending: 100, running: 2 });
    expect(deadlineDemand(demand, { gpu: { pending: 100, slots: 2 } }).gpu).toEqual({ pending: 1, running: 2 });
  });
});

describe('batchStatus', () => {
  const now = T0;
  it.each<[string, string[], { cancelled?: boolean; notBefore?: number }, string]>([
    ['waiting for the window', ['scheduled', 'scheduled'], { notBefore: T0 + 1000 }, 'scheduled'],
    ['the window has opened', ['scheduled', 'queued'], { notBefore: T0 - 1000 }, 'queued'],
    ['a unit runs', ['queued', 'running'], {}, 'running'],
    ['some done, the rest waiting', ['completed', 'queued'], {}, 'running'],
    ['all completed', ['completed', 'completed'], {}, 'completed'],
    ['completed with failures', ['completed', 'failed'], {}, 'completed'],
    ['all failed', ['failed', 'failed'], {}, 'failed'],
    ['the deadline passed', ['completed', 'deadline_missed'], {}, 'deadline_missed'],
    ['cancelled by the user', ['completed', 'cancelled'], { cancelled: true }, 'cancelled'],
  ])('%s', (_what, statuses, o, want) => {
    expect(batchStatus(statuses as never, { cancelled: o.cancelled ?? false, ...(o.notBefore ? { notBefore: o.notBefore } : {}), now })).toBe(want);
  });
});
