// Hand-written SVG charts for the dashboard: learning curves and score strips.
// Everything is built with DOM calls (createElementNS, textContent), never from
// HTML strings, so labels taken from the API cannot inject markup.

const NS = 'http://www.w3.org/2000/svg';

/** An SVG element with attributes; string children become text nodes. */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? String(c) : c);
  }
  return el;
}

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo, hi, count = 5) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (lo === hi) {
    const d = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    lo -= d;
    hi += d;
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

/** Short label for an axis tick or a value. */
export function fmtNum(v) {
  if (v === undefined || v === null || !Number.isFinite(v)) return '—';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(2);
  if (a >= 100) return v.toFixed(1).replace(/\.0$/, '');
  return String(Number(v.toPrecision(4)));
}

/**
 * Per-epoch mean of `field` over several histories (units may stop early: each
 * epoch averages the units that reached it). Returns [[epoch, mean], ...].
 */
export function meanCurve(histories, field) {
  const sums = new Map();
  for (const h of histories) {
    for (const e of h.epochs ?? []) {
      const v = e[field];
      if (typeof v !== 'number' || !Number.isFinite(v)) continue;
      const s = sums.get(e.epoch) ?? { sum: 0, n: 0 };
      s.sum += v;
      s.n += 1;
      sums.set(e.epoch, s);
    }
  }
  return [...sums.entries()].sort((a, b) => a[0] - b[0]).map(([epoch, s]) => [epoch, s.sum / s.n]);
}

/** [[epoch, value], ...] of one history. */
export function curve(history, field) {
  const out = [];
  for (const e of history.epochs ?? []) {
    const v = e[field];
    if (typeof e.epoch === 'number' && typeof v === 'number' && Number.isFinite(v)) out.push([e.epoch, v]);
  }
  return out;
}

/**
 * A line chart.
 *   lines: [{ points: [[x, y]], series, kind: 'unit'|'mean'|'final', color, dashed, label }]
 * Units are drawn thin and translucent, means bold, the final fit in its own style;
 * each path carries data-series and data-kind, and a <title> for hover.
 */
export function lineChart({ title, description, xLabel = 'epoch', yLabel = '', lines, width = 640, height = 300 }) {
  const m = { left: 60, right: 16, top: 14, bottom: 42 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const xs = [];
  const ys = [];
  for (const l of lines) for (const [x, y] of l.points) { xs.push(x); ys.push(y); }
  const root = svg('svg', {
    viewBox: `0 0 ${width} ${height}`,
    class: 'chart',
    role: 'img',
    preserveAspectRatio: 'xMidYMid meet',
  });
  const titleEl = svg('title', {}, title);
  root.append(titleEl);
  if (description) root.append(svg('desc', {}, description));
  if (xs.length === 0) {
    root.append(svg('text', { x: width / 2, y: height / 2, 'text-anchor': 'middle', class: 'chart-empty' }, 'no epochs yet'));
    return root;
  }
  let x0 = Math.min(...xs);
  let x1 = Math.max(...xs);
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  let y0 = Math.min(...ys);
  let y1 = Math.max(...ys);
  const pad = (y1 - y0) * 0.05 || Math.abs(y1) * 0.05 || 1;
  y0 -= pad;
  y1 += pad;
  const yt = niceTicks(y0, y1, 5);
  const xt = niceTicks(x0, x1, 6).filter((t) => Number.isInteger(t) || x1 - x0 < 6);
  y0 = Math.min(y0, yt[0] ?? y0);
  y1 = Math.max(y1, yt[yt.length - 1] ?? y1);
  const sx = (x) => m.left + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y) => m.top + (1 - (y - y0) / (y1 - y0)) * ph;

  const grid = svg('g', { class: 'grid', 'aria-hidden': 'true' });
  for (const t of yt) {
    grid.append(svg('line', { x1: m.left, x2: m.left + pw, y1: sy(t), y2: sy(t) }));
    grid.append(svg('text', { x: m.left - 6, y: sy(t) + 4, 'text-anchor': 'end' }, fmtNum(t)));
  }
  for (const t of xt) {
    grid.append(svg('line', { class: 'xtick', x1: sx(t), x2: sx(t), y1: m.top + ph, y2: m.top + ph + 4 }));
    grid.append(svg('text', { x: sx(t), y: m.top + ph + 17, 'text-anchor': 'middle' }, fmtNum(t)));
  }
  grid.append(svg('rect', { class: 'frame', x: m.left, y: m.top, width: pw, height: ph }));
  grid.append(svg('text', { class: 'axis-label', x: m.left + pw / 2, y: height - 6, 'text-anchor': 'middle' }, xLabel));
  if (yLabel) {
    grid.append(svg('text', { class: 'axis-label', x: 14, y: m.top + ph / 2, 'text-anchor': 'middle', transform: `rotate(-90 14 ${m.top + ph / 2})` }, yLabel));
  }
  root.append(grid);

  const order = { unit: 0, final: 1, mean: 2 };
  const plot = svg('g', { class: 'lines' });
  for (const l of [...lines].sort((a, b) => order[a.kind] - order[b.kind])) {
    if (l.points.length === 0) continue;
    const d = l.points.map(([x, y], i) => `${i ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
    const path = svg('path', {
      d,
      class: `line line-${l.kind}${l.dashed ? ' dashed' : ''}`,
      stroke: l.color,
      'data-series': l.series,
      'data-kind': l.kind,
    }, svg('title', {}, l.label ?? `${l.kind} ${l.series}`));
    plot.append(path);
    if (l.points.length === 1) {
      const [x, y] = l.points[0];
      plot.append(svg('circle', { cx: sx(x), cy: sy(y), r: l.kind === 'unit' ? 1.5 : 3, fill: l.color, class: `dot dot-${l.kind}` }));
    }
  }
  root.append(plot);
  return root;
}

/**
 * Unit scores as dots on one axis with the mean and its 95% CI band, so the spread
 * of a stochastic model is visible at a glance.
 */
export function scoreStrip({ title, scores, mean, ci95, width = 640, height = 70 }) {
  const m = { left: 60, right: 16, top: 10, bottom: 26 };
  const pw = width - m.left - m.right;
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart strip', role: 'img' }, svg('title', {}, title));
  const vals = [...scores, ...(ci95 ?? [])].filter((v) => Number.isFinite(v));
  if (vals.length === 0) return root;
  let lo = Math.min(...vals);
  let hi = Math.max(...vals);
  const pad = (hi - lo) * 0.05 || Math.abs(hi) * 0.05 || 1;
  lo -= pad;
  hi += pad;
  const sx = (x) => m.left + ((x - lo) / (hi - lo)) * pw;
  const cy = m.top + (height - m.top - m.bottom) / 2;
  const g = svg('g', { class: 'grid', 'aria-hidden': 'true' });
  g.append(svg('line', { x1: m.left, x2: m.left + pw, y1: height - m.bottom, y2: height - m.bottom }));
  for (const t of niceTicks(lo, hi, 6)) {
    g.append(svg('line', { class: 'xtick', x1: sx(t), x2: sx(t), y1: height - m.bottom, y2: height - m.bottom + 4 }));
    g.append(svg('text', { x: sx(t), y: height - m.bottom + 16, 'text-anchor': 'middle' }, fmtNum(t)));
  }
  root.append(g);
  if (ci95 && Number.isFinite(ci95[0]) && Number.isFinite(ci95[1])) {
    root.append(svg('rect', { class: 'ci-band', x: sx(ci95[0]), y: m.top, width: Math.max(1, sx(ci95[1]) - sx(ci95[0])), height: height - m.top - m.bottom }, svg('title', {}, `95% CI ${fmtNum(ci95[0])} to ${fmtNum(ci95[1])}`)));
  }
  if (Number.isFinite(mean)) {
    root.append(svg('line', { class: 'mean-mark', x1: sx(mean), x2: sx(mean), y1: m.top - 2, y2: height - m.bottom }, svg('title', {}, `mean ${fmtNum(mean)}`)));
  }
  scores.forEach((s, i) => {
    if (!Number.isFinite(s)) return;
    const jitter = ((i * 7) % 5 - 2) * 3;
    root.append(svg('circle', { class: 'score-dot', cx: sx(s), cy: cy + jitter, r: 3.5 }, svg('title', {}, `unit ${i + 1}: ${fmtNum(s)}`)));
  });
  root.append(svg('text', { class: 'strip-label', x: m.left - 6, y: cy + 4, 'text-anchor': 'end' }, 'scores'));
  return root;
}
