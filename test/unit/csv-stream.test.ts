/**
 * The streaming summary (platform/csv-stream.ts) answers exactly what the whole-file
 * parser and summary answer (summarizeTable(parseCsv(bytes))), however the bytes are
 * cut into chunks: the same summary, or the same error naming the same line.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CsvSummaryStream } from '../../services/platform/csv-stream.ts';
import { parseCsv, SUMMARY_LIMITS, summarizeTable } from '../../services/platform/csv.ts';
import { csvFile } from '../support/fuzz.ts';

type Outcome = { summary: unknown } | { error: { code: string; message: string } };

function whole(bytes: Buffer, header: boolean): Outcome {
  try {
    return { summary: summarizeTable(parseCsv(bytes, { header })) };
  } catch (e) {
    const err = e as { code: string; message: string };
    return { error: { code: err.code, message: err.message } };
  }
}

function streamed(bytes: Buffer, header: boolean, cuts: number[]): Outcome {
  try {
    const s = new CsvSummaryStream({ header });
    let at = 0;
    for (const c of [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)) {
      s.push(bytes.subarray(at, c));
      at = c;
    }
    s.push(bytes.subarray(at));
    return { summary: s.end() };
  } catch (e) {
    const err = e as { code: string; message: string };
    return { error: { code: err.code, message: err.message } };
  }
}

const oneByteChunks = (bytes: Buffer): number[] => Array.from({ length: bytes.length }, (_, i) => i);

describe('streaming CSV summary', () => {
  it.each([
    ['plain', 'a,b\n1,2\n3,4\n', true],
    ['no header, CRLF, blank lines', '1,2\r\n\r\n3,4\r\n\r\n', false],
    ['BOM', '\ufeffx,y\n1,a\n2,b\n', true],
    ['quoted fields with commas, newlines and escapes', '"a,1","x""y"\n\'-1\',"multi\nline"\n', false],
    ['a column that turns to strings late', '1\n2\n1\nx\n2.50\n', false],
    ['quoted numbers with spaces', '" 5 ",1\n"5",2\n', false],
    ['ragged row', '1,2,3\n4,5,6\n7,8\n', false],
    ['ragged after a multi-line quote', '"a\nb",1\n2\n', false],
    ['unterminated quote', '1,"abc\n2,3\n', false],
    ['characters after a quote', '"a"x,1\n', false],
    ['header only', 'a,b\n', true],
    ['blank', '\n \r\n', false],
    ['no final newline', '1,2\n3,4', false],
    ['trailing spaces and tabs', '1 ,\t2\t\n 3, 4 \n', false],
  ])('%s: same answer whole and one byte at a time', (_name, text, header) => {
    const bytes = Buffer.from(text);
    const want = whole(bytes, header);
    expect(streamed(bytes, header, [])).toEqual(want);
    expect(streamed(bytes, header, oneByteChunks(bytes))).toEqual(want);
  });

  it('keeps the bounds of a unique-value column and of a numeric column over the class limit', () => {
    const rows = Array.from({ length: 5000 }, (_, i) => `${i},id-${i},${i % 3}`);
    const bytes = Buffer.from(`${rows.join('\n')}\nx,y,1\n`);
    const want = whole(bytes, false) as { summary: { classCounts: unknown[]; other: number[] } };
    const got = streamed(bytes, false, [1000, 7777, 20_000, 20_001, 50_000]);
    expect(got).toEqual(want);
    // column 0 turned to strings at the last row: 1,000 values counted, the rest "other"
    expect(Object.keys(want.summary.classCounts[0] as object)).toHaveLength(SUMMARY_LIMITS.topK);
    expect(want.summary.other[1]).toBe(5001 - SUMMARY_LIMITS.topK);
    expect(want.summary.classCounts[2]).toEqual({ 0: 1667, 1: 1668, 2: 1666 }) // the last row's 1 included;
  });

  it('a row longer than many chunks is read once it ends', () => {
    const long = 'v'.repeat(300_000);
    const bytes = Buffer.from(`a,${long}\nb,c\n`);
    const cuts = Array.from({ length: 200 }, (_, i) => i * 1500);
    expect(streamed(bytes, false, cuts)).toEqual(whole(bytes, false));
  });

  it('generated and damaged CSV files: same answer for any chunking', () => {
    fc.assert(
      fc.property(csvFile(), fc.boolean(), fc.array(fc.nat(), { maxLength: 8 }), (text, header, cuts) => {
        const bytes = Buffer.from(text);
        expect(streamed(bytes, header, cuts)).toEqual(whole(bytes, header));
      }),
      { numRuns: 1500, seed: 1313 },
    );
  });

  it('arbitrary bytes: same answer one byte at a time', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (raw, header) => {
        const bytes = Buffer.from(raw);
        expect(streamed(bytes, header, oneByteChunks(bytes))).toEqual(whole(bytes, header));
      }),
      { numRuns: 1000, seed: 1314 },
    );
  });
});
