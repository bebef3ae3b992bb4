// Batches on the dashboard: the list of batches, and a batch page (#batch=<id>) with
// the progress of the whole batch, its window and deadline, cost so far, the
// sortable leaderboard with significance marks and one small chart per parameter
// (the parameter's value against the job's mean score).

import { svg, niceTicks, fmtNum } from './charts.js';
import { h, $, fmtCi, fmtDuration, fmtTime, fmtUsd, statusBadge } from './format.js';

const TICK_MS = 2000;
const LIST_EVERY = 5;

/** Sort keys of the leaderboard columns; params sort by their value. */
const COLUMNS = [
  { key: 'rank', label: 'Rank', num: true, value: (r) => r.rank },
  { key: 'name', label: 'Job', value: (r) => r.name },
  { key: 'mean', label: 'Mean', num: true, value: (r) => r.mean },
  { key: 'std', label: 'Std', num: true, value: (r) => r.std },
  { key: 'ci', label: '95% CI', num: true, value: (r) => (r.ci95 ? r.ci95[0] : null) },
  { key: 'n', label: 'n', num: true, value: (r) => r.n },
  { key: 'mark', label: 'vs best', value: (r) => markOf(r) },
  { key: 'p', label: 'p', num: true, value: (r) => (r.sig ? r.sig.p : null) },
  { key: 'cost', label: 'Cost', num: true, value: (r) => r.costUsd },
  { key: 'duration', label: 'Duration', num: true, value: (r) => r.durationS },
];

export function markOf(r) {
  if (r.rank === null || r.rank === undefined) return '';
  if (r.best) return 'best';
  if (r.tiedWithBest === null) return 'n/a';
  return r.tiedWithBest ? '≈ best' : 'worse';
}

const paramLabel = (v) => (typeof v === 'number' ? fmtNum(v) : typeof v === 'string' ? v : JSON.stringify(v));

/** Rows sorted by a column; empty values last whatever the direction. */
export function sortRows(rows, column, dir) {
  const col = COLUMNS.find((c) => c.key === column);
  const get = col ? col.value : (r) => r.params[column.slice('param:'.length)];
  const isNum = col ? !!col.num : rows.every((r) => typeof get(r) === 'number' || get(r) == null);
  return [...rows].sort((a, b) => {
    const x = get(a);
    const y = get(b);
    if (x == null && y == null) return 0;
    if (x == null) return 1;
    if (y == null) return -1;
    const c = isNum ? x - y : String(x).localeCompare(String(y));
    return dir === 'asc' ? c : -c;
  });
}

/** One small chart: a parameter's values (x) against the jobs' mean scores (y). */
function paramChart(path, rows, metric) {
  const W = 220, H = 150, L = 44, R = 8, T = 10, B = 30;
  const pts = rows.filter((r) => r.mean !== null && r.params[path] !== undefined);
  const values = pts.map((r) => r.params[path]);
  const numeric = values.every((v) => typeof v === 'number');
  const cats = numeric ? [] : [...new Set(values.map(paramLabel))];
  const xs = numeric ? values : values.map((v) => cats.indexOf(paramLabel(v)));
  const log = numeric && xs.every((x) => x > 0) && Math.max(...xs) / Math.min(...xs) >= 100;
  const tx = (x) => (log ? Math.log10(x) : x);
  const xlo = Math.min(...xs.map(tx)), xhi = Math.max(...xs.map(tx));
  const ys = pts.map((r) => r.mean);
  const yt = niceTicks(Math.min(...ys), Math.max(...ys), 4);
  const ylo = Math.min(yt[0] ?? 0, ...ys), yhi = Math.max(yt[yt.length - 1] ?? 1, ...ys);
  const sx = (x) => L + (xhi === xlo ? 0.5 : (tx(x) - xlo) / (xhi - xlo)) * (W - L - R);
  const sy = (y) => T + (yhi === ylo ? 0.5 : 1 - (y - ylo) / (yhi - ylo)) * (H - T - B);
  const xTicks = numeric ? [...new Set(values)].sort((a, b) => a - b) : cats.map((_, i) => i);
  const title = `${metric ?? 'score'} by ${path}`;
  return h('figure', { class: 'param-fig', 'data-param': path },
    h('figcaption', {}, path),
    svg('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': title },
      svg('title', {}, title),
      ...yt.map((v) => svg('g', {},
        svg('line', { x1: L, x2: W - R, y1: sy(v), y2: sy(v), class: 'grid' }),
        svg('text', { x: L - 4, y: sy(v) + 3, 'text-anchor': 'end', class: 'tick' }, fmtNum(v)))),
      ...xTicks.slice(0, 8).map((v) => svg('text', { x: sx(v), y: H - B + 14, 'text-anchor': 'middle', class: 'tick' }, numeric ? fmtNum(v) : cats[v])),
      ...pts.map((r, i) => svg('circle', { cx: sx(xs[i]), cy: sy(r.mean), r: 4, class: r.best ? 'pt best' : r.tiedWithBest ? 'pt tied' : 'pt' },
        svg('title', {}, `${r.name}: ${fmtNum(r.mean)}`)))));
}

export function createBatchesView(api) {
  const st = { key: '', batches: [], selected: null, batch: null, sort: { column: 'rank', dir: 'asc' }, tick: 0, timer: 0, gen: 0 };

  function renderList() {
    const out = $('batches-body');
    if (!st.key) return out.replaceChildren(h('p', { class: 'empty' }, 'No API key yet.'));
    if (st.batches.length === 0) return out.replaceChildren(h('p', { class: 'empty' }, 'No batches yet.'));
    out.replaceChildren(h('div', { class: 'scroll' }, h('table', { class: 'data', id: 'batches-table' },
      h('thead', {}, h('tr', {}, ['Batch', 'Status', 'Progress', 'Best', 'Deadline', 'Cost'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, st.batches.map((b) => {
        const best = b.leaderboard.find((r) => r.rank === 1);
        return h('tr', { 'data-id': b.id },
          h('td', {}, h('a', { href: `#batch=${encodeURIComponent(b.id)}` }, b.name)),
          h('td', {}, statusBadge(b.status), b.atRisk ? h('span', { class: 'err-note' }, ' at risk') : null),
          h('td', {}, `${b.progress.unitsDone}/${b.progress.unitsTotal} units`),
          h('td', { class: 'num' }, best ? `${fmtNum(best.mean)} ${b.metric}` : '—'),
          h('td', {}, b.deadline ? fmtTime(b.deadline) : '—'),
          h('td', { class: 'num' }, b.costUsd === null ? '—' : fmtUsd(b.costUsd)));
      })))));
  }

  function renderBatch() {
    const section = $('batch');
    const b = st.batch;
    if (!st.selected || !b) {
      section.hidden = true;
      return;
    }
    section.hidden = false;
    $('batch-h').textContent = `Batch: ${b.name}`;
    const counts = Object.entries(b.counts).filter(([, n]) => n > 0).map(([s, n]) => `${n} ${s.replace(/_/g, ' ')}`).join(', ');
    const item = (dt, dd, attrs = {}) => h('div', {}, h('dt', {}, dt), h('dd', attrs, dd));
    const facts = [
      item('Status', [statusBadge(b.status), counts ? ` ${counts}` : ''], { 'data-field': 'status' }),
      item('Progress', h('span', { class: 'progress-cell' },
        h('progress', { max: Math.max(1, b.progress.unitsTotal), value: b.progress.unitsDone, 'aria-label': 'units done' }),
        h('span', {}, `${b.progress.unitsDone}/${b.progress.unitsTotal} units`)), { 'data-field': 'progress' }),
    ];
    if (b.window) facts.push(item('Window', `${b.window.start}–${b.window.end} ${b.window.timezone}`, { 'data-field': 'window' }));
    if (b.notBefore) facts.push(item('Starts', fmtTime(b.notBefore), { 'data-field': 'notBefore' }));
    if (b.deadline) facts.push(item('Deadline', fmtTime(b.deadline), { 'data-field': 'deadline' }));
    if (b.projection && b.projection.projectedFinish) facts.push(item('Projected finish', fmtTime(b.projection.projectedFinish), { 'data-field': 'projected' }));
    facts.push(item('Cost so far', `${b.costUsd === null ? 'not metered' : fmtUsd(b.costUsd)}${b.budgetUsd !== undefined ? ` of ${fmtUsd(b.budgetUsd)}` : ''}`, { 'data-field': 'cost' }));
    $('batch-summary').replaceChildren(...facts);
    const risk = $('batch-risk');
    risk.hidden = !b.atRisk;
    risk.textContent = b.atRisk ? `At risk: the remaining work is projected to finish at ${fmtTime(b.projection?.projectedFinish)}, after the deadline.` : '';

    $('batch-lb-note').textContent = b.metric
      ? `Ranked by ${b.metric} (${b.higherIsBetter ? 'higher' : 'lower'} is better). "≈ best": not significantly different from the best at α = 0.05 (corrected resampled t-test on shared folds, Welch's t-test otherwise).`
      : 'No job has finished yet.';
    const paramKeys = [...new Set(b.leaderboard.flatMap((r) => Object.keys(r.params)))];
    const cols = [...COLUMNS, ...paramKeys.map((k) => ({ key: `param:${k}`, label: k, param: k }))];
    const rows = sortRows(b.leaderboard, st.sort.column, st.sort.dir);
    const header = h('tr', {}, cols.map((c) => {
      const active = st.sort.column === c.key;
      return h('th', { scope: 'col', class: c.num ? 'num' : undefined, 'aria-sort': active ? (st.sort.dir === 'asc' ? 'ascending' : 'descending') : 'none', 'data-col': c.key },
        h('button', { type: 'button', class: 'sort', onclick: () => {
          st.sort = { column: c.key, dir: active && st.sort.dir === 'asc' ? 'desc' : 'asc' };
          renderBatch();
        } }, c.label, active ? (st.sort.dir === 'asc' ? ' ▲' : ' ▼') : ''));
    }));
    $('batch-lb').replaceChildren(h('thead', {}, header), h('tbody', {}, rows.map((r) => h('tr', { 'data-id': r.jobId, class: [r.best ? 'best' : r.tiedWithBest ? 'tied' : '', r.warnings?.length ? 'lb-warned' : ''].filter(Boolean).join(' ') || undefined },
      h('td', { class: 'num' }, r.rank === null ? '—' : String(r.rank)),
      h('td', {}, h('a', { href: `#job=${encodeURIComponent(r.jobId)}` }, r.name),
        ...(r.warnings?.length ? [' ', h('span', { class: 'badge badge-warn', 'data-warnings': r.warnings.join(' '), title: `training-health warnings: ${r.warnings.join(', ')}` }, '⚠')] : [])),
      h('td', { class: 'num' }, r.mean === null ? '—' : fmtNum(r.mean)),
      h('td', { class: 'num' }, r.std === null ? '—' : fmtNum(r.std)),
      h('td', { class: 'num' }, r.ci95 ? fmtCi(r.ci95) : '—'),
      h('td', { class: 'num' }, String(r.n)),
      h('td', { 'data-mark': markOf(r) }, markOf(r)),
      h('td', { class: 'num', title: r.sig ? (r.sig.test === 'nadeau-bengio' ? 'corrected resampled t-test' : "Welch's t-test") : undefined }, r.sig ? r.sig.p.toFixed(3) : '—'),
      h('td', { class: 'num' }, r.costUsd === null ? '—' : fmtUsd(r.costUsd)),
      h('td', { class: 'num' }, r.durationS === null ? '—' : fmtDuration(r.durationS * 1000)),
      ...paramKeys.map((k) => h('td', { class: typeof r.params[k] === 'number' ? 'num' : undefined }, r.params[k] === undefined ? '—' : paramLabel(r.params[k])))))));
    const ranked = b.leaderboard.filter((r) => r.mean !== null);
    $('batch-params').replaceChildren(...(ranked.length ? paramKeys.map((k) => paramChart(k, ranked, b.metric)) : []));
  }

  async function refresh() {
    if (!st.key) return;
    const gen = st.gen;
    const work = [];
    if (st.tick % LIST_EVERY === 0) work.push(api('/v1/batches?limit=50&rows=1').then((l) => { if (gen === st.gen) { st.batches = l.items; renderList(); } }));
    if (st.selected) {
      const id = st.selected;
      work.push(api(`/v1/batches/${encodeURIComponent(id)}`).then((b) => {
        if (gen !== st.gen || st.selected !== id) return;
        st.batch = b;
        renderBatch();
      }, (e) => {
        if (e.status === 404 && st.selected === id) {
          st.batch = null;
          renderBatch();
          return;
        }
        throw e;
      }));
    }
    await Promise.all(work);
    st.tick += 1;
  }

  function loop() {
    clearTimeout(st.timer);
    const gen = ++st.gen;
    const run = async () => {
      if (gen !== st.gen) return;
      try { await refresh(); } catch { /* the jobs loop reports connection problems */ }
      if (gen === st.gen) st.timer = setTimeout(run, TICK_MS);
    };
    run();
  }

  function fromHash() {
    const m = /^#batch=(.+)$/.exec(location.hash);
    return m ? decodeURIComponent(m[1]) : null;
  }

  function select(id) {
    if (id === st.selected) return;
    st.selected = id;
    st.batch = null;
    st.sort = { column: 'rank', dir: 'asc' };
    renderBatch();
    if (id) {
      st.tick = 1; // the list can wait; the batch comes now
      loop();
      $('batch').hidden = false;
      $('batch-h').focus({ preventScroll: true });
      $('batch').scrollIntoView({ block: 'start' });
    }
  }

  return {
    init() {
      window.addEventListener('hashchange', () => select(fromHash()));
      $('batch-close').addEventListener('click', () => {
        history.replaceState(null, '', location.pathname + location.search);
        select(null);
      });
      st.selected = fromHash();
    },
    useKey(key) {
      st.key = key;
      st.tick = 0;
      st.batches = [];
      if (!key) {
        st.gen += 1;
        clearTimeout(st.timer);
        renderList();
        renderBatch();
        return;
      }
      loop();
    },
  };
}
