/**
 * CSV bytes -> column table. One pass over the bytes, no per-cell regex: numbers are
 * parsed straight from the bytes (exact fast path for up to 15 significant digits,
 * Number() otherwise) into growable Float64Arrays; a column that meets a non-numeric
 * cell turns into a string column (earlier numbers are kept as String(value)).
 * Quoted fields use double quotes (RFC 4180, "" escapes) or single quotes (as in the
 * Woods mammography file: '-1'); quotes are stripped. CRLF, a BOM and blank lines
 * are accepted. Errors: ragged_csv (names the 1-based line), dataset_invalid.
 */
import { NightshiftError } from '../core/errors.ts';
import type { DatasetSummary } from '../core/dataset-summary.ts';

export type Column = { kind: 'number'; values: Float64Array } | { kind: 'string'; values: string[] };

export interface Table {
  rows: number;
  columns: number;
  /** column names when the file has a header row */
  header?: string[];
  data: Column[];
}

const COMMA = 44, LF = 10, CR = 13, DQ = 34, SQ = 39, SP = 32, TAB = 9;
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/** Number from bytes [s, e), or NaN when the cell is not a plain number. */
export function parseNumber(b: Uint8Array, s: number, e: number): number {
  let i = s;
  let neg = false;
  if (i < e && (b[i] === 45 || b[i] === 43)) (neg = b[i] === 45, i++);
  let m = 0, digits = 0, frac = 0, any = false;
  while (i < e && b[i] >= 48 && b[i] <= 57) {
    if (digits < 16) m = m * 10 + (b[i] - 48), (m !== 0 && digits++);
    else frac--; // beyond precision: fall back below
    any = true;
    i++;
  }
  if (i < e && b[i] === 46) {
    i++;
    while (i < e && b[i] >= 48 && b[i] <= 57) {
      if (digits < 16) (m = m * 10 + (b[i] - 48), frac++, m !== 0 && digits++);
      any = true;
      i++;
    }
  }
  if (!any) return NaN;
  let exp = 0;
  if (i < e && (b[i] === 101 || b[i] === 69)) {
    i++;
    let eneg = false;
    if (i < e && (b[i] === 45 || b[i] === 43)) (eneg = b[i] === 45, i++);
    let ed = false;
    while (i < e && b[i] >= 48 && b[i] <= 57) (exp = exp * 10 + (b[i] - 48), ed = true, i++);
    if (!ed) return NaN;
    if (eneg) exp = -exp;
  }
  if (i !== e) return NaN;
  const p = exp - frac;
  if (digits <= 15 && frac >= 0 && p >= -22 && p <= 22) {
    const v = p >= 0 ? m * POW10[p] : m / POW10[-p];
    return neg ? -v : v;
  }
  // rare: many digits or large exponents; let the engine round correctly
  return Number(Buffer.from(b.buffer, b.byteOffset + s, e - s).toString('latin1'));
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

export function parseCsv(bytes: Uint8Array | string, opts: ParseCsvOptions = {}): Table {
  const b = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const n = buf.length;
  let pos = buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
  let line = 1;
  let header: string[] | undefined;
  let wantHeader = opts.header === true;
  let columns = -1;
  let rows = 0;
  const cols: Array<NumCol | string[]> = [];
  const rowCells: string[] = []; // only for the header row
  let cellIdx = 0;
  let rowLine = 1;

  const fieldText = (s: number, e: number): string => buf.toString('utf8', s, e);

  const putCell = (s: number, e: number, unescaped: string | undefined): void => {
    if (wantHeader) {
      rowCells.push(unescaped ?? fieldText(s, e));
      cellIdx++;
      return;
    }
    if (columns >= 0 && cellIdx >= columns) {
      cellIdx++;
      return; // counted; reported at end of row
    }
    if (cellIdx >= cols.length) cols.push(new NumCol());
    const col = cols[cellIdx];
    if (col instanceof NumCol) {
      const v = unescaped === undefined ? parseNumber(buf, s, e) : NaN;
      if (!Number.isNaN(v)) col.push(rows, v);
      else {
        const str = unescaped ?? fieldText(s, e);
        const bytes = unescaped !== undefined ? Buffer.from(str.trim(), 'utf8') : undefined;
        const trimmedNum = bytes ? parseNumber(bytes, 0, bytes.length) : NaN;
        if (!Number.isNaN(trimmedNum)) col.push(rows, trimmedNum);
        else {
          const arr: string[] = new Array(rows);
          for (let r = 0; r < rows; r++) arr[r] = String(col.values[r]);
          arr.push(str);
          cols[cellIdx] = arr;
        }
      }
    } else {
      col.push(unescaped ?? fieldText(s, e));
    }
    cellIdx++;
  };

  const endRow = (): void => {
    if (wantHeader) {
      header = rowCells.map((h) => h.trim());
      columns = header.length;
      wantHeader = false;
    } else {
      if (columns < 0) columns = cellIdx;
      else if (cellIdx !== columns) {
        throw new NightshiftError('ragged_csv', `line ${rowLine}: expected ${columns} columns, found ${cellIdx}`);
      }
      rows++;
    }
    cellIdx = 0;
  };

  while (pos < n) {
    // start of a row: skip blank lines
    let p = pos;
    while (p < n && (buf[p] === SP || buf[p] === TAB || buf[p] === CR)) p++;
    if (p >= n) break;
    if (buf[p] === LF) {
      pos = p + 1;
      line++;
      continue;
    }
    rowLine = line;
    // parse the fields of one row
    for (;;) {
      let s = pos;
      while (s < n && (buf[s] === SP || buf[s] === TAB)) s++;
      const q = s < n ? buf[s] : 0;
      if (q === DQ || q === SQ) {
        let i = s + 1;
        let parts: string[] | undefined;
        let segStart = i;
        for (;;) {
          if (i >= n) throw new NightshiftError('ragged_csv', `line ${rowLine}: unterminated quoted field`);
          const c = buf[i];
          if (c === q) {
            if (i + 1 < n && buf[i + 1] === q) {
              (parts ??= []).push(fieldText(segStart, i + 1));
              i += 2;
              segStart = i;
              continue;
            }
            break;
          }
          if (c === LF) line++;
          i++;
        }
        const text = parts ? parts.join('') + fieldText(segStart, i) : fieldText(segStart, i);
        i++; // closing quote
        while (i < n && (buf[i] === SP || buf[i] === TAB || buf[i] === CR)) i++;
        if (i < n && buf[i] !== COMMA && buf[i] !== LF) {
          throw new NightshiftError('ragged_csv', `line ${line}: unexpected characters after a quoted field`);
        }
        putCell(s, i, text);
        pos = i;
      } else {
        let i = s;
        while (i < n && buf[i] !== COMMA && buf[i] !== LF) i++;
        let e = i;
        while (e > s && (buf[e - 1] === SP || buf[e - 1] === TAB || buf[e - 1] === CR)) e--;
        putCell(s, e, undefined);
        pos = i;
      }
      if (pos < n && buf[pos] === COMMA) {
        pos++;
        continue;
      }
      // end of line or file
      endRow();
      if (pos < n) {
        pos++;
        line++;
      }
      break;
    }
  }
  if (columns <= 0 || (rows === 0 && !header)) throw new NightshiftError('dataset_invalid', 'line 1: the CSV file has no rows (it is empty or holds only blank lines)');
  if (rows === 0) throw new NightshiftError('dataset_invalid', 'line 2: the CSV file has a header but no data rows');
  const data: Column[] = cols.map((c) => (c instanceof NumCol ? { kind: 'number', values: c.values.slice(0, rows) } : { kind: 'string', values: c }));
  return { rows, columns, ...(header ? { header } : {}), data };
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
