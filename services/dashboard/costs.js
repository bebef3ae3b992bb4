// The cost panel: spend per day (bar chart), spend per job, idle spend, spot savings
// and the budget left. Figures come from GET /v1/costs (a tenant key sees its own
// jobs' share; an admin key everything).
import { svg, niceTicks } from './charts.js';
import { h, fmtUsd } from './format.js';

function dayChart(groups, { width = 640, height = 200 } = {}) {
  const m = { left: 56, right: 12, top: 12, bottom: 36 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'data-chart': 'spend-per-day' },
    svg('title', {}, `Spend per day (UTC), ${groups.length} day${groups.length === 1 ? '' : 's'}`));
  const max = Math.max(0, ...groups.map((g) => g.usd));
  const ticks = niceTicks(0, max > 0 ? max : 1, 4);
  const top = Math.max(...ticks, max > 0 ? max : 1);
  const sy = (v) => m.top + ph - (v / top) * ph;
  const grid = svg('g', { class: 'grid', 'aria-hidden': 'true' });
  for (const t of ticks) {
    grid.append(svg('line', { x1: m.left, x2: m.left + pw, y1: sy(t), y2: sy(t) }));
    grid.append(svg('text', { x: m.left - 6, y: sy(t) + 4, 'text-anchor': 'end' }, fmtUsd(t)));
  }
  root.append(grid);
  const slot = pw / Math.max(1, groups.length);
  const bw = Math.max(2, Math.min(40, slot * 0.7));
  groups.forEach((g, i) => {
    const x = m.left + slot * i + (slot - bw) / 2;
    root.append(svg('rect', { class: 'bar', 'data-day': g.key, x, y: sy(g.usd), width: bw, height: Math.max(0, m.top + ph - sy(g.usd)) },
      svg('title', {}, `${g.key}: ${fmtUsd(g.usd)} (idle ${fmtUsd(g.idleUsd)})`)));
    if (groups.length <= 14 || i % Math.ceil(groups.length / 14) === 0) {
      root.append(svg('text', { x: x + bw / 2, y: height - m.bottom + 16, 'text-anchor': 'middle', class: 'xlabel' }, g.key.slice(5)));
    }
  });
  return root;
}

/**
 * result: {days, jobs} (two GET /v1/costs answers) or {error}; names: job id -> name.
 */
export function renderCosts(out, result, names) {
  if (result.error) {
    out.replaceChildren(h('p', { class: 'error-box' }, `Costs unavailable: ${result.error.message}`));
    return;
  }
  const { days, jobs } = result;
  const b = days.budgets.tenant ?? days.budgets.global;
  const totals = h('dl', { class: 'summary totals' },
    h('div', {}, h('dt', {}, 'Spent'), h('dd', { 'data-total': 'spent' }, fmtUsd(days.totalUsd))),
    h('div', {}, h('dt', {}, 'Idle'), h('dd', { 'data-total': 'idle' }, fmtUsd(days.idleUsd))),
    h('div', {}, h('dt', {}, 'Spot savings'), h('dd', { 'data-total': 'spot' }, fmtUsd(days.spotSavingsUsd))),
    h('div', {}, h('dt', {}, 'Budget left'), h('dd', { 'data-total': 'budget-left' }, b ? `${fmtUsd(b.leftUsd)} of ${fmtUsd(b.limitUsd)}` : 'no budget')));
  if (days.groups.length === 0) {
    out.replaceChildren(totals, h('p', { class: 'empty' }, 'Nothing spent yet.'));
    return;
  }
  const top = jobs.groups.slice(0, 20);
  out.replaceChildren(totals, dayChart(days.groups), h('div', { class: 'scroll' }, h('table', { class: 'data', id: 'cost-jobs-table' },
    h('caption', { class: 'sr-only' }, 'Spend per job, dearest first'),
    h('thead', {}, h('tr', {}, ['Job', 'Cost', 'Idle share', 'Spot saved', 'Instance time'].map((t, i) => h('th', { scope: 'col', class: i ? 'num' : undefined }, t)))),
    h('tbody', {}, top.map((g) => h('tr', { 'data-job': g.key },
      h('td', {}, names.get(g.key) ?? g.key),
      h('td', { class: 'num' }, fmtUsd(g.usd)),
      h('td', { class: 'num' }, fmtUsd(g.idleUsd)),
      h('td', { class: 'num' }, fmtUsd(g.spotSavingsUsd)),
      h('td', { class: 'num' }, `${(g.instanceSeconds / 60).toFixed(1)} min`)))))));
}
