// The job detail's parts: learning-curve charts, the summary list and the per-unit table.

import { curve, fmtNum, lineChart, meanCurve } from './charts.js';
import { COLORS, h, fmtDuration, fmtTime, fmtUsd, fmtCi, jobDurationMs, statusBadge, warningsBadge, engineOf } from './format.js';

// ---------------------------------------------------------------- job detail

export function metricField(history, job) {
  const seen = new Set();
  for (const u of [...(history.units ?? []), ...(history.final ? [history.final] : [])]) {
    for (const e of u.epochs ?? []) for (const k of Object.keys(e)) if (k !== 'epoch' && k !== 'loss' && !k.startsWith('val_')) seen.add(k);
  }
  const primary = job?.result?.metric;
  if (primary && seen.has(primary)) return primary;
  return [...seen][0];
}

export const unitLabel = (u) => (u.kind === 'final' || u.key === 'final' ? 'final fit' : `run ${u.run} repeat ${u.repeat} fold ${u.fold}`);

/** Lines for one quantity (train field and its val_ twin): every unit, the mean across units, the final fit. */
export function linesFor(history, field, colors) {
  const lines = [];
  const units = history.units ?? [];
  for (const [f, color, dashed] of [[field, colors[0], false], [`val_${field}`, colors[1], true]]) {
    const per = units.map((u) => ({ u, points: curve(u, f) })).filter((x) => x.points.length > 0);
    if (per.length === 0 && !(history.final && curve(history.final, f).length)) continue;
    for (const { u, points } of per) lines.push({ points, series: f, kind: 'unit', color, dashed, label: `${f}, ${unitLabel(u)} (${u.key})` });
    if (per.length > 0) lines.push({ points: meanCurve(per.map((x) => x.u), f), series: f, kind: 'mean', color, dashed, label: `${f}, mean over ${per.length} units` });
    if (history.final) {
      const pts = curve(history.final, f);
      if (pts.length) lines.push({ points: pts, series: f, kind: 'final', color: COLORS.final, dashed, label: `${f}, final fit on all rows` });
    }
  }
  return lines;
}

export function legend(lines) {
  const items = [];
  const seen = new Set();
  for (const l of lines) {
    const id = `${l.series}:${l.kind === 'final' ? 'final' : 'x'}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const name = l.kind === 'final' ? `${l.series} (final fit)` : l.series;
    items.push(h('li', {}, h('span', { class: `swatch${l.kind === 'final' ? ' final' : ''}${l.dashed ? ' dashed' : ''}`, 'data-color': l.color }), name));
  }
  items.push(h('li', { class: 'hint' }, 'thin: each unit · bold: mean across units'));
  const ul = h('ul', { class: 'legend' }, items);
  // colors set through CSSOM (the page's CSP allows no inline style attributes)
  ul.querySelectorAll('.swatch').forEach((s) => { s.style.borderTopColor = s.getAttribute('data-color'); });
  return ul;
}

export function chartFigure(kind, title, yLabel, lines) {
  const n = lines.filter((l) => l.kind === 'unit').length;
  const desc = `${n} unit curves, their mean per epoch${lines.some((l) => l.kind === 'final') ? ' and the final fit' : ''}.`;
  return h('figure', { class: 'chart-fig', 'data-chart': kind },
    h('figcaption', {}, title),
    lineChart({ title, description: desc, yLabel, lines }),
    legend(lines));
}

export function summaryList(job, summary) {
  const r = job.result;
  const items = [
    ['Status', statusBadge(job.status)],
    ['Job id', h('span', { class: 'mono' }, job.id)],
    ['Tenant', job.tenant],
    ...(job.batchId ? [['Batch', h('span', { class: 'mono' }, job.batchId)]] : []),
    ['Units', `${job.progress.unitsDone}/${job.progress.unitsTotal}${job.progress.unitsFailed ? ` (${job.progress.unitsFailed} failed)` : ''}`],
    ...(job.progress.epoch !== undefined ? [['Epoch', `${job.progress.epoch}${job.progress.epochs ? `/${job.progress.epochs}` : ''}`]] : []),
    ...(r ? [
      ['Metric', r.metric],
      ['Mean', fmtNum(r.mean)],
      ['Std', fmtNum(r.std)],
      ['Std error', fmtNum(r.stderr)],
      ['95% CI', r.interval?.method === 'student_t' ? `${fmtCi(r.ci95)} (Student t, ${r.interval.df} df)` : fmtCi(r.ci95)],
      ['Scores', `${r.scores.length} (min ${fmtNum(Math.min(...r.scores))}, max ${fmtNum(Math.max(...r.scores))})`],
    ] : []),
    ...(r?.final ? [['Final fit', Object.entries(r.final).filter(([k]) => k !== 'epoch').map(([k, v]) => `${k} ${fmtNum(v)}`).join(', ')]] : []),
    ['Engine / backend', engineOf(job)],
    ...(job.engineReason ? [['Engine chosen', job.engineReason]] : []),
    ...(job.warnings?.length ? [['Warnings', h('ul', { class: 'warnings' }, job.warnings.map((w) => h('li', { 'data-code': w.code },
      warningsBadge({ warnings: [w] }), ' ', w.unit ? h('span', { class: 'mono' }, w.unit) : '', w.unit ? ': ' : '', w.message)))]] : []),
    ['Created', fmtTime(job.createdAt)],
    ['Started', fmtTime(job.startedAt)],
    ['Finished', fmtTime(job.finishedAt)],
    ['Duration', fmtDuration(jobDurationMs(job))],
    ...(summary && Number.isFinite(summary.unitSeconds) ? [['Unit time', fmtDuration(summary.unitSeconds * 1000)]] : []),
    ...(job.cost ? [['Cost', `${fmtUsd(job.cost.usd)} (${fmtDuration(job.cost.instanceSeconds * 1000)} of instance time)`]] : []),
  ];
  return items.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v)));
}

export function unitsTable(summary) {
  // evaluation units in run/repeat/fold order, then the final fit
  const units = (Array.isArray(summary?.units) ? summary.units : []).slice().sort((a, b) => (a.kind === 'final') - (b.kind === 'final'));
  const heldKeys = [...new Set(units.flatMap((u) => Object.keys(u.heldOut ?? {})))].filter((k) => k !== summary.metric);
  const head = ['Unit', 'Kind', 'Run', 'Repeat', 'Fold', `Score (${summary.metric})`, ...heldKeys, 'Epochs', 'Train rows', 'Test rows', 'Duration', 'Worker'];
  const numeric = new Set(['Run', 'Repeat', 'Fold', `Score (${summary.metric})`, ...heldKeys, 'Epochs', 'Train rows', 'Test rows', 'Duration']);
  return [
    h('thead', {}, h('tr', {}, head.map((t) => h('th', { scope: 'col', class: numeric.has(t) ? 'num' : undefined }, t)))),
    h('tbody', {}, units.map((u) => h('tr', { 'data-unit': u.key },
      h('th', { scope: 'row', class: 'mono' }, u.key),
      h('td', {}, u.kind === 'final' ? 'final fit' : u.kind),
      h('td', { class: 'num' }, String(u.run)),
      h('td', { class: 'num' }, String(u.repeat)),
      h('td', { class: 'num' }, String(u.fold)),
      h('td', { class: 'num' }, fmtNum(u.score)),
      heldKeys.map((k) => h('td', { class: 'num' }, fmtNum(u.heldOut?.[k]))),
      h('td', { class: 'num' }, u.resumedFromEpoch ? `${u.epochs} (resumed at ${u.resumedFromEpoch})` : String(u.epochs ?? '—')),
      h('td', { class: 'num' }, String(u.trainRows ?? '—')),
      h('td', { class: 'num' }, String(u.testRows ?? '—')),
      h('td', { class: 'num' }, fmtDuration(u.durationMs)),
      h('td', { class: 'mono' }, u.instanceId ? `${u.worker} (${u.instanceId})` : String(u.worker ?? '—'))))),
  ];
}
