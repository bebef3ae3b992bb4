import { describe, expect, it } from 'vitest';
import { activeUnitsByJob, oldestWithPending, type PendingCandidate } from '../../services/api/metrics.ts';

const c = (id: string, createdAt: number, total: number, done = 0, failed = 0): PendingCandidate => ({ id, createdAt, unitsTotal: total, unitsDone: done, unitsFailed: failed });

describe('metrics: the oldest job with a waiting unit', () => {
  it.each<[string, PendingCandidate[], Record<string, number>, number | undefined]>([
    ['no jobs', [], {}, undefined],
    ['oldest job has units left', [c('a', 1, 3), c('b', 2, 3)], {}, 1],
    ['oldest job finished its units (aggregating)', [c('a', 1, 3, 3), c('b', 2, 3)], {}, 2],
    ['oldest job: done + failed cover it', [c('a', 1, 3, 2, 1), c('b', 2, 3)], {}, 2],
    ['oldest job: the rest is running', [c('a', 1, 3, 1), c('b', 2, 3)], { a: 2 }, 2],
    ['oldest job: one of two left is running, one waits', [c('a', 1, 3, 1), c('b', 2, 3)], { a: 1 }, 1],
    ['everything running or done', [c('a', 1, 2, 1), c('b', 2, 1)], { a: 1, b: 1 }, undefined],
  ])('%s', (_n, cands, active, want) => {
    expect(oldestWithPending(cands, new Map(Object.entries(active)))).toBe(want);
  });

  it('counts running units per job from unit ids', () => {
    expect(Object.fromEntries(activeUnitsByJob(['job_a.r0-p0-f0', 'job_a.r0-p0-f1', 'job_b.final', 'odd']))).toEqual({ job_a: 2, job_b: 1, odd: 1 });
  });
});
