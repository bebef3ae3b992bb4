/**
 * A CSV file's summary from its bytes as they arrive, without holding the file: the
 * same rows, columns, class counts and errors as summarizeTable(parseCsv(bytes))
 * (platform/csv.ts), computed chunk by chunk. Memory is bounded by the
 * per-column counts (SUMMARY_LIMITS) and the longest row, not by the file.
 *
 * Rows are read with the same rules as parseCsv (quotes at a field's start, "" and
 * '' escapes, CRLF, a BOM, blank lines, numbers parsed from the bytes). A row is
 * counted only once its end has arrived: bytes after the last complete row wait for
 * the next chunk.
 */
import { NightshiftError } from '../core/errors.ts';
import type { DatasetSummary } from '../core/dataset-summary.ts';
import { boundedSummary, MAX_CLASSES, parseNumber, SUMMARY_LIMITS, topK } from './csv.ts';

const COMMA = 44, LF = 10, CR = 13, DQ = 34, SQ = 39, SP = 32, TAB = 9;

/**
 * Counts of one column. A column is numeric until a cell is not a number; from then
 * on it counts strings, the earlier numbers as String(value) (as parseCsv turns
 * them). Numbers are counted for the first SUMMARY_LIMITS.tracked distinct values so
 * that the switch to strings keeps the counts a string column would have had.
 */
class ColumnCounts {
  numeric = true;
  nums = new Map<number, number>();
  strs = new Map<string, number>();
  untracked = 0;
  total = 0;

  number(v: number): void {
    this.total++;
    const c = this.nums.get(v);
    if (c !== undefined) this.nums.set(v, c + 1);
    else if (this.nums.size < SUMMARY_LIMITS.tracked) this.nums.set(v, 1);
    else this.untracked++;
  }

  string(v: string): void {
    if (this.numeric) {
      this.numeric = false;
      for (const [k, c] of this.nums) this.strs.set(String(k), (this.strs.get(String(k)) ?? 0) + c);
      this.nums.clear();
    }
    this.total++;
    const c = this.strs.get(v);
    if (c !== undefined) this.strs.set(v, c + 1);
    else if (this.strs.size < SUMMARY_LIMITS.tracked && v.length <= SUMMARY_LIMITS.valueChars) this.strs.set(v, 1);
    else this.untracked++;
  }

  result(): { counts: Record<string, number> | null; other: number } {
    if (!this.numeric) {
      const { counts, other } = topK(this.strs, this.total - this.untracked);
      return { counts, other: other + this.untracked };
    }
    if (this.nums.size > MAX_CLASSES || this.untracked > 0) return { counts: null, other: 0 };
    const out: Record<string, number> = {};
    for (const [k, v] of this.nums) out[String(k)] = v;
    return { counts: out, other: 0 };
  }
}

/** Feed chunks with push(), then end() for the summary; errors are NightshiftErrors naming the line. */
export class CsvSummaryStream {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** bytes needed before the held-back remainder is scanned again (a long row grows it geometrically) */
  private waitFor = 0;
  private started = false;
  private line = 1;
  private header: string[] | undefined;
  private wantHeader: boolean;
  private columns = -1;
  private rows = 0;
  private cols: ColumnCounts[] = [];
  // cells of the row being read: [start, end) in the buffer, or their unescaped text
  private starts: number[] = [];
  private ends: number[] = [];
  private texts: Array<string | undefined> = [];

  constructor(opts: { header?: boolean } = {}) {
    this.wantHeader = opts.header === true;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < this.waitFor) return;
    this.scan(false);
  }

  end(): DatasetSummary {
    this.scan(true);
    if (this.columns <= 0 || (this.rows === 0 && !this.header)) throw new NightshiftError('dataset_invalid', 'line 1: the CSV file has no rows (it is empty or holds only blank lines)');
    if (this.rows === 0) throw new NightshiftError('dataset_invalid', 'line 2: the CSV file has a header but no data rows');
    const other: number[] = [];
    const classCounts = this.cols.map((c, i) => {
      const r = c.result();
      other[i] = r.other;
      return r.counts;
    });
    return boundedSummary(this.rows, this.columns, classCounts, other);
  }

  /** Reads the complete rows of what is pending; keeps the rest (all of it when final). */
  private scan(final: boolean): void {
    const buf = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    let pos = 0;
    if (!this.started) {
      if (buf.length < 3 && !final) return this.hold(buf, 0);
      this.started = true;
      if (buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) pos = 3;
    }
    const n = buf.length;
    while (pos < n) {
      const next = this.row(buf, pos, final);
      if (next < 0) break;
      pos = next;
    }
    if (pos < n) this.hold(buf, pos);
    else this.waitFor = 0;
  }

  private hold(buf: Buffer, from: number): void {
    const rest = Buffer.from(buf.subarray(from)); // a copy: the chunk it came from can go
    this.pending = [rest];
    this.pendingBytes = rest.length;
    this.waitFor = Math.max(rest.length * 2, 64 * 1024);
  }

  /**
   * One row (or blank line) starting at pos: the position after it, or -1 when the
   * row is not complete yet (nothing of it has been counted then).
   */
  private row(buf: Buffer, pos: number, final: boolean): number {
    const n = buf.length;
    let p = pos;
    while (p < n && (buf[p] === SP || buf[p] === TAB || buf[p] === CR)) p++;
    if (p >= n) return final ? n : -1;
    if (buf[p] === LF) {
      this.line++;
      return p + 1;
    }
    const rowLine = this.line;
    let line = this.line;
    this.starts.length = 0;
    this.ends.length = 0;
    this.texts.length = 0;
    for (;;) {
      let s = pos;
      while (s < n && (buf[s] === SP || buf[s] === TAB)) s++;
      if (s >= n && !final) return -1;
      const q = s < n ? buf[s] : 0;
      if (q === DQ || q === SQ) {
        let i = s + 1;
        let parts: string[] | undefined;
        let segStart = i;
        for (;;) {
          if (i >= n) {
            if (!final) return -1;
            throw new NightshiftError('ragged_csv', `line ${rowLine}: unterminated quoted field`);
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
        while (i < n && (buf[i] === SP || buf[i] === TAB || buf[i] === CR)) i++;
        if (i >= n && !final) return -1;
        if (i < n && buf[i] !== COMMA && buf[i] !== LF) {
          throw new NightshiftError('ragged_csv', `line ${line}: unexpected characters after a quoted field`);
        }
        this.starts.push(s);
        this.ends.push(i);
        this.texts.push(text);
        pos = i;
      } else {
        let i = s;
        while (i < n && buf[i] !== COMMA && buf[i] !== LF) i++;
        if (i >= n && !final) return -1;
        let e = i;
        while (e > s && (buf[e - 1] === SP || buf[e - 1] === TAB || buf[e - 1] === CR)) e--;
        this.starts.push(s);
        this.ends.push(e);
        this.texts.push(undefined);
        pos = i;
      }
      if (pos < n && buf[pos] === COMMA) {
        pos++;
        continue;
      }
      break;
    }
    // the whole row is here: count it
    this.endRow(buf, rowLine);
    this.line = line;
    if (pos < n) {
      pos++;
      this.line++;
    }
    return pos;
  }

  private endRow(buf: Buffer, rowLine: number): void {
    const cells = this.starts.length;
    if (this.wantHeader) {
      this.header = [];
      for (let k = 0; k < cells; k++) this.header.push((this.texts[k] ?? buf.toString('utf8', this.starts[k], this.ends[k])).trim());
      this.columns = this.header.length;
      this.wantHeader = false;
      return;
    }
    const columns = this.columns < 0 ? cells : this.columns;
    if (this.columns >= 0 && cells !== this.columns) {
      throw new NightshiftError('ragged_csv', `line ${rowLine}: expected ${this.columns} columns, found ${cells}`);
    }
    this.columns = columns;
    for (let k = 0; k < cells; k++) {
      const col = this.cols[k] ?? (this.cols[k] = new ColumnCounts());
      const s = this.starts[k], e = this.ends[k], text = this.texts[k];
      if (col.numeric) {
        let v = text === undefined ? parseNumber(buf, s, e) : NaN;
        if (Number.isNaN(v) && text !== undefined) {
          const b = Buffer.from(text.trim(), 'utf8');
          v = parseNumber(b, 0, b.length);
        }
        if (!Number.isNaN(v)) {
          col.number(v);
          continue;
        }
      }
      col.string(text ?? buf.toString('utf8', s, e));
    }
    this.rows++;
  }
}
