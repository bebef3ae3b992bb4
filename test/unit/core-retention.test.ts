import { describe, expect, it } from 'vitest';
import { archiveDay, chooseTrims, keepReason, retentionCutoff, type TrimCandidate } from '../../services/core/retention.ts';

const DAY = 86_400_000;
const NOW = Date.parse('2026-11-29T00:00:00Z');
const CUTOFF = NOW - 30 * DAY;
const old = new Date(CUTOFF - 1).toISOString();
const justAfter = new Date(CUTOFF).toISOString();

describe('retention: the cutoff', () => {
  it.each([
    [30, NOW - 30 * DAY],
    [1, NOW - DAY],
    [0, undefined],
    [-1, undefined],
    [Number.NaN, undefined],
  ])('%s days -> %s', (days, want) => {
    expect(retentionCutoff(NOW, days)).toBe(want);
  });
});

describe('retention: which jobs leave Redis', () => {
  it.each<[string, TrimCandidate, ReturnType<typeof keepReason>]>([
    ['completed before the cutoff', { id: 'a', status: 'completed', finishedAt: old }, undefined],
    ['failed before the cutoff', { id: 'a', status: 'failed', finishedAt: old }, undefined],
    ['cancelled before the cutoff', { id: 'a', status: 'cancelled', finishedAt: old }, undefined],
    ['budget_exhausted before the cutoff', { id: 'a', status: 'budget_exhausted', finishedAt: old }, undefined],
    ['deadline_missed before the cutoff', { id: 'a', status: 'deadline_missed', finishedAt: old }, undefined],
    ['finished exactly at the cutoff', { id: 'a', status: 'completed', finishedAt: justAfter }, 'recent'],
    ['finished yesterday', { id: 'a', status: 'completed', finishedAt: new Date(NOW - DAY).toISOString() }, 'recent'],
    ['running (old start)', { id: 'a', status: 'running', finishedAt: null }, 'not_finished'],
    ['queued', { id: 'a', status: 'queued' }, 'not_finished'],
    ['scheduled', { id: 'a', status: 'scheduled' }, 'not_finished'],
    ['terminal without finishedAt', { id: 'a', status: 'completed', finishedAt: null }, 'no_finish_time'],
    ['unparseable finishedAt', { id: 'a', status: 'completed', finishedAt: 'yesterday' }, 'no_finish_time'],
    ['record gone meanwhile', { id: 'a', status: null, finishedAt: old }, 'gone'],
    ['old, but in a batch', { id: 'a', status: 'completed', finishedAt: old, batchId: 'bat_1' }, 'in_batch'],
  ])('%s', (_n, c, want) => {
    expect(keepReason(c, CUTOFF)).toBe(want);
  });

  it('chooses only the trimmable ones, in order; 0 days keeps everything', () => {
    const cands: TrimCandidate[] = [
      { id: 'a', status: 'completed', finishedAt: old },
      { id: 'b', status: 'running' },
      { id: 'c', status: 'failed', finishedAt: old },
      { id: 'd', status: 'completed', finishedAt: old, batchId: 'bat_1' },
    ];
    expect(chooseTrims(cands, CUTOFF).map((c) => c.id)).toEqual(['a', 'c']);
    expect(chooseTrims(cands, retentionCutoff(NOW, 0))).toEqual([]);
  });

  it('indexes an archived job under the UTC day it finished', () => {
    expect(archiveDay('2026-10-01T23:59:59+02:00')).toBe('2026-10-01');
    expect(archiveDay('2026-10-01T23:30:00-02:00')).toBe('2026-10-02');
    expect(archiveDay('')).toBe('unknown');
  });
});
