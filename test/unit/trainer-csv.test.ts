import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseCsv, summarizeTable, cellText } from '../../services/platform/csv.ts';

const codeOf = (f: () => unknown): { code?: string; message: string } => {
  try {
    f();
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error('expected an error');
};

describe('parseCsv', () => {
  it.each([
    ['plain numbers', '1,2,3\n4,5,6\n', { rows: 2, columns: 3, last: [3, 6] }],
    ['CRLF and no trailing newline', '1,2,3\r\n4,5,6', { rows: 2, columns: 3, last: [3, 6] }],
    ['blank trailing lines', '1,2,3\n4,5,6\n\n\r\n  \n', { rows: 2, columns: 3, last: [3, 6] }],
    ['single-quoted labels', "0.5,-1.25e2,'-1'\n0.25,3,'1'\n", { rows: 2, columns: 3, last: [-1, 1] }],
    ['double-quoted numbers', '1,2,"3"\n4,5,"6.5"\n', { rows: 2, columns: 3, last: [3, 6.5] }],
  ])('%s', (_, text, want) => {
    const t = parseCsv(Buffer.from(text));
    expect(t.rows).toBe(want.rows);
    expect(t.columns).toBe(want.columns);
    const last = t.data[t.columns - 1];
    expect(last.kind).toBe('number');
    expect(Array.from(last.values as Float64Array)).toEqual(want.last);
  });

  it('parses numbers exactly like Number()', () => {
    const cells = ['0.1', '-0.000123', '1e-7', '123456789.123', '0.30000000000000004', '+5', '.5', '7.', '1E3', '99999999999999999999'];
    const t = parseCsv(cells.join('\n'));
    expect(Array.from(t.data[0].values as Float64Array)).toEqual(cells.map(Number));
  });

  it('reads a header row and keeps string columns', () => {
    const t = parseCsv('a, b ,label\n1,2,cat\n3,4,"dog, big"\n5,6,"say ""hi"""\n', { header: true });
    expect(t.header).toEqual(['a', 'b', 'label']);
    expect(t.rows).toBe(3);
    expect(t.data[2]).toEqual({ kind: 'string', values: ['cat', 'dog, big', 'say "hi"'] });
  });

  it('turns a column into strings when a later cell is not a number', () => {
    const t = parseCsv('1,x\n2,y\n3,z\n4,1\n'.replace('4,1', 'abc,1'));
    expect(t.data[0].kind).toBe('string');
    expect(t.data[0].values).toEqual(['1', '2', '3', 'abc']);
    expect(cellText(t.data[1], 3)).toBe('1');
  });

  it('names the 1-based line of a ragged row with expected and found counts', () => {
    const e = codeOf(() => parseCsv('1,2,3\n4,5,6\n\n7,8\n'));
    expect(e.code).toBe('ragged_csv');
    expect(e.message).toContain('line 4');
    expect(e.message).toContain('expected 3');
    expect(e.message).toContain('found 2');
    const h = codeOf(() => parseCsv('a,b\n1,2\n3,4,5\n', { header: true }));
    expect(h.message).toMatch(/line 3: expected 2 columns, found 3/);
  });

  it('rejects empty files and header-only files', () => {
    expect(codeOf(() => parseCsv('')).code).toBe('dataset_invalid');
    expect(codeOf(() => parseCsv('\n\n')).code).toBe('dataset_invalid');
    expect(codeOf(() => parseCsv('a,b\n', { header: true })).code).toBe('dataset_invalid');
  });

  it('summarizes class counts for categorical and few-valued columns only', () => {
    const lines = Array.from({ length: 120 }, (_, i) => `${i},${i % 3},${i % 2 ? "'yes'" : "'no'"}`);
    const s = summarizeTable(parseCsv(lines.join('\n')));
    expect(s.rows).toBe(120);
    expect(s.columns).toBe(3);
    expect(s.classCounts?.[0]).toBeNull(); // 120 distinct values
    expect(s.classCounts?.[1]).toEqual({ '0': 40, '1': 40, '2': 40 });
    expect(s.classCounts?.[2]).toEqual({ no: 60, yes: 60 });
  });

  const mammo = 'examples/data/mammography.csv';
  it('parses the Woods mammography file', () => {
    const t = parseCsv(readFileSync(mammo));
    expect(t.rows).toBe(11183);
    expect(t.columns).toBe(7);
    expect(summarizeTable(t).classCounts?.[6]).toEqual({ '-1': 10923, '1': 260 });
  });
});
