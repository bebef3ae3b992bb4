/**
 * Pure formatting for the CLI: compact tables, the statistics line, per-epoch
 * tables and CSV, event lines, and the parsers for `--set path=value` and
 * prediction rows. No I/O; table-tested.
 */
import type { Job } from '../core/job.ts';
import type { Dataset, EpochLog, History, Instance, Prediction, Summary, UnitHistory } from './client.ts';

/** A mistake in what the user typed (bad --set, bad rows, ...): the CLI exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

// ---- numbers and times -----------------------------------------------------------

/** 4 decimals; very small magnitudes in exponent form; '-' for missing values. */
export function num(x: number | null | undefined, digits = 4): string {
  if (x === undefined || x === null || Number.isNaN(x)) return '-';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x !== 0 && Math.abs(x) < 10 ** -digits) return x.toExponential(2);
  return x.toFixed(digits);
}

export const usd = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? '-' : `$${x < 1 ? x.toFixed(4) : x.toFixed(2)}`);

/** ISO time -> "YYYY-MM-DD HH:MM:SSZ"; '-' when missing. */
export const time = (iso: string | null | undefined): string => (iso ? `${iso.replace('T', ' ').slice(0, 19)}Z` : '-');

export function duration(fromIso: string | undefined, toIso: string | undefined): string {
  if (!fromIso || !toIso) return '-';
  const s = (Date.parse(toIso) - Date.parse(fromIso)) / 1000;
  if (!Number.isFinite(s) || s < 0) return '-';
  if (s < 60) return `${s.toFixed(1)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

// ---- tables ----------------------------------------------------------------------

const NUMERIC = /^[-+$]?(\d[\d,]*(\.\d+)?(e[-+]?\d+)?%?|\d+\/\d+|inf|-inf|nan)$/i;

/**
 * Columns padded to their widest cell, two spaces apart; columns whose cells are
 * all numbers (or '-') are right-aligned. No trailing spaces.
 */
export function table(headers: string[], rows: Array<Array<string | number | null | undefined>>): string {
  const cells = rows.map((r) => headers.map((_, i) => (r[i] === undefined || r[i] === null || r[i] === '' ? '-' : String(r[i]))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const right = headers.map((_, i) => cells.length > 0 && cells.every((r) => r[i] === '-' || NUMERIC.test(r[i])) && cells.some((r) => r[i] !== '-'));
  const line = (r: string[]) => r.map((c, i) => (right[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(headers), ...cells.map(line)].join('\n');
}

/** "key    value" lines, keys padded; entries with an undefined value are left out. */
export function keyValues(pairs: Array<[string, string | number | undefined]>): string {
  const kept = pairs.filter((p): p is [string, string | number] => p[1] !== undefined);
  const w = Math.max(0, ...kept.map(([k]) => k.length));
  return kept.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

// ---- statistics ------------------------------------------------------------------

export interface StatsInput {
  metric: string;
  mean?: number;
  std?: number;
  ci95?: [number, number];
  n?: number;
  scores?: number[];
  interval?: { method: string; df: number; t?: number };
}

/** "accuracy 0.9870 ± 0.0021  95% CI [0.9829, 0.9911] (t, 29 df)  n=30" */
export function statsLine(r: StatsInput): string {
  const n = r.n ?? r.scores?.length;
  const parts = [`${r.metric} ${num(r.mean)} ± ${num(r.std)}`];
  const how = r.interval?.method === 'student_t' ? ` (t, ${r.interval.df} df)` : '';
  if (r.ci95) parts.push(`95% CI [${num(r.ci95[0])}, ${num(r.ci95[1])}]${how}`);
  if (n !== undefined) parts.push(`n=${n}`);
  return parts.join('  ');
}

// ---- jobs ------------------------------------------------------------------------

export function progressText(p: Job['progress']): string {
  let s = `${p.unitsDone}/${p.unitsTotal} units`;
  if (p.unitsFailed) s += ` (${p.unitsFailed} failed)`;
  if (p.epoch !== undefined && p.epochs !== undefined) s += `, epoch ${p.epoch}/${p.epochs}`;
  return s;
}

/** The final fit's metrics on its training rows: "loss 0.1234  accuracy 0.9870". */
const finalText = (final: Record<string, number>): string =>
  Object.entries(final).filter(([k]) => k !== 'epoch').map(([k, v]) => `${k} ${num(v)}`).join('  ');

/** "fused (cpu)"; undefined when the engine is not known yet. */
const engineText = (x: { engine?: string; backend?: string }): string | undefined =>
  x.engine ? `${x.engine}${x.backend ? ` (${x.backend})` : ''}` : undefined;

export function jobsTable(jobs: Job[]): string {
  if (jobs.length === 0) return 'no jobs';
  return table(
    ['ID', 'NAME', 'STATUS', 'UNITS', 'RESULT', 'CREATED', 'DURATION'],
    jobs.map((j) => [
      j.id,
      j.name,
      j.status,
      `${j.progress.unitsDone}/${j.progress.unitsTotal}`,
      j.result ? `${j.result.metric} ${num(j.result.mean)} ± ${num(j.result.std)}${j.warnings?.length ? ' !' : ''}` : j.error ? `${j.error.code}` : '-',
      time(j.createdAt),
      duration(j.startedAt ?? j.createdAt, j.finishedAt),
    ]),
  );
}

/** One line per training-health warning: "! r0-p0-f1 constant_class: the model predicts ..." */
export function warningsText(ws: Job['warnings']): string | undefined {
  if (!ws || ws.length === 0) return undefined;
  return `${ws.length}\n${ws.map((w) => `  ! ${w.unit ? `${w.unit} ` : ''}${w.code}: ${w.message}`).join('\n')}`;
}

export function jobDetail(j: Job): string {
  return keyValues([
    ['id', j.id],
    ['name', j.name],
    ['status', j.status],
    ['progress', progressText(j.progress)],
    ['result', j.result ? statsLine({ ...j.result, n: j.result.scores.length }) : undefined],
    ['final', j.result?.final ? finalText(j.result.final) : undefined],
    ['error', j.error ? `${j.error.code}: ${j.error.message}` : undefined],
    ['created', time(j.createdAt)],
    ['started', j.startedAt ? time(j.startedAt) : undefined],
    ['finished', j.finishedAt ? `${time(j.finishedAt)} (${duration(j.startedAt ?? j.createdAt, j.finishedAt)})` : undefined],
    ['engine', engineText(j)],
    ['engine why', j.engineReason],
    ['warnings', warningsText(j.warnings)],
    ['cost', j.cost ? `${usd(j.cost.usd)} (${Math.round(j.cost.instanceSeconds)} instance-seconds)` : undefined],
    ['batch', j.batchId],
  ]);
}

export function datasetDetail(d: Dataset): string {
  return keyValues([
    ['id', d.id],
    ['uri', d.uri],
    ['name', d.name],
    ['rows', d.rows],
    ['columns', d.columns],
    ['bytes', d.bytes],
    ['sha256', d.sha256],
  ]);
}

// ---- history ---------------------------------------------------------------------

/** epoch, loss, val_loss, then each metric followed by its val_ twin, then anything else. */
export function epochColumns(epochs: EpochLog[]): string[] {
  const keys = new Set<string>();
  for (const e of epochs) for (const k of Object.keys(e)) keys.add(k);
  keys.delete('epoch');
  const out: string[] = [];
  const take = (k: string) => {
    if (keys.has(k)) {
      out.push(k);
      keys.delete(k);
    }
  };
  take('loss');
  take('val_loss');
  for (const k of [...keys].filter((k) => !k.startsWith('val_')).sort()) {
    take(k);
    take(`val_${k}`);
  }
  for (const k of [...keys].sort()) take(k);
  return out;
}

const unitsOf = (h: History): UnitHistory[] => [...h.units, ...(h.final ? [h.final] : [])];

export function findUnit(h: History, key: string): UnitHistory {
  const u = unitsOf(h).find((x) => x.key === key);
  if (!u) {
    const known = unitsOf(h).map((x) => x.key);
    throw new UsageError(`--unit: no unit ${JSON.stringify(key)}${known.length ? ` (units: ${known.slice(0, 12).join(', ')}${known.length > 12 ? ', ...' : ''})` : ' (no history yet)'}`);
  }
  return u;
}

/** One unit's learning curve, one row per epoch. */
export function historyTable(u: UnitHistory): string {
  if (u.epochs.length === 0) return `unit ${u.key}: no epochs yet`;
  const cols = epochColumns(u.epochs);
  return table(['epoch', ...cols], u.epochs.map((e) => [e.epoch, ...cols.map((c) => num(e[c]))]));
}

/** One row per unit: epochs trained and the last epoch's values. */
export function historyUnitsTable(h: History): string {
  const all = unitsOf(h);
  if (all.length === 0) return 'no history yet';
  const cols = epochColumns(all.flatMap((u) => u.epochs.slice(-1)));
  return table(
    ['UNIT', 'KIND', 'EPOCHS', ...cols.map((c) => `LAST ${c}`)],
    all.map((u) => {
      const last = u.epochs[u.epochs.length - 1];
      return [u.key, u.kind ?? (h.final === u ? 'final' : 'eval'), u.epochs.length, ...cols.map((c) => num(last?.[c]))];
    }),
  );
}

export function csvField(v: string | number | undefined | null): string {
  if (v === undefined || v === null) return '';
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : v;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Long-format CSV: unit,kind,run,repeat,fold,epoch,loss,val_loss,<metrics>... (full precision). */
export function historyCsv(h: History, unitKey?: string): string {
  const units = unitKey ? [findUnit(h, unitKey)] : unitsOf(h);
  const cols = epochColumns(units.flatMap((u) => u.epochs));
  const lines = [['unit', 'kind', 'run', 'repeat', 'fold', 'epoch', ...cols].join(',')];
  for (const u of units) {
    const kind = u.kind ?? (h.final === u ? 'final' : 'eval');
    for (const e of u.epochs) lines.push([u.key, kind, u.run, u.repeat, u.fold, e.epoch, ...cols.map((c) => e[c])].map(csvField).join(','));
  }
  return lines.join('\n') + '\n';
}

// ---- results, predictions, instances ---------------------------------------------

export function summaryReport(s: Summary): string {
  // evaluation units first, the final fit last
  const units = [...s.units.filter((u) => u.kind !== 'final'), ...s.units.filter((u) => u.kind === 'final')];
  const rows = units.map((u) => [
    u.key,
    u.kind,
    u.kind === 'final' ? '-' : num(u.score),
    u.epochs,
    u.trainRows,
    u.testRows,
    (u.durationMs / 1000).toFixed(1),
    u.worker,
  ]);
  const out = [table(['UNIT', 'KIND', `SCORE (${s.metric})`, 'EPOCHS', 'TRAIN', 'TEST', 'SECONDS', 'WORKER'], rows), ''];
  if (s.mean !== undefined) {
    out.push(statsLine({ metric: s.metric, mean: s.mean, std: s.std, n: s.n, ...(s.ci95 ? { ci95: s.ci95 } : {}), ...(s.interval ? { interval: s.interval } : {}) }));
    out.push(keyValues([
      ['stderr', num(s.stderr)],
      ['min', num(s.min)],
      ['max', num(s.max)],
      ['method', s.method],
      ['run means', s.runMeans?.map((x) => num(x)).join(', ')],
      ['final fit', s.final ? finalText(s.final) : undefined],
      ['engine', engineText(s)],
      ['unit seconds', s.unitSeconds !== undefined ? s.unitSeconds.toFixed(1) : undefined],
    ]));
  } else {
    out.push(`${s.metric}: no scores (n=${s.n})`);
  }
  return out.join('\n');
}

export function predictionsTable(p: Prediction): string {
  const width = Math.max(1, ...p.predictions.map((r) => r.length));
  const headers = ['ROW', ...(width === 1 ? ['PREDICTION'] : Array.from({ length: width }, (_, i) => `OUT${i}`)), ...(p.labels ? ['LABEL'] : [])];
  return table(headers, p.predictions.map((r, i) => [i, ...Array.from({ length: width }, (_, k) => num(r[k])), ...(p.labels ? [p.labels[i]] : [])]));
}

export function instancesTable(list: Instance[]): string {
  if (list.length === 0) return 'no instances';
  return table(
    ['ID', 'PROVIDER', 'TYPE', 'MARKET', 'STATE', 'LAUNCHED', 'TERMINATED', '$/HOUR', 'COST', 'UNITS'],
    list.map((i) => [i.id, i.provider, i.type, i.market, i.state, time(i.launchedAt), time(i.terminatedAt), usd(i.hourlyUsd), usd(i.costUsd), i.activeUnits]),
  );
}

// ---- live events -----------------------------------------------------------------

/** One line for an event of GET /v1/jobs/:id/events; undefined for events not worth a line. */
export function eventLine(event: string, data: Record<string, unknown>): string | undefined {
  switch (event) {
    case 'job': {
      const j = data as unknown as Job;
      return `${j.id}  ${j.status}  ${progressText(j.progress)}`;
    }
    case 'status': {
      const err = data.error as { code?: string; message?: string } | undefined;
      return `status ${String(data.status)}${err ? `  ${err.code}: ${err.message}` : ''}`;
    }
    case 'progress': {
      const logs = (data.logs ?? {}) as Record<string, number>;
      const cols = epochColumns([{ epoch: 0, ...logs }]);
      const values = cols.map((c) => `${c} ${num(logs[c])}`).join('  ');
      return `unit ${String(data.unit)}  epoch ${String(data.epoch)}/${String(data.epochs)}${values ? `  ${values}` : ''}`;
    }
    case 'unit':
      return `unit ${String(data.unit)} done  (${String(data.unitsDone)}${typeof data.unitsTotal === 'number' ? `/${data.unitsTotal}` : ''} done)${typeof data.score === 'number' ? `  score ${num(data.score)}` : ''}${data.worker ? `  on ${String(data.worker)}` : ''}`;
    case 'error':
      return `stream error ${String(data.code)}: ${String(data.message)}`;
    default:
      return undefined;
  }
}

// ---- --set path=value --------------------------------------------------------------

export interface SetPatch {
  path: string[];
  value: unknown;
}

const FORBIDDEN = new Set(['__proto__', 'prototype', 'constructor']);

/**
 * "training.epochs=50" -> {path: ['training', 'epochs'], value: 50}. The value is
 * JSON when it parses as JSON (numbers, booleans, null, arrays, objects, "quoted
 * strings"), else the raw text as a string.
 */
export function parseSet(arg: string): SetPatch {
  const eq = arg.indexOf('=');
  if (eq < 0) throw new UsageError(`--set ${JSON.stringify(arg)}: expected path=value, e.g. training.epochs=50`);
  const rawPath = arg.slice(0, eq).trim();
  const raw = arg.slice(eq + 1);
  if (!rawPath) throw new UsageError(`--set ${JSON.stringify(arg)}: the path before "=" is empty`);
  const path = rawPath.split('.');
  if (path.some((p) => p === '')) throw new UsageError(`--set ${JSON.stringify(arg)}: empty segment in path ${JSON.stringify(rawPath)}`);
  const bad = path.find((p) => FORBIDDEN.has(p));
  if (bad) throw new UsageError(`--set ${JSON.stringify(arg)}: ${JSON.stringify(bad)} cannot be set`);
  let value: unknown = raw;
  const t = raw.trim();
  if (t !== '') {
    try {
      value = JSON.parse(t);
    } catch {
      if (/^[[{"]/.test(t)) throw new UsageError(`--set ${rawPath}: ${JSON.stringify(raw)} looks like JSON but does not parse`);
      value = raw;
    }
  }
  return { path, value };
}

const INDEX = /^(0|[1-9]\d*)$/;
const kindOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);

/**
 * A copy of `doc` with the value at `path` replaced. Missing objects on the way are
 * created ([] when the next segment is an index); array indices must be in range
 * (or equal to the length, to append). Errors name the path.
 */
export function applySet(doc: unknown, patch: SetPatch): unknown {
  const dotted = patch.path.join('.');
  const walk = (node: unknown, i: number): unknown => {
    if (i === patch.path.length) return patch.value;
    const seg = patch.path[i];
    const here = patch.path.slice(0, i).join('.') || '(the spec)';
    if (node === undefined) node = INDEX.test(seg) ? [] : {};
    if (Array.isArray(node)) {
      if (!INDEX.test(seg)) throw new UsageError(`--set ${dotted}: ${here} is an array; expected an index, got ${JSON.stringify(seg)}`);
      const idx = Number(seg);
      if (idx > node.length) throw new UsageError(`--set ${dotted}: index ${idx} is out of range (${here} has ${node.length} item${node.length === 1 ? '' : 's'})`);
      const copy = [...node];
      copy[idx] = walk(node[idx], i + 1);
      return copy;
    }
    if (node === null || typeof node !== 'object') {
      throw new UsageError(`--set ${dotted}: ${here} is ${kindOf(node)}, not an object`);
    }
    const obj = node as Record<string, unknown>;
    return { ...obj, [seg]: walk(Object.prototype.hasOwnProperty.call(obj, seg) ? obj[seg] : undefined, i + 1) };
  };
  return walk(doc, 0);
}

export function applySets(doc: unknown, args: string[]): unknown {
  return args.reduce((d, a) => applySet(d, parseSet(a)), doc);
}

// ---- prediction rows -------------------------------------------------------------

function checkRows(rows: unknown, source: string): number[][] {
  if (!Array.isArray(rows) || rows.length === 0) throw new UsageError(`${source}: expected a non-empty array of rows, e.g. [[0.1, 2.5, 3]]`);
  const width = Array.isArray(rows[0]) ? rows[0].length : -1;
  rows.forEach((r, i) => {
    if (!Array.isArray(r) || r.length === 0) throw new UsageError(`${source}: row ${i} is not a non-empty array of numbers`);
    if (r.length !== width) throw new UsageError(`${source}: row ${i} has ${r.length} values, row 0 has ${width}`);
    r.forEach((v, k) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new UsageError(`${source}: row ${i}, value ${k} is not a number: ${JSON.stringify(v)}`);
    });
  });
  return rows as number[][];
}

/** --rows '[[1,2,3]]' (a single row [1,2,3] is accepted too). */
export function parseRowsJson(text: string): number[][] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new UsageError(`--rows: not JSON; expected e.g. '[[0.1, 2.5, 3]]'`);
  }
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number')) v = [v];
  return checkRows(v, '--rows');
}

/** Numeric CSV rows (feature columns only); blank lines are skipped. */
export function parseCsvRows(text: string, opts: { header?: boolean; source?: string } = {}): number[][] {
  const source = opts.source ?? '--csv';
  const lines = text.split(/\r?\n/).map((l, i) => ({ l: l.trim(), n: i + 1 })).filter((x) => x.l !== '');
  const body = opts.header ? lines.slice(1) : lines;
  const rows = body.map(({ l, n }) =>
    l.split(',').map((cell, k) => {
      const c = cell.trim().replace(/^"(.*)"$/, '$1');
      const v = c === '' ? NaN : Number(c);
      if (!Number.isFinite(v)) throw new UsageError(`${source}: line ${n}, column ${k + 1} is not a number: ${JSON.stringify(c)}${n === 1 && !opts.header ? ' (a header row? pass --header)' : ''}`);
      return v;
    }),
  );
  return checkRows(rows, source);
}
