import { describe, expect, it } from 'vitest';
import { checkpointDue, DEFAULT_CHECKPOINT_SECONDS } from '../../services/core/checkpoints.ts';
import { resolveJobSpec } from '../../services/core/job-defaults.ts';
import type { JobSpec } from '../../services/core/spec.ts';

describe('checkpointDue', () => {
  it.each([
    // policy, epoch, ms since the last checkpoint, due
    [{ checkpointEvery: 10, checkpointSeconds: 30 }, 10, 0, true],
    [{ checkpointEvery: 10, checkpointSeconds: 30 }, 11, 60_000, false], // explicit epochs win over time
    [{ checkpointEvery: 1, checkpointSeconds: 30 }, 7, 5, true],
    [{ checkpointSeconds: 30 }, 10, 29_999, false],
    [{ checkpointSeconds: 30 }, 3, 30_000, true],
    [{ checkpointSeconds: 1 }, 1, 999, false],
    [{ checkpointSeconds: 1 }, 1, 1_000, true],
  ])('%j after epoch %i, %i ms since the last -> %s', (policy, epoch, ms, due) => {
    expect(checkpointDue(policy, epoch, ms)).toBe(due);
  });
});

describe('the resolved checkpoint policy', () => {
  const base = { dataset: { uri: 'builtin:make_regression' }, model: { layers: [{ type: 'dense', units: 1 }] }, training: { loss: 'mse', epochs: 5 } };
  it('checkpoints by time unless the spec counts epochs', () => {
    const t = resolveJobSpec(base as unknown as JobSpec).training;
    expect(t.checkpointEvery).toBeUndefined();
    expect(t.checkpointSeconds).toBe(DEFAULT_CHECKPOINT_SECONDS);
    const e = resolveJobSpec({ ...base, training: { ...base.training, checkpointEvery: 5, checkpointSeconds: 120 } } as unknown as JobSpec).training;
    expect(e.checkpointEvery).toBe(5);
    expect(e.checkpointSeconds).toBe(120);
  });
});
