import { describe, expect, it } from 'vitest';
import { memoryArtifactStore } from '../../services/core/artifacts.ts';
import { keys } from '../../services/core/keys.ts';
import { deleteCheckpoints, readUnitHistories } from '../../services/platform/history.ts';

const unit = (key: string, run: number, repeat: number, fold: number, kind: 'eval' | 'final' = 'eval') => ({
  key, kind, run, repeat, fold, epochs: [{ epoch: 1, loss: run + repeat + fold }],
});

describe("a job's history from its units' files", () => {
  it('orders evaluation units by run, repeat and fold and keeps the final fit apart', async () => {
    const a = memoryArtifactStore();
    for (const u of [unit('r1-p0-f0', 1, 0, 0), unit('final', 0, 0, 0, 'final'), unit('r0-p1-f0', 0, 1, 0), unit('r0-p0-f1', 0, 0, 1), unit('r0-p0-f0', 0, 0, 0)]) {
      await a.putJson(keys.unitHistory('job_1', u.key), u);
    }
    await a.putJson(keys.unitResult('job_1', 'r0-p0-f0'), { not: 'a history' });
    await a.putJson(keys.unitHistory('job_2', 'r0-p0-f0'), unit('r0-p0-f0', 0, 0, 0));
    const h = await readUnitHistories(a, 'job_1');
    expect(h.units.map((u) => u.key)).toEqual(['r0-p0-f0', 'r0-p0-f1', 'r0-p1-f0', 'r1-p0-f0']);
    expect(h.final?.key).toBe('final');
    expect(await readUnitHistories(a, 'job_3')).toEqual({ units: [] });
  });

  it('deleting checkpoints keeps the histories and results', async () => {
    const a = memoryArtifactStore();
    await a.putJson(keys.unitHistory('job_1', 'r0-p0-f0'), unit('r0-p0-f0', 0, 0, 0));
    await a.putJson(keys.unitResult('job_1', 'r0-p0-f0'), {});
    await a.putJson(`${keys.checkpoint('job_1', 'r0-p0-f0')}checkpoint.json`, {});
    await a.putJson(`${keys.checkpoint('job_1', 'r0-p0-f1')}checkpoint.json`, {});
    await a.putJson(`${keys.checkpoint('job_2', 'r0-p0-f0')}checkpoint.json`, {});
    await deleteCheckpoints(a, 'job_1');
    expect(await a.list('')).toEqual([
      `${keys.checkpoint('job_2', 'r0-p0-f0')}checkpoint.json`,
      keys.unitHistory('job_1', 'r0-p0-f0'),
      keys.unitResult('job_1', 'r0-p0-f0'),
    ].sort());
  });
});
