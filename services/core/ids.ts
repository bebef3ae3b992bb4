import { randomBytes } from 'node:crypto';

/** Sortable, URL-safe ids: <prefix>_<time base36><random>. Sort order = creation order. */
export function newId(prefix: 'job' | 'bat' | 'ds' | 'ins' | 'wrk'): string {
  const t = Date.now().toString(36).padStart(9, '0');
  return `${prefix}_${t}${randomBytes(6).toString('hex')}`;
}

