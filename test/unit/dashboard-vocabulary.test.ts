/**
 * One definition of the statuses and metric directions: the dashboard's module is
 * written from core, and the leaderboard, the dashboard and core agree on it.
 */
import { describe, expect, it } from 'vitest';
import { dashboardVocabulary } from '../../services/api/routes/dashboard.ts';
import { TERMINAL, JOB_STATUSES } from '../../services/core/job.ts';
import { higherIsBetter } from '../../services/core/vocabulary.ts';
import { isBatchTerminal } from '../../services/core/batch.ts';

describe('higherIsBetter', () => {
  it.each([
    ['accuracy', true], ['acc', true], ['binary_accuracy', true], ['sparseCategoricalAccuracy', true], ['precision', true], ['recall', true],
    ['mae', false], ['mean_squared_error', false], ['mape', false], ['binaryCrossentropy', false], ['nonsense', false],
  ])('%s -> %s', (metric, expected) => {
    expect(higherIsBetter(metric)).toBe(expected);
  });
});

describe('terminal statuses', () => {
  it.each([
    ['queued', false, false], ['scheduled', false, false], ['running', false, false], ['completed', true, true],
    ['failed', true, true], ['cancelled', true, true], ['deadline_missed', true, true], ['budget_exhausted', true, false],
  ])('%s: job terminal %s, batch terminal %s', (s, job, batch) => {
    expect(TERMINAL.has(s as never)).toBe(job);
    expect(isBatchTerminal(s)).toBe(batch);
  });
  it('every job status is in the table above', () => {
    expect(JOB_STATUSES).toHaveLength(8);
  });
});

describe('GET /dashboard/vocabulary.js', () => {
  it('is a module with core\'s terminal statuses and every spelling of the higher-is-better metrics', async () => {
    const mod = (await import(`data:text/javascript,${encodeURIComponent(dashboardVocabulary())}`)) as { TERMINAL: Set<string>; HIGHER_IS_BETTER: Set<string> };
    expect([...mod.TERMINAL].sort()).toEqual([...TERMINAL].sort());
    expect([...mod.HIGHER_IS_BETTER].sort()).toEqual(['acc', 'accuracy', 'binaryAccuracy', 'binary_accuracy', 'categoricalAccuracy', 'categorical_accuracy', 'precision', 'recall', 'sparseCategoricalAccuracy', 'sparse_categorical_accuracy']);
  });
});
