import { describe, expect, it } from 'vitest';
import { mayResume } from '../../workers/trainer/runtime/unit-processor.ts';

describe('mayResume: whether a unit can have a checkpoint to look for', () => {
  it.each([
    ['a fresh unit', { attemptsMade: 0, stalledCounter: 0, progress: 0 }, false],
    ['a fresh unit, empty progress object', { attemptsMade: 0, stalledCounter: 0, progress: {} }, false],
    ['retried after a failure', { attemptsMade: 1, stalledCounter: 0, progress: 0 }, true],
    ['taken back after its worker died (stalled)', { attemptsMade: 0, stalledCounter: 1, progress: 0 }, true],
    ['handed back after an interruption (epochs reported)', { attemptsMade: 0, stalledCounter: 0, progress: { unit: 'f0', epoch: 3, epochs: 10 } }, true],
  ])('%s -> %s', (_name, job, want) => {
    expect(mayResume(job as never)).toBe(want);
  });
});
