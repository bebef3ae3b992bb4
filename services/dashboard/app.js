// The nightshift dashboard: jobs, learning curves, leaderboard, instances and cost.
// Data comes from the /v1 API with the key the user enters (kept in localStorage).
// Strings from the API only ever reach the page as text nodes or attribute values
// (see h() in format.js); nothing is parsed as HTML.


import { scoreStrip } from './charts.js';
import { ApiError, TERMINAL, HIGHER_IS_BETTER, COLORS, h, $, fmtDuration, fmtTime, fmtUsd, fmtCi, fmtMeanStd, jobDurationMs, statusBadge, warningsBadge, progressCell, engineOf } from './format.js';
import { metricField, linesFor, chartFigure, summaryList, unitsTable } from './detail.js';
import { createBatchesView } from './batches.js';
import { followEvents, addProgress, withLive } from './live.js';
import { renderCosts } from './costs.js';

const KEY_STORE = 'nightshift.apiKey';
const TICK_MS = 2000;
const SLOW_EVERY = 5; // leaderboard and instances every 5th tick (10 s)

const state = {
  key: '',
  jobs: [],
  completed: [],
  selected: null,
  detail: null, // { id, job, history, historyFor, summary, summaryFor, sig }
  tick: 0,
  timer: 0,
  loop: 0, // generation of the polling loop; a new key or a wake-up starts a new one
  halted: false,
};

async function api(path) {
  let res;
  try {
    res = await fetch(path, { headers: { authorization: `Bearer ${state.key}`, accept: 'application/json' }, cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'unreachable', 'The API is not answering; retrying.');
  }
  let body = null;
  const text = await res.text();
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!res.ok) {
    const e = body && body.error ? body.error : {};
    throw new ApiError(res.status, e.code ?? String(res.status), e.message ?? `HTTP ${res.status}`);
  }
  return body;
}

function setConn(text, bad = false) {
  const el = $('conn');
  if (el.textContent !== text) el.textContent = text;
  el.classList.toggle('bad', bad);
}

// ---------------------------------------------------------------- jobs table

/** Replaces a cell's content only when it changed, so focus and selection survive refreshes. */
function setCell(td, content) {
  const next = h('td', {}, content);
  if (td.innerHTML !== next.innerHTML) td.replaceChildren(...next.childNodes);
}

function renderJobs() {
  const body = $('jobs-body');
  const existing = new Map([...body.rows].map((r) => [r.dataset.id, r]));
  const now = Date.now();
  const rows = state.jobs.map((job) => {
    let tr = existing.get(job.id);
    if (!tr) {
      tr = h('tr', { 'data-id': job.id, class: 'job-row', onclick: (ev) => {
        if (ev.target instanceof Element && ev.target.closest('a')) return;
        selectJob(job.id);
      } });
      for (let i = 0; i < 8; i++) tr.append(h('td'));
      tr.cells[4].className = 'num';
      tr.cells[5].className = 'num';
      tr.cells[6].className = 'num';
    }
    const r = job.result;
    setCell(tr.cells[0], h('a', { href: `#job=${encodeURIComponent(job.id)}`, class: 'job-link' }, job.name));
    const warn = warningsBadge(job);
    const waiting = job.waiting ? h('span', { class: 'waiting-note', title: job.waiting.message }, `waiting: ${job.waiting.reason.replace(/_/g, ' ')}`) : undefined;
    setCell(tr.cells[1], job.error ? [statusBadge(job.status), ' ', h('span', { class: 'err-note', title: job.error.message }, job.error.code)]
      : warn || waiting ? [statusBadge(job.status), ...(warn ? [' ', warn] : []), ...(waiting ? [' ', waiting] : [])] : statusBadge(job.status));
    setCell(tr.cells[2], progressCell(job.progress));
    setCell(tr.cells[3], r ? r.metric : '—');
    setCell(tr.cells[4], fmtMeanStd(r));
    setCell(tr.cells[5], r ? fmtCi(r.ci95) : '—');
    setCell(tr.cells[6], fmtDuration(jobDurationMs(job, now)));
    setCell(tr.cells[7], engineOf(job));
    const sel = job.id === state.selected;
    tr.classList.toggle('selected', sel);
    if (sel) tr.setAttribute('aria-current', 'true'); else tr.removeAttribute('aria-current');
    return tr;
  });
  // reorder / insert / remove without touching rows that stay in place
  rows.forEach((tr, i) => { if (body.rows[i] !== tr) body.insertBefore(tr, body.rows[i] ?? null); });
  while (body.rows.length > rows.length) body.deleteRow(rows.length);
  $('jobs-empty').hidden = state.jobs.length > 0;
}

// ---------------------------------------------------------------- leaderboard

function rankJobs(jobs) {
  const groups = new Map();
  for (const j of jobs) {
    if (j.status !== 'completed' || !j.result || !Number.isFinite(j.result.mean)) continue;
    const g = groups.get(j.result.metric) ?? [];
    g.push(j);
    groups.set(j.result.metric, g);
  }
  return [...groups.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([metric, list]) => {
    const higher = HIGHER_IS_BETTER.has(metric);
    list.sort((a, b) => (higher ? b.result.mean - a.result.mean : a.result.mean - b.result.mean) || a.name.localeCompare(b.name));
    let rank = 0;
    const ranked = list.map((j, i) => {
      if (i === 0 || j.result.mean !== list[i - 1].result.mean) rank = i + 1;
      return { job: j, rank };
    });
    return { metric, higher, ranked };
  });
}

function renderLeaderboard() {
  const groups = rankJobs(state.completed);
  const out = $('lb-body');
  if (groups.length === 0) {
    out.replaceChildren(h('p', { class: 'empty' }, state.key ? 'No completed jobs yet.' : 'No API key yet.'));
    return;
  }
  out.replaceChildren(...groups.map(({ metric, higher, ranked }) => h('div', { class: 'lb-group', 'data-metric': metric },
    h('h3', {}, metric, ' ', h('span', { class: 'hint' }, higher ? '(higher is better)' : '(lower is better)')),
    h('div', { class: 'scroll' }, h('table', { class: 'data lb-table' },
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col', class: 'num' }, 'Rank'), h('th', { scope: 'col' }, 'Job'),
        h('th', { scope: 'col', class: 'num' }, 'Mean ± std'), h('th', { scope: 'col', class: 'num' }, '95% CI'),
        h('th', { scope: 'col', class: 'num' }, 'Scores'), h('th', { scope: 'col' }, 'Finished'))),
      h('tbody', {}, ranked.map(({ job, rank }) => h('tr', { 'data-id': job.id, class: job.warnings?.length ? 'lb-warned' : undefined },
        h('td', { class: 'num' }, String(rank)),
        // a job whose units warned (a model that predicts one class, a flat loss) is marked: its score may not mean learning
        h('td', {}, h('a', { href: `#job=${encodeURIComponent(job.id)}` }, job.name), ...(job.warnings?.length ? [' ', warningsBadge(job)] : [])),
        h('td', { class: 'num' }, fmtMeanStd(job.result)),
        h('td', { class: 'num' }, fmtCi(job.result.ci95)),
        h('td', { class: 'num' }, String(job.result.scores?.length ?? '—')),
        h('td', {}, fmtTime(job.finishedAt))))))))));
}

// ---------------------------------------------------------------- instances

function renderInstances(result) {
  const out = $('inst-body');
  if (result.error) {
    const e = result.error;
    if (e.status === 403) {
      out.replaceChildren(h('p', { class: 'notice', 'data-state': 'forbidden' }, 'Admin key needed: instances and their cost are visible to admin keys only (NIGHTSHIFT_ADMIN_KEYS).'));
    } else {
      out.replaceChildren(h('p', { class: 'error-box' }, `Instances unavailable: ${e.message}`));
    }
    return;
  }
  const list = result.items;
  const total = list.reduce((s, i) => s + (Number.isFinite(i.costUsd) ? i.costUsd : 0), 0);
  const live = list.filter((i) => i.state !== 'terminated');
  const hourly = live.reduce((s, i) => s + (Number.isFinite(i.hourlyUsd) ? i.hourlyUsd : 0), 0);
  const totals = h('dl', { class: 'summary totals' },
    h('div', {}, h('dt', {}, 'Total cost'), h('dd', { 'data-total': 'cost' }, fmtUsd(total))),
    h('div', {}, h('dt', {}, 'Live instances'), h('dd', {}, String(live.length))),
    h('div', {}, h('dt', {}, 'Burning now'), h('dd', {}, `${fmtUsd(hourly)}/h`)),
    h('div', {}, h('dt', {}, 'Instances ever'), h('dd', {}, String(list.length))));
  if (list.length === 0) {
    out.replaceChildren(totals, h('p', { class: 'empty' }, 'No instances have been launched.'));
    return;
  }
  const sorted = [...list].sort((a, b) => String(b.launchedAt).localeCompare(String(a.launchedAt)));
  out.replaceChildren(totals, h('div', { class: 'scroll' }, h('table', { class: 'data', id: 'inst-table' },
    h('thead', {}, h('tr', {}, ['Instance', 'Type', 'Market', 'State', 'Launched', 'Active units', 'Hourly', 'Cost']
      .map((t, i) => h('th', { scope: 'col', class: i >= 5 ? 'num' : undefined }, t)))),
    h('tbody', {}, sorted.map((i) => h('tr', {},
      h('td', { class: 'mono' }, i.id),
      h('td', {}, i.type),
      h('td', {}, i.market),
      h('td', {}, h('span', { class: `badge badge-inst-${String(i.state).replace(/[^a-z_-]/g, '')}`, title: i.terminateReason ?? undefined }, i.state)),
      h('td', {}, fmtTime(i.launchedAt)),
      h('td', { class: 'num' }, String(i.activeUnits)),
      h('td', { class: 'num' }, fmtUsd(i.hourlyUsd)),
      h('td', { class: 'num' }, fmtUsd(i.costUsd))))),
    h('tfoot', {}, h('tr', {}, h('th', { scope: 'row', colspan: 7 }, 'Total'), h('td', { class: 'num' }, fmtUsd(total)))))));
}

function renderDetail() {
  const d = state.detail;
  const section = $('detail');
  if (!d || !d.job) {
    section.hidden = true;
    return;
  }
  section.hidden = false;
  const { job, summary } = d;
  const history = (d.history || d.live?.size) ? withLive(d.history ?? { units: [] }, d.live) : d.history;
  $('detail-h').textContent = `Job: ${job.name}`;
  $('detail-summary').replaceChildren(...summaryList(job, summary));
  const err = $('detail-error');
  err.hidden = !job.error;
  err.textContent = job.error ? `${job.error.code}: ${job.error.message}` : '';
  // charts and the units table only change with the data (keeps hover titles steady)
  const sig = JSON.stringify([job.status, job.result, d.history, summary, d.liveVersion ?? 0]);
  if (sig === d.sig) return;
  d.sig = sig;

  const charts = [];
  if (history && ((history.units ?? []).length > 0 || history.final)) {
    const lossLines = linesFor(history, 'loss', [COLORS.loss, COLORS.val_loss]);
    if (lossLines.length) charts.push(chartFigure('loss', 'Loss per epoch', 'loss', lossLines));
    const mf = metricField(history, job);
    if (mf) {
      const ml = linesFor(history, mf, [COLORS.metric, COLORS.val_metric]);
      if (ml.length) charts.push(chartFigure('metric', `${mf} per epoch`, mf, ml));
    }
  } else if (history) {
    charts.push(h('p', { class: 'empty' }, TERMINAL.has(job.status) ? 'No training history was recorded.' : 'Learning curves appear as soon as a training unit reports its first epoch.'));
  }
  if (job.result && job.result.scores.length > 0) {
    charts.push(h('figure', { class: 'chart-fig strip-fig', 'data-chart': 'scores' },
      h('figcaption', {}, `${job.result.metric} per unit, mean and 95% CI`),
      scoreStrip({ title: `${job.result.metric} of each unit with the mean and 95% confidence interval`, scores: job.result.scores, mean: job.result.mean, ci95: job.result.ci95 })));
  }
  $('detail-charts').replaceChildren(...charts);

  const ut = $('units-table');
  const hasUnits = summary && Array.isArray(summary.units) && summary.units.length > 0;
  ut.hidden = !hasUnits;
  $('units-h').hidden = !hasUnits;
  ut.replaceChildren(...(hasUnits ? unitsTable(summary) : []));
}

async function refreshDetail() {
  const d = state.detail;
  if (!d) return;
  const id = d.id;
  try {
    const job = await api(`/v1/jobs/${encodeURIComponent(id)}`);
    if (state.detail !== d) return;
    d.job = job;
    const live = !TERMINAL.has(job.status);
    // history: every tick while the job runs, once more when it ends
    if (live || d.historyFor !== job.status) {
      d.history = await api(`/v1/jobs/${encodeURIComponent(id)}/history`).catch((e) => (e.status === 404 ? { units: [] } : Promise.reject(e)));
      d.historyFor = job.status;
    }
    if (job.status === 'completed' && d.summaryFor !== job.status) {
      d.summary = await api(`/v1/jobs/${encodeURIComponent(id)}/artifacts/summary.json`).catch((e) => (e.status === 404 ? null : Promise.reject(e)));
      d.summaryFor = job.status;
    }
    if (state.detail === d) renderDetail();
  } catch (e) {
    if (state.detail !== d) return;
    if (e.status === 404) {
      d.job = null;
      renderDetail();
      setConn(`Job ${id} was not found for this key.`, true);
      return;
    }
    throw e;
  }
}

/** Streams the job's per-epoch progress into d.live while the job trains (the stream ends with the job). */
function followLive(d) {
  if (!state.key) return;
  d.live = new Map();
  d.liveVersion = 0;
  let pending = 0;
  d.stopLive = followEvents(`/v1/jobs/${encodeURIComponent(d.id)}/events`, state.key, (type, ev) => {
    if (state.detail !== d || type !== 'progress' || !addProgress(d.live, ev)) return;
    d.liveVersion += 1;
    if (!pending) pending = setTimeout(() => { pending = 0; if (state.detail === d) renderDetail(); }, 300);
  });
}

function selectJob(id, { focus = true } = {}) {
  if (!id) {
    state.detail?.stopLive?.();
    state.selected = null;
    state.detail = null;
    renderDetail();
    renderJobs();
    if (location.hash.startsWith('#job=')) history.replaceState(null, '', location.pathname + location.search);
    return;
  }
  const target = `#job=${encodeURIComponent(id)}`;
  if (location.hash !== target) history.replaceState(null, '', target);
  if (state.selected === id && state.detail) return;
  state.selected = id;
  const known = state.jobs.find((j) => j.id === id) ?? state.completed.find((j) => j.id === id);
  state.detail?.stopLive?.();
  state.detail = { id, job: known ?? null, history: null, summary: null };
  followLive(state.detail);
  renderJobs();
  renderDetail();
  if (focus) {
    $('detail').hidden = false;
    $('detail-h').focus({ preventScroll: true });
    $('detail').scrollIntoView({ block: 'start', behavior: 'smooth' });
  }
  if (state.key) refreshDetail().catch(onError);
}

// ---------------------------------------------------------------- polling

function onError(e) {
  if (e instanceof ApiError && e.status === 401) {
    state.halted = true;
    setConn('The API key was not accepted. Paste a valid key.', true);
    return;
  }
  setConn(e instanceof ApiError ? e.message : `Error: ${e && e.message ? e.message : e}`, true);
}

async function refreshSlow() {
  const completed = await api('/v1/jobs?status=completed&limit=200');
  state.completed = completed.items;
  renderLeaderboard();
  let inst;
  try {
    inst = { items: await api('/v1/instances') };
  } catch (e) {
    if (!(e instanceof ApiError) || e.status === 401 || e.status === 0) throw e;
    inst = { error: e };
  }
  renderInstances(inst);
  let costs;
  try {
    const [days, jobs] = await Promise.all([api('/v1/costs?groupBy=day'), api('/v1/costs?groupBy=job')]);
    costs = { days, jobs };
  } catch (e) {
    if (!(e instanceof ApiError) || e.status === 401 || e.status === 0) throw e;
    costs = { error: e };
  }
  renderCosts($('costs-body'), costs, new Map([...state.jobs, ...state.completed].map((j) => [j.id, j.name])));
}

async function tick() {
  if (!state.key || state.halted) return;
  const first = state.tick === 0;
  const key = state.key;
  try {
    const list = await api('/v1/jobs?limit=100');
    if (key !== state.key) return;
    const before = new Set(state.jobs.filter((j) => j.status === 'completed').map((j) => j.id));
    state.jobs = list.items;
    renderJobs();
    const newlyDone = state.jobs.some((j) => j.status === 'completed' && !before.has(j.id));
    const work = [refreshDetail()];
    if (first || newlyDone || state.tick % SLOW_EVERY === 0) work.push(refreshSlow());
    await Promise.all(work);
    state.tick += 1;
    const running = state.jobs.filter((j) => !TERMINAL.has(j.status)).length;
    setConn(`${state.jobs.length} job${state.jobs.length === 1 ? '' : 's'}${running ? `, ${running} active` : ''} · updated ${new Date().toLocaleTimeString()}`);
  } catch (e) {
    if (key === state.key) onError(e);
  }
}

function schedule() {
  clearTimeout(state.timer);
  const gen = ++state.loop;
  const loop = async () => {
    if (gen !== state.loop) return;
    await tick();
    if (gen === state.loop && !state.halted) state.timer = setTimeout(loop, TICK_MS);
  };
  loop();
}

const batches = createBatchesView(api);

function useKey(key) {
  state.key = key;
  batches.useKey(key);
  state.halted = false;
  state.tick = 0;
  state.jobs = [];
  state.completed = [];
  $('jobs-body').replaceChildren();
  if (!key) {
    clearTimeout(state.timer);
    state.loop += 1;
    setConn('No API key yet.');
    renderLeaderboard();
    $('inst-body').replaceChildren(h('p', { class: 'empty' }, 'No API key yet.'));
    selectJob(null);
    return;
  }
  setConn('Loading…');
  state.detail?.stopLive?.();
  if (state.selected) {
    state.detail = { id: state.selected, job: null, history: null, summary: null };
    followLive(state.detail);
  }
  schedule();
}

function jobFromHash() {
  const m = /^#job=(.+)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

function init() {
  const input = $('key-input');
  let stored = '';
  try { stored = localStorage.getItem(KEY_STORE) ?? ''; } catch { stored = ''; }
  input.value = stored;
  $('key-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const key = input.value.trim();
    try {
      if (key) localStorage.setItem(KEY_STORE, key); else localStorage.removeItem(KEY_STORE);
    } catch { /* storage disabled: the key lasts for this page */ }
    useKey(key);
  });
  $('key-forget').addEventListener('click', () => {
    try { localStorage.removeItem(KEY_STORE); } catch { /* nothing stored */ }
    input.value = '';
    useKey('');
  });
  $('detail-close').addEventListener('click', () => selectJob(null));
  window.addEventListener('hashchange', () => {
    const id = jobFromHash();
    if (id !== state.selected) selectJob(id);
  });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && state.key && !state.halted) schedule();
  });
  renderLeaderboard();
  batches.init();
  const id = jobFromHash();
  if (id) selectJob(id, { focus: false });
  useKey(stored);
}

init();
