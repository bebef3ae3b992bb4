/** Bounded data set summaries: top-k counts with an "other" count, and a size cap. */
import { describe, expect, it } from 'vitest';
import { parseCsv, summarizeTable, SUMMARY_LIMITS } from '../../services/platform/csv.ts';

const csv = (rows: string[]) => Buffer.from(rows.join('\n') + '\n');

describe('summarizeTable', () => {
  it('keeps exact counts of a column with few values', () => {
    const s = summarizeTable(parseCsv(csv(['1,a', '2,b', '3,a', '4,c', '5,a'])));
    expect(s.classCounts?.[1]).toEqual({ a: 3, b: 1, c: 1 });
    expect(s.other).toBeUndefined();
  });

  it('lists the 50 most frequent values of a string column of unique values and counts the rest as other', () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => `${i},id-${i}${i < 300 ? ',x' : ',y'}`);
    // id-7 appears three more times: it is the most frequent value
    rows.push('1,id-7,y', '2,id-7,y', '3,id-7,y');
    const s = summarizeTable(parseCsv(csv(rows)));
    const counts = s.classCounts![1]!;
    expect(Object.keys(counts)).toHaveLength(50);
    expect(counts['id-7']).toBe(4);
    expect(s.other![1]).toBe(20_003 - Object.values(counts).reduce((a, b) => a + b, 0));
    expect(s.other![1]).toBe(20_003 - 4 - 49);
    expect(s.classCounts![2]).toEqual({ x: 300, y: 19_703 });
    expect(s.other![2]).toBe(0);
    expect(JSON.stringify(s).length).toBeLessThan(4_000);
  });

  it('never lists a value longer than the limit and keeps a value named __proto__ as data', () => {
    const long = 'v'.repeat(SUMMARY_LIMITS.valueChars + 1);
    const s = summarizeTable(parseCsv(csv(['1,__proto__', `2,${long}`, '3,__proto__'])));
    const counts = s.classCounts![1]!;
    expect(Object.keys(counts)).toEqual(['__proto__']);
    expect(Object.getOwnPropertyDescriptor(counts, '__proto__')?.value).toBe(2);
    expect(s.other![1]).toBe(1);
    expect(JSON.parse(JSON.stringify(s)).classCounts[1]).toEqual(JSON.parse('{"__proto__":2}'));
  });

  it('stays under the size cap for a wide table of long categorical values', () => {
    const cols = 400;
    const rows = Array.from({ length: 60 }, (_, r) => Array.from({ length: cols }, (_, c) => `${'w'.repeat(200)}-${c}-${r}`).join(','));
    const s = summarizeTable(parseCsv(csv(rows)));
    expect(JSON.stringify(s).length).toBeLessThanOrEqual(SUMMARY_LIMITS.bytes);
    expect(s.classCounts!.filter((c) => c !== null).length).toBeGreaterThan(0);
    expect(s.classCounts!.filter((c) => c === null).length).toBeGreaterThan(0);
  });
});
