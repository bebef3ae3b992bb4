/** planGpuFailures: terminate failed instances, replace once, block a class on its second failed instance. */
import { describe, expect, it } from 'vitest';
import { planGpuFailures, type GpuFailure } from '../../services/provisioner/gpu-failures.ts';

const f = (instanceId: string, resourceClass: string | undefined, at: number, reason = 'tf_no_gpu: Skipping registering GPU devices'): GpuFailure => ({ instanceId, reason, at, ...(resourceClass ? { resourceClass } : {}) });

describe('planGpuFailures', () => {
  it.each([
    { name: 'nothing failed', failures: [], live: [], blocked: [], terminate: [], block: [] },
    { name: 'first failure: terminate it, do not block (the planner replaces it once)', failures: [f('i-1', 'gpu', 1)], live: ['i-1'], blocked: [], terminate: ['i-1'], block: [] },
    { name: 'the first is gone already', failures: [f('i-1', 'gpu', 1)], live: [], blocked: [], terminate: [], block: [] },
    { name: 'second instance of the class fails: block with the reason', failures: [f('i-1', 'gpu', 1), f('i-2', 'gpu', 2, 'matmul_failed: 3 entries wrong')], live: ['i-2'], blocked: [], terminate: ['i-2'], block: [{ resourceClass: 'gpu', instances: ['i-1', 'i-2'], reason: '2 instances could not use their GPU; last: matmul_failed: 3 entries wrong' }] },
    { name: 'already blocked: not again', failures: [f('i-1', 'gpu', 1), f('i-2', 'gpu', 2)], live: [], blocked: ['gpu'], terminate: [], block: [] },
    { name: 'failures of two classes do not add up', failures: [f('i-1', 'gpu', 1), f('i-2', 'gpu/types=g5.xlarge', 2)], live: [], blocked: [], terminate: [], block: [] },
    { name: 'a failure whose class is not known yet counts for nothing', failures: [f('i-1', 'gpu', 1), f('i-2', undefined, 2)], live: ['i-2'], blocked: [], terminate: ['i-2'], block: [] },
  ])('$name', ({ failures, live, blocked, terminate, block }) => {
    const p = planGpuFailures(failures, new Set(live), new Set(blocked));
    expect(p.terminate).toEqual(terminate);
    expect(p.block).toEqual(block);
  });
});
