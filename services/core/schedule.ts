/**
 * Schedule arithmetic for batches, pure: absolute notBefore / deadline, and daily
 * windows ("22:00"-"07:00" in an IANA time zone) turned into instants with Intl, so
 * they stay right across daylight-saving changes. A wall-clock time that does not
 * exist (the skipped hour of a spring-forward night) is moved forward by the length
 * of the gap; one that exists twice (the repeated hour of a fall-back night) is the
 * earlier of the two — the "compatible" choice of RFC 5545 and Temporal.
 */

export interface DailyWindow {
  /** "HH:MM", 24-hour */
  start: string;
  end: string;
  timezone: string;
}

export interface Occurrence {
  start: number;
  end: number;
  /** the window is open at `now` */
  open: boolean;
}

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

export function parseHhmm(s: string): { h: number; m: number } | undefined {
  const m = HHMM.exec(s);
  return m ? { h: Number(m[1]), m: Number(m[2]) } : undefined;
}

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formatters.set(tz, f);
  }
  return f;
}

/** Wall-clock fields of an instant in a time zone. */
export function zonedParts(t: number, tz: string): { y: number; mo: number; d: number; h: number; mi: number; s: number } {
  const p: Record<string, number> = {};
  for (const part of formatter(tz).formatToParts(new Date(t))) if (part.type !== 'literal') p[part.type] = Number(part.value);
  return { y: p.year, mo: p.month, d: p.day, h: p.hour % 24, mi: p.minute, s: p.second };
}

/** Offset of the zone from UTC at an instant, in ms (Berlin in winter: +3 600 000). */
export function zoneOffsetMs(t: number, tz: string): number {
  const z = zonedParts(t, tz);
  const asUtc = Date.UTC(z.y, z.mo - 1, z.d, z.h, z.mi, z.s);
  return asUtc - Math.floor(t / 1000) * 1000;
}

/** The instant a wall-clock time has in a zone (gaps move forward, repeats take the earlier). */
export function zonedToInstant(y: number, mo: number, d: number, h: number, mi: number, tz: string): number {
  const guess = Date.UTC(y, mo - 1, d, h, mi);
  const before = zoneOffsetMs(guess - 86_400_000, tz);
  const after = zoneOffsetMs(guess + 86_400_000, tz);
  const valid = [...new Set([before, after])].map((o) => guess - o).filter((t) => zoneOffsetMs(t, tz) === guess - t);
  if (valid.length) return Math.min(...valid);
  return guess - before; // in a gap: the wall time read with the offset before the change
}

/**
 * The occurrence of a daily window that is open at `now`, else the next one.
 * A window whose end is not after its start spans midnight (22:00-07:00).
 */
export function windowOccurrence(now: number, w: DailyWindow): Occurrence {
  const s = parseHhmm(w.start)!;
  const e = parseHhmm(w.end)!;
  const overnight = e.h * 60 + e.m <= s.h * 60 + s.m;
  const today = zonedParts(now, w.timezone);
  const base = Date.UTC(today.y, today.mo - 1, today.d);
  for (let k = -1; k <= 2; k++) {
    const day = new Date(base + k * 86_400_000);
    const endDay = new Date(base + (k + (overnight ? 1 : 0)) * 86_400_000);
    const start = zonedToInstant(day.getUTCFullYear(), day.getUTCMonth() + 1, day.getUTCDate(), s.h, s.m, w.timezone);
    const end = zonedToInstant(endDay.getUTCFullYear(), endDay.getUTCMonth() + 1, endDay.getUTCDate(), e.h, e.m, w.timezone);
    if (end > now) return { start, end, open: start <= now };
  }
  throw new Error('unreachable: a daily window always has an occurrence within two days');
}

export interface ScheduleSpec {
  notBefore?: string;
  deadline?: string;
  window?: DailyWindow;
}

export interface ResolvedSchedule {
  /** ms since the epoch; undefined = may start now */
  notBefore?: number;
  deadline?: number;
  window?: DailyWindow & { start: string; end: string };
}

/**
 * When a batch may start and when it must be done. A window gives both (the
 * occurrence open now, else the next one); an explicit deadline wins over the
 * window's end. Throws a message naming the field for impossible schedules.
 */
export function resolveSchedule(s: ScheduleSpec | undefined, now: number): ResolvedSchedule {
  if (!s) return {};
  const fail = (field: string, msg: string): never => {
    throw Object.assign(new Error(`${field}: ${msg}`), { field });
  };
  const at = (field: 'notBefore' | 'deadline'): number | undefined => {
    const v = s[field];
    if (v === undefined) return undefined;
    const t = Date.parse(v);
    if (!Number.isFinite(t) || !/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(v)) {
      fail(`schedule.${field}`, `"${v}" is not an ISO 8601 time with a zone (2026-11-26T22:00:00+01:00)`);
    }
    return t;
  };
  let notBefore = at('notBefore');
  let deadline = at('deadline');
  if (s.window) {
    if (notBefore !== undefined) fail('schedule.notBefore', 'give either notBefore or window, not both');
    if (!parseHhmm(s.window.start)) fail('schedule.window.start', `"${s.window.start}" is not HH:MM`);
    if (!parseHhmm(s.window.end)) fail('schedule.window.end', `"${s.window.end}" is not HH:MM`);
    if (s.window.start === s.window.end) fail('schedule.window.end', 'equals start: the window would be empty');
    if (!isTimeZone(s.window.timezone)) fail('schedule.window.timezone', `"${s.window.timezone}" is not an IANA time zone (Europe/Berlin, America/New_York, UTC)`);
    const occ = windowOccurrence(now, s.window);
    notBefore = occ.open ? undefined : occ.start;
    deadline = deadline ?? occ.end;
  }
  if (deadline !== undefined && deadline <= now) fail('schedule.deadline', `${new Date(deadline).toISOString()} has already passed`);
  if (deadline !== undefined && notBefore !== undefined && deadline <= notBefore) {
    fail('schedule.deadline', `${new Date(deadline).toISOString()} is not after notBefore ${new Date(notBefore).toISOString()}`);
  }
  return {
    ...(notBefore !== undefined && notBefore > now ? { notBefore } : {}),
    ...(deadline !== undefined ? { deadline } : {}),
    ...(s.window ? { window: s.window } : {}),
  };
}
