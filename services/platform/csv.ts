/**
 * CSV bytes -> column table. One pass over the bytes, no per-cell regex: numbers are
 * parsed straight from the bytes (exact fast path for up to 15 significant digits,
 * Number() otherwise) into growable Float64Arrays; a column that meets a non-numeric
 * cell turns into a string column (earlier numbers are kept as String(value)).
 * Rows are read by csv-rows.ts (quotes, escapes, CRLF, blank lines; the reader the
 * streaming summary shares); a BOM is skipped. Errors: ragged_csv (names the 1-based
 * line), dataset_invalid.
 */
import { NightshiftError } from '../core/errors.ts';
import type { DatasetSummary } from '../core/dataset-summary.ts';
import { bomLength, cellNumber, parseNumber, cellString, emptyCsvError, readRow, rowCursor, type RowCursor } from './csv-rows.ts';

export type Column = { kind: 'number'; values: Float64Array } | { kind: 'string'; values: string[] };

export interface Table {
  rows: number;
  columns: number;
  /** column names when the file has a header row */
  header?: string[];
  data: Column[];
}

class NumCol {
  values = new Float64Array(1024);
  push(i: number, v: number): void {
    if (i >= this.values.length) {
      const n = new Float64Array(this.values.length * 2);
      n.set(this.values);
      this.values = n;
    }
    this.values[i] = v;
  }
}

export interface ParseCsvOptions {
  header?: boolean;
}

/**
 * The columns of a table as its rows arrive: a column is numeric until a cell is not
 * a number, then a string column (earlier numbers as String(value)).
 */
class TableBuilder {
  private header: string[] | undefined;
  private columns = -1;
  private rows = 0;
  private readonly cols: Array<NumCol | string[]> = [];

  constructor(private wantHeader: boolean) {}

  row(buf: Buffer, r: RowCursor): void {
    const cells = r.cells;
    if (this.wantHeader) {
      this.header = r.starts.slice(0, cells).map((s, k) => cellString(buf, s, r.ends[k], r.texts[k]).trim());
      this.columns = cells;
      this.wantHeader = false;
      return;
    }
    if (this.columns < 0) this.columns = cells;
    else if (cells !== this.columns) throw new NightshiftError('ragged_csv', `line ${r.rowLine}: expected ${this.columns} columns, found ${cells}`);
    const { starts, ends, texts } = r;
    const { cols, rows } = this;
    for (let k = 0; k < cells; k++) {
      const col = cols[k];
      if (col instanceof NumCol && texts[k] === undefined) {
        // the common case inline: a plain number in a numeric column
        const v = parseNumber(buf, starts[k], ends[k]);
        if (!Number.isNaN(v)) {
          col.push(rows, v);
          continue;
        }
      }
      this.cell(k, buf, starts[k], ends[k], texts[k]);
    }
    this.rows++;
  }

  private cell(k: number, buf: Buffer, s: number, e: number, text: string | undefined): void {
    if (k >= this.cols.length) this.cols.push(new NumCol());
    const col = this.cols[k];
    if (!(col instanceof NumCol)) {
      col.push(cellString(buf, s, e, text));
      return;
    }
    const v = cellNumber(buf, s, e, text);
    if (!Number.isNaN(v)) {
      col.push(this.rows, v);
      return;
    }
    const arr: string[] = new Array(this.rows);
    for (let i = 0; i < this.rows; i++) arr[i] = String(col.values[i]);
    arr.push(cellString(buf, s, e, text));
    this.cols[k] = arr;
  }

  table(): Table {
    const empty = emptyCsvError(this.columns, this.rows, this.header !== undefined);
    if (empty) throw empty;
    const rows = this.rows;
    const data: Column[] = this.cols.map((c) => (c instanceof NumCol ? { kind: 'number', values: c.values.slice(0, rows) } : { kind: 'string', values: c }));
    return { rows, columns: this.columns, ...(this.header ? { header: this.header } : {}), data };
  }
}

export function parseCsv(bytes: Uint8Array | string, opts: ParseCsvOptions = {}): Table {
  const b = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const table = new TableBuilder(opts.header === true);
  const r = rowCursor();
  let pos = bomLength(buf);
  let line = 1;
  while (pos < buf.length) {
    readRow(buf, pos, true, line, r);
    if (!r.blank) table.row(buf, r);
    pos = r.next;
    line = r.line;
  }
  return table.table();
}

/** Cell text of a column (numbers as String(value)). */
export function cellText(col: Column, row: number): string {
  return col.kind === 'number' ? String(col.values[row]) : col.values[row];
}

export const MAX_CLASSES = 50;

/** Bounds of a stored summary: it stays small whatever the data (a count per distinct value would be as large as the data). */
export const SUMMARY_LIMITS = {
  /** values listed per column (the most frequent); the rest are one "other" count */
  topK: MAX_CLASSES,
  /** distinct values of a string column counted exactly; later new values count as "other" */
  tracked: 1_000,
  /** longer values are never listed (they count as "other") */
  valueChars: 256,
  /** JSON size of a whole summary; the columns with the largest counts lose them first */
  bytes: 256 * 1024,
} as const;

export function topK(m: Map<string, number>, total: number): { counts: Record<string, number>; other: number } {
  const sorted = [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).slice(0, SUMMARY_LIMITS.topK);
  const counts: Record<string, number> = {};
  let listed = 0;
  for (const [k, v] of sorted) {
    Object.defineProperty(counts, k, { value: v, enumerable: true, writable: true, configurable: true });
    listed += v;
  }
  return { counts, other: total - listed };
}

/**
 * Row/column counts and, per column, bounded class counts: for a non-numeric column
 * the (at most 50) most frequent values with their counts, the rows of every other
 * value in `other`; a numeric column is listed when it has <= 50 distinct values
 * (else null: not categorical). The whole summary stays under SUMMARY_LIMITS.bytes.
 */
export function summarizeTable(t: Table): DatasetSummary {
  const other: number[] = [];
  const classCounts = t.data.map((col, ci): Record<string, number> | null => {
    other[ci] = 0;
    if (col.kind === 'string') {
      const m = new Map<string, number>();
      let untracked = 0;
      for (const v of col.values) {
        const c = m.get(v);
        if (c !== undefined) m.set(v, c + 1);
        else if (m.size < SUMMARY_LIMITS.tracked && v.length <= SUMMARY_LIMITS.valueChars) m.set(v, 1);
        else untracked++;
      }
      const { counts, other: rest } = topK(m, col.values.length - untracked);
      other[ci] = rest + untracked;
      return counts;
    }
    const m = new Map<number, number>();
    const vs = col.values;
    for (let i = 0; i < vs.length; i++) {
      const v = vs[i];
      const c = m.get(v);
      if (c === undefined) {
        if (m.size >= MAX_CLASSES) return null;
        m.set(v, 1);
      } else m.set(v, c + 1);
    }
    const out: Record<string, number> = {};
    for (const [k, v] of m) out[String(k)] = v;
    return out;
  });
  return boundedSummary(t.rows, t.columns, classCounts, other);
}

/** The summary of per-column counts, kept under SUMMARY_LIMITS.bytes (also used by the streaming summary). */
export function boundedSummary(rows: number, columns: number, classCounts: Array<Record<string, number> | null>, other: number[]): DatasetSummary {
  const summary: DatasetSummary = { rows, columns, classCounts, ...(other.some((n) => n > 0) ? { other } : {}) };
  // a wide table of categorical columns: drop the largest column counts until the summary fits
  const sizes = classCounts.map((c) => (c ? JSON.stringify(c).length : 0));
  let size = JSON.stringify(summary).length;
  const order = sizes.map((n, i) => [n, i] as const).sort((a, b) => b[0] - a[0]);
  for (const [n, i] of order) {
    if (size <= SUMMARY_LIMITS.bytes || n === 0) break;
    classCounts[i] = null;
    size -= n - 4;
  }
  return summary;
}
