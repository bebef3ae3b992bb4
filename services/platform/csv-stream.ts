/**
 * A CSV file's summary from its bytes as they arrive, without holding the file: the
 * same rows, columns, class counts and errors as summarizeTable(parseCsv(bytes))
 * (platform/csv.ts), computed chunk by chunk. Memory is bounded by the
 * per-column counts (SUMMARY_LIMITS) and the longest row, not by the file.
 *
 * Rows are read by the reader parseCsv uses (csv-rows.ts: quotes at a field's start,
 * "" and '' escapes, CRLF, blank lines, numbers parsed from the bytes). A row is
 * counted only once its end has arrived: bytes after the last complete row wait for
 * the next chunk.
 */
import { NightshiftError } from '../core/errors.ts';
import type { DatasetSummary } from '../core/dataset-summary.ts';
import { boundedSummary, MAX_CLASSES, SUMMARY_LIMITS, topK } from './csv.ts';
import { bomLength, cellNumber, cellString, emptyCsvError, readRow, rowCursor } from './csv-rows.ts';

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
  /** the row being read */
  private readonly r = rowCursor();

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
    const empty = emptyCsvError(this.columns, this.rows, this.header !== undefined);
    if (empty) throw empty;
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
      pos = bomLength(buf);
    }
    const n = buf.length;
    while (pos < n) {
      // a row is counted only once all of it is here
      if (!readRow(buf, pos, final, this.line, this.r)) break;
      if (!this.r.blank) this.endRow(buf);
      pos = this.r.next;
      this.line = this.r.line;
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

  private endRow(buf: Buffer): void {
    const { cells, starts, ends, texts, rowLine } = this.r;
    if (this.wantHeader) {
      this.header = starts.slice(0, cells).map((s, k) => cellString(buf, s, ends[k], texts[k]).trim());
      this.columns = cells;
      this.wantHeader = false;
      return;
    }
    if (this.columns >= 0 && cells !== this.columns) {
      throw new NightshiftError('ragged_csv', `line ${rowLine}: expected ${this.columns} columns, found ${cells}`);
    }
    this.columns = cells;
    for (let k = 0; k < cells; k++) {
      const col = this.cols[k] ?? (this.cols[k] = new ColumnCounts());
      const v = col.numeric ? cellNumber(buf, starts[k], ends[k], texts[k]) : NaN;
      if (!Number.isNaN(v)) col.number(v);
      else col.string(cellString(buf, starts[k], ends[k], texts[k]));
    }
    this.rows++;
  }
}
