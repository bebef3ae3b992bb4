import { describe, expect, it } from 'vitest';
import { resolveJobSpec } from '../../services/core/job-defaults.ts';
import type { JobSpec } from '../../services/core/spec.ts';
import type { UnitResult } from '../../services/core/job.ts';
import { summarizeJob } from '../../services/platform/aggregate.ts';

const spec = resolveJobSpec({
  dataset: { uri: 'builtin:make_regression' },
  model: { layers: [{ type: 'dense', units: 1 }] },
  training: { loss: 'mse', metrics: ['mae'], epochs: 1 },
  evaluation: { method: 'kfold', folds: 2 },
  runs: 2,
  final: { fit: true },
} as unknown as JobSpec);

const unit = (run: number, fold: number, score: number | undefined, extra: Partial<UnitResult> = {}): UnitResult => ({
  key: fold < 0 ? 'final' : `r${run}-p0-f${fold}`, kind: fold < 0 ? 'final' : 'eval', run, repeat: 0, fold: Math.max(fold, 0),
  ...(score !== undefined ? { score } : {}), epochs: 1, trainRows: 8, testRows: fold < 0 ? 0 : 2,
  durationMs: 500, backend: 'cpu', engine: 'fused', worker: run === 0 ? 'w1' : 'w2', ...extra,
});

describe('summarizeJob', () => {
  it('scores in run/repeat/fold order with their statistics; the final unit is listed but not scored', () => {
    // out of order, as units finish
    const results = [unit(1, 1, 4), unit(0, -1, undefined), unit(0, 1, 2), unit(1, 0, 3, { resumedFromEpoch: 5 }), unit(0, 0, 1)];
    const { result, summary } = summarizeJob(spec, results, { epoch: 1, loss: 0.5 });
    expect(result).toMatchObject({ metric: 'mae', scores: [1, 2, 3, 4], mean: 2.5, runMeans: [1.5, 3.5], final: { epoch: 1, loss: 0.5 } });
    const std = Math.sqrt(1.25);
    expect(result!.std).toBeCloseTo(std, 12);
    expect(result!.stderr).toBeCloseTo(std / 2, 12);
    // Student t, 3 df (scipy: t.ppf(0.975, 3) = 3.1824463052837078), sample std sqrt(5/3)
    expect(result!.ci95[0]).toBeCloseTo(2.5 - 3.1824463052837078 * Math.sqrt(5 / 3) / 2, 10);
    expect(result!.interval).toMatchObject({ method: 'student_t', df: 3 });
    expect(summary).toMatchObject({ metric: 'mae', method: 'kfold', n: 4, scores: [1, 2, 3, 4], mean: 2.5, min: 1, max: 4, runMeans: [1.5, 3.5], unitSeconds: 2.5 });
    expect(summary.std).toBe(result!.std);
    expect(summary.units.map((u) => u.key)).toEqual(['final', 'r0-p0-f0', 'r0-p0-f1', 'r1-p0-f0', 'r1-p0-f1']);
    expect(summary.units[3]).toMatchObject({ resumedFromEpoch: 5 });
    expect(summary.units[0]).not.toHaveProperty('backend');
    expect(summary.workers).toEqual(['w2', 'w1']);
  });

  it('without scored units there is no result and no statistics', () => {
    const { result, summary } = summarizeJob({ ...spec, runs: 1 }, [unit(0, -1, undefined)]);
    expect(result).toBeUndefined();
    expect(summary).toMatchObject({ n: 0, scores: [] });
    for (const k of ['mean', 'std', 'min', 'max', 'runMeans', 'final']) expect(summary).not.toHaveProperty(k);
  });
});
