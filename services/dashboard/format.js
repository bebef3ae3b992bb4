// DOM and formatting helpers of the dashboard. Strings only ever become text nodes or
// attribute values (h()); nothing is parsed as HTML.

import { fmtNum } from './charts.js';

// the statuses and metric names come from core, served by the API (GET /dashboard/vocabulary.js)
import { TERMINAL, HIGHER_IS_BETTER } from './vocabulary.js';

export { TERMINAL, HIGHER_IS_BETTER };
export const COLORS = { loss: '#0072b2', val_loss: '#d55e00', metric: '#009e73', val_metric: '#cc79a7', final: '#6a3d9a' };

// ---------------------------------------------------------------- DOM helpers

/** An element with attributes and children; strings become text nodes. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = String(v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- formatting

export function fmtDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.round(s % 60)).padStart(2, '0')} s`;
  const hr = Math.floor(m / 60);
  return `${hr} h ${String(m % 60).padStart(2, '0')} min`;
}

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

export const fmtUsd = (v) => (!Number.isFinite(v) ? '—' : v === 0 || v >= 1 ? `$${v.toFixed(2)}` : `$${Number(v.toFixed(4))}`);
export const fmtCi = (ci) => (Array.isArray(ci) && ci.length === 2 ? `${fmtNum(ci[0])} – ${fmtNum(ci[1])}` : '—');
export const fmtMeanStd = (r) => (r ? `${fmtNum(r.mean)} ± ${fmtNum(r.std)}` : '—');

export function jobDurationMs(job, now = Date.now()) {
  if (!job.startedAt) return NaN;
  const end = job.finishedAt ? Date.parse(job.finishedAt) : TERMINAL.has(job.status) ? NaN : now;
  return end - Date.parse(job.startedAt);
}

export function statusBadge(status) {
  return h('span', { class: `badge badge-${String(status).replace(/[^a-z_]/g, '')}` }, String(status).replace(/_/g, ' '));
}

/**
 * The training-health badge of a job: "⚠ 2 warnings", the messages in its title;
 * null when the job has none.
 */
export function warningsBadge(job) {
  const ws = Array.isArray(job?.warnings) ? job.warnings : [];
  if (ws.length === 0) return null;
  const title = ws.map((w) => `${w.unit ? `${w.unit}: ` : ''}${w.message}`).join('\n');
  return h('span', { class: 'badge badge-warn', title, 'data-warnings': String(ws.length) }, `⚠ ${ws.length} warning${ws.length === 1 ? '' : 's'}`);
}

export function progressCell(p) {
  if (!p) return '—';
  const parts = [`${p.unitsDone}/${p.unitsTotal} units`];
  if (p.unitsFailed) parts.push(`${p.unitsFailed} failed`);
  if (p.epoch !== undefined) parts.push(`epoch ${p.epoch}${p.epochs ? `/${p.epochs}` : ''}`);
  const text = parts.join(' · ');
  return h('span', { class: 'progress-cell' },
    h('progress', { max: Math.max(1, p.unitsTotal), value: p.unitsDone, 'aria-label': text }),
    h('span', {}, text));
}

export const engineOf = (job) => [job.engine, job.backend].filter(Boolean).join(' / ') || '—';

// ---------------------------------------------------------------- API

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}
