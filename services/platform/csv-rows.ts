/**
 * The CSV row reader that parseCsv (csv.ts) and the streaming summary (csv-stream.ts)
 * share, so both read the same rows with the same errors. A row is read whole before
 * its cells are used: `readRow` returns false when the buffer ends inside a row that
 * is not final (more bytes are coming), and the caller keeps those bytes.
 *
 * Rules: fields separated by commas, rows by LF (a CR before it is dropped); spaces
 * and tabs around a field are trimmed; a field that starts with a double or single
 * quote runs to the matching quote, with the quote doubled inside it as an escape
 * (RFC 4180 "", and '' as in the Woods mammography file: '-1'), and may span lines;
 * blank lines are skipped. Errors: ragged_csv naming the 1-based line.
 */
import { NightshiftError } from '../core/errors.ts';

export const COMMA = 44, LF = 10, CR = 13, DQ = 34, SQ = 39, SP = 32, TAB = 9;
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

/**
 * The number in a cell, or NaN: a plain cell's bytes [s, e) parsed directly, a quoted
 * cell's unescaped text parsed once trimmed ("' 3 '" is 3).
 */
export function cellNumber(buf: Buffer, s: number, e: number, text: string | undefined): number {
  if (text === undefined) return parseNumber(buf, s, e);
  const b = Buffer.from(text.trim(), 'utf8');
  return parseNumber(b, 0, b.length);
}

/** Text of a cell: a quoted cell's unescaped text, else its bytes. */
export const cellString = (buf: Buffer, s: number, e: number, text: string | undefined): string => text ?? buf.toString('utf8', s, e);

/** Where a row's cells are, reused from row to row. */
export interface RowCursor {
  /** cells in the row (the arrays below are reused and may hold more entries) */
  cells: number;
  /** per cell: [start, end) in the buffer (a plain cell trimmed), and a quoted cell's unescaped text */
  starts: number[];
  ends: number[];
  texts: Array<string | undefined>;
  /** a blank line (or trailing spaces at the end of the file): no cells */
  blank: boolean;
  /** the line the row starts on, for errors */
  rowLine: number;
  /** position after the row, and the line there */
  next: number;
  line: number;
}

export const rowCursor = (): RowCursor => ({ cells: 0, starts: [], ends: [], texts: [], blank: false, rowLine: 1, next: 0, line: 1 });

const isBlank = (c: number): boolean => c === SP || c === TAB || c === CR;

/** Bytes at the start of a file to skip: 3 for a UTF-8 byte order mark, else 0. */
export const bomLength = (buf: Uint8Array): number => (buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0);

/**
 * One row (or blank line) starting at `pos` on line `line`, into `r`. `final`: the
 * buffer holds the rest of the file. Returns false when it does not and the row has
 * not fully arrived (nothing in `r` is meaningful then).
 */
export function readRow(buf: Buffer, pos: number, final: boolean, line: number, r: RowCursor): boolean {
  const n = buf.length;
  let p = pos;
  while (p < n && isBlank(buf[p])) p++;
  if (p >= n || buf[p] === LF) {
    if (p >= n && !final) return false;
    r.blank = true;
    r.cells = 0;
    r.next = p >= n ? n : p + 1;
    r.line = p >= n ? line : line + 1;
    return true;
  }
  r.blank = false;
  r.rowLine = line;
  r.cells = 0;
  for (;;) {
    const end = readField(buf, pos, final, line, r);
    if (end < 0) return false;
    line = r.line; // lines inside a quoted field
    pos = end;
    if (pos < n && buf[pos] === COMMA) {
      pos++;
      continue;
    }
    break;
  }
  if (pos < n) {
    pos++;
    line++;
  }
  r.next = pos;
  r.line = line;
  return true;
}

function cell(r: RowCursor, s: number, e: number, text: string | undefined): void {
  const k = r.cells++;
  r.starts[k] = s;
  r.ends[k] = e;
  r.texts[k] = text;
}

/**
 * One field at `pos`, appended to r's cells; r.line becomes the line where it ends.
 * Returns the position of the comma, LF or end of buffer after it, or -1 when it has
 * not fully arrived (only when not `final`).
 */
function readField(buf: Buffer, pos: number, final: boolean, line: number, r: RowCursor): number {
  const n = buf.length;
  let s = pos;
  while (s < n && (buf[s] === SP || buf[s] === TAB)) s++;
  if (s >= n && !final) return -1;
  const q = s < n ? buf[s] : 0;
  if (q !== DQ && q !== SQ) {
    let i = s;
    while (i < n && buf[i] !== COMMA && buf[i] !== LF) i++;
    if (i >= n && !final) return -1;
    let e = i;
    while (e > s && isBlank(buf[e - 1])) e--;
    cell(r, s, e, undefined);
    r.line = line;
    return i;
  }
  let i = s + 1;
  let parts: string[] | undefined;
  let segStart = i;
  for (;;) {
    if (i >= n) {
      if (!final) return -1;
      throw new NightshiftError('ragged_csv', `line ${r.rowLine}: unterminated quoted field`);
    }
    const c = buf[i];
    if (c === q) {
      if (i + 1 >= n && !final) return -1;
      if (i + 1 < n && buf[i + 1] === q) {
        (parts ??= []).push(buf.toString('utf8', segStart, i + 1));
        i += 2;
        segStart = i;
        continue;
      }
      break;
    }
    if (c === LF) line++;
    i++;
  }
  const text = parts ? parts.join('') + buf.toString('utf8', segStart, i) : buf.toString('utf8', segStart, i);
  i++; // closing quote
  while (i < n && isBlank(buf[i])) i++;
  if (i >= n && !final) return -1;
  if (i < n && buf[i] !== COMMA && buf[i] !== LF) {
    throw new NightshiftError('ragged_csv', `line ${line}: unexpected characters after a quoted field`);
  }
  cell(r, s, i, text);
  r.line = line;
  return i;
}

/** The error for a file with no data rows, or undefined when it has some. */
export function emptyCsvError(columns: number, rows: number, hasHeader: boolean): NightshiftError | undefined {
  if (columns <= 0 || (rows === 0 && !hasHeader)) return new NightshiftError('dataset_invalid', 'line 1: the CSV file has no rows (it is empty or holds only blank lines)');
  if (rows === 0) return new NightshiftError('dataset_invalid', 'line 2: the CSV file has a header but no data rows');
  return undefined;
}
