/**
 * Window arithmetic across both daylight-saving changes of a year (Berlin and New
 * York), gaps and repeated hours, and the schedule rules.
 */
import { describe, expect, it } from 'vitest';
import { resolveSchedule, windowOccurrence, zonedToInstant } from '../../services/core/schedule.ts';

const berlin = { start: '22:00', end: '07:00', timezone: 'Europe/Berlin' };
const iso = (t: number) => new Date(t).toISOString();

describe('windowOccurrence', () => {
  it.each([
    // [now, window, start, end, open]
    ['2026-01-10T12:00:00Z', berlin, '2026-01-10T21:00:00.000Z', '2026-01-11T06:00:00.000Z', false], // winter: UTC+1
    ['2026-07-01T12:00:00Z', berlin, '2026-07-01T20:00:00.000Z', '2026-07-02T05:00:00.000Z', false], // summer: UTC+2
    ['2026-03-28T12:00:00Z', berlin, '2026-03-28T21:00:00.000Z', '2026-03-29T05:00:00.000Z', false], // spring forward: an 8-hour night
    ['2026-10-24T12:00:00Z', berlin, '2026-10-24T20:00:00.000Z', '2026-10-25T06:00:00.000Z', false], // fall back: a 10-hour night
    ['2026-07-01T23:00:00Z', berlin, '2026-07-01T20:00:00.000Z', '2026-07-02T05:00:00.000Z', true], // inside, after midnight UTC
    ['2026-01-10T05:00:00Z', berlin, '2026-01-09T21:00:00.000Z', '2026-01-10T06:00:00.000Z', true], // inside, the morning part
    ['2026-01-10T06:00:00Z', berlin, '2026-01-10T21:00:00.000Z', '2026-01-11T06:00:00.000Z', false], // the end is exclusive
    ['2026-03-08T12:00:00Z', { start: '01:00', end: '05:00', timezone: 'America/New_York' }, '2026-03-09T05:00:00.000Z', '2026-03-09T09:00:00.000Z', false],
    ['2026-03-08T01:00:00Z', { start: '01:00', end: '05:00', timezone: 'America/New_York' }, '2026-03-08T06:00:00.000Z', '2026-03-08T09:00:00.000Z', false], // 3 real hours
    ['2026-11-01T01:00:00Z', { start: '00:30', end: '03:00', timezone: 'America/New_York' }, '2026-11-01T04:30:00.000Z', '2026-11-01T08:00:00.000Z', false], // 3.5 real hours
    ['2026-06-01T10:00:00Z', { start: '09:00', end: '17:00', timezone: 'UTC' }, '2026-06-01T09:00:00.000Z', '2026-06-01T17:00:00.000Z', true],
  ])('at %s: %j opens %s, closes %s (open: %s)', (now, w, start, end, open) => {
    const o = windowOccurrence(Date.parse(now), w);
    expect([iso(o.start), iso(o.end), o.open]).toEqual([start, end, open]);
  });
});

describe('zonedToInstant', () => {
  it('a wall time in the spring-forward gap moves forward by the gap; a repeated one is the earlier', () => {
    expect(iso(zonedToInstant(2026, 3, 29, 2, 30, 'Europe/Berlin'))).toBe('2026-03-29T01:30:00.000Z'); // 03:30 CEST
    expect(iso(zonedToInstant(2026, 10, 25, 2, 30, 'Europe/Berlin'))).toBe('2026-10-25T00:30:00.000Z'); // 02:30 CEST, not CET
    expect(iso(zonedToInstant(2026, 3, 8, 2, 30, 'America/New_York'))).toBe('2026-03-08T07:30:00.000Z');
    expect(iso(zonedToInstant(2026, 11, 1, 1, 30, 'America/New_York'))).toBe('2026-11-01T05:30:00.000Z');
  });
});

describe('resolveSchedule', () => {
  const now = Date.parse('2026-11-26T12:00:00Z');
  it('absolute times', () => {
    expect(resolveSchedule({ notBefore: '2026-11-26T22:00:00+01:00', deadline: '2026-11-27T07:00:00+01:00' }, now))
      .toEqual({ notBefore: Date.parse('2026-11-26T21:00:00Z'), deadline: Date.parse('2026-11-27T06:00:00Z') });
    expect(resolveSchedule({ notBefore: '2026-11-26T11:00:00Z' }, now)).toEqual({}); // already open
    expect(resolveSchedule(undefined, now)).toEqual({});
  });
  it('a window gives notBefore and, unless a deadline is given, its end as the deadline', () => {
    expect(resolveSchedule({ window: berlin }, now)).toEqual({ notBefore: Date.parse('2026-11-26T21:00:00Z'), deadline: Date.parse('2026-11-27T06:00:00Z'), window: berlin });
    expect(resolveSchedule({ window: berlin, deadline: '2026-11-27T05:00:00Z' }, now).deadline).toBe(Date.parse('2026-11-27T05:00:00Z'));
  });
  it.each([
    [{ window: { ...berlin, timezone: 'Europe/Atlantis' } }, 'schedule.window.timezone'],
    [{ window: { ...berlin, start: '25:00' } }, 'schedule.window.start'],
    [{ window: { ...berlin, end: '22:00' } }, 'schedule.window.end'],
    [{ window: berlin, notBefore: '2026-11-27T00:00:00Z' }, 'schedule.notBefore'],
    [{ notBefore: '2026-11-27T10:00:00Z', deadline: '2026-11-27T09:00:00Z' }, 'schedule.deadline'],
    [{ deadline: '2026-11-26T11:00:00Z' }, 'schedule.deadline'],
    [{ notBefore: 'tonight' }, 'schedule.notBefore'],
    [{ deadline: '2026-11-27T09:00:00' }, 'schedule.deadline'],
  ])('%j is refused at %s', (s, field) => {
    expect(() => resolveSchedule(s, now)).toThrow(new RegExp(`^${field.replace(/\./g, '\\.')}: `));
  });
});
