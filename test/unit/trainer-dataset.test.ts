import { describe, expect, it } from 'vitest';
import { resolveJobSpec } from '../../services/core/job-defaults.ts';
import type { JobSpec } from '../../services/core/spec.ts';
import { parseCsv } from '../../services/platform/csv.ts';
import { decodePredictions, loadTable, prepareDataset, sortLabels } from '../../workers/trainer/ml/dataset.ts';

const spec = (loss: string, target: number[] = [-1]) =>
  resolveJobSpec({ dataset: { uri: 'dataset:x', target }, model: { layers: [{ type: 'dense', units: 1 }] }, training: { loss, epochs: 1 } } as unknown as JobSpec);

const err = (f: () => unknown): { code?: string; message: string; field?: string } => {
  try {
    f();
  } catch (e) {
    return e as { code: string; message: string };
  }
  throw new Error('expected an error');
};

const csv = "1,2,'b'\n3,4,'a'\n5,6,'c'\n7,8,'a'\n";

describe('prepareDataset', () => {
  it('regression: row-major features and targets, targets by negative index', () => {
    const d = prepareDataset(parseCsv('1,2,3,4\n5,6,7,8\n'), spec('mse', [-2, -1]));
    expect(Array.from(d.features)).toEqual([1, 2, 5, 6]);
    expect(Array.from(d.targets)).toEqual([3, 4, 7, 8]);
    expect(d.meta).toEqual({ featureCount: 2, targetColumns: [2, 3], outputs: 2, task: 'regression', encoding: 'none' });
    expect(d.classIndex).toBeUndefined();
  });

  it('target out of range names dataset.target', () => {
    const e = err(() => prepareDataset(parseCsv('1,2\n3,4\n'), spec('mse', [-3])));
    expect(e.code).toBe('target_out_of_range');
    expect(e.message).toContain('dataset.target');
  });

  it('non-numeric feature names the 1-based row and the column', () => {
    const e = err(() => prepareDataset(parseCsv('1,2,0\n3,x,1\n'), spec('binaryCrossentropy')));
    expect(e.code).toBe('non_numeric_feature');
    expect(e.message).toContain('row 2');
    expect(e.message).toContain('column 1');
  });

  it('sparse: sorted labels and class indices', () => {
    const d = prepareDataset(parseCsv(csv), spec('sparseCategoricalCrossentropy'));
    expect(d.meta.labels).toEqual(['a', 'b', 'c']);
    expect(d.meta.encoding).toBe('sparse');
    expect(d.meta.outputs).toBe(3);
    expect(Array.from(d.targets)).toEqual([1, 0, 2, 0]);
    expect(Array.from(d.classIndex!)).toEqual([1, 0, 2, 0]);
  });

  it('categorical: one-hot targets, outputs = classes', () => {
    const d = prepareDataset(parseCsv(csv), spec('categoricalCrossentropy'));
    expect(d.targetWidth).toBe(3);
    expect(Array.from(d.targets)).toEqual([0, 1, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0]);
    expect(d.meta.encoding).toBe('onehot');
  });

  it("binary: numeric-looking labels sorted numerically ('-1' < '1'), encoded 0/1", () => {
    const d = prepareDataset(parseCsv("0.1,'1'\n0.2,'-1'\n0.3,'-1'\n"), spec('binaryCrossentropy'));
    expect(d.meta.labels).toEqual(['-1', '1']);
    expect(d.meta.task).toBe('binary');
    expect(Array.from(d.targets)).toEqual([1, 0, 0]);
    expect(sortLabels(['10', '9', '-2', '1.5'])).toEqual(['-2', '1.5', '9', '10']);
  });

  it('binary with more than two classes is refused', () => {
    expect(err(() => prepareDataset(parseCsv(csv), spec('binaryCrossentropy'))).code).toBe('spec_invalid');
  });

  it('decodePredictions maps outputs back to labels', () => {
    const meta = prepareDataset(parseCsv(csv), spec('categoricalCrossentropy')).meta;
    expect(decodePredictions(meta, [[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]]).labels).toEqual(['b', 'a']);
    const bin = prepareDataset(parseCsv("0.1,'1'\n0.2,'-1'\n"), spec('binaryCrossentropy')).meta;
    expect(decodePredictions(bin, [[0.2], [0.9]])).toEqual({ predictions: [[0.2], [0.9]], labels: ['-1', '1'] });
    const reg = prepareDataset(parseCsv('1,2\n3,4\n'), spec('mse')).meta;
    expect(decodePredictions(reg, [[1.5]])).toEqual({ predictions: [[1.5]] });
  });
});

describe('loadTable', () => {
  it('generates builtin data, fetches dataset: bytes, reports missing data sets', async () => {
    const fetch = async (uri: string) => (uri === 'dataset:abc' ? Buffer.from('h1,h2\n1,2\n') : undefined);
    expect((await loadTable('builtin:make_regression?n_samples=5&n_features=2', false, fetch)).rows).toBe(5);
    expect((await loadTable('dataset:abc', true, fetch)).header).toEqual(['h1', 'h2']);
    await expect(loadTable('dataset:nope', false, fetch)).rejects.toMatchObject({ code: 'dataset_not_found' });
    await expect(loadTable('http://x/y.csv', false, fetch)).rejects.toMatchObject({ code: 'dataset_invalid' });
  });
});

describe('regression targets with missing cells', () => {
  it('a numeric target holding "?" fails naming the row instead of being label-encoded', () => {
    const spec = resolveJobSpec({ dataset: { uri: 'x' }, model: { layers: [{ type: 'dense', units: 1 }] }, training: { loss: 'mse', epochs: 1 } } as never);
    expect(() => prepareDataset(parseCsv('1,2,3\n3,4,?\n5,6,1\n'), spec)).toThrow(/holds "\?" at row 2/);
    // all-string labels with a regression loss stay label-encoded (ordinal targets)
    expect(prepareDataset(parseCsv('1,2,a\n3,4,b\n'), spec).meta.encoding).toBe('label');
  });
});
