import { describe, expect, it } from 'vitest';
import type { Job } from '../../services/core/job.ts';
import type { History, Summary } from '../../services/cli/client.ts';
import {
  UsageError, applySet, applySets, epochColumns, eventLine, historyCsv, historyTable, historyUnitsTable, jobDetail, jobsTable,
  num, parseCsvRows, parseRowsJson, parseSet, predictionsTable, statsLine, summaryReport, table,
} from '../../services/cli/format.ts';

const job = (over: Partial<Job> = {}): Job => ({
  id: 'job_1',
  name: 'mlp',
  tenant: 'acme',
  status: 'queued',
  createdAt: '2026-01-02T03:04:05.678Z',
  progress: { unitsDone: 0, unitsTotal: 31 },
  ...over,
});

describe('num', () => {
  it.each([
    [0.98765, '0.9877'],
    [8.184, '8.1840'],
    [0, '0.0000'],
    [-1.5, '-1.5000'],
    [0.00001234, '1.23e-5'],
    [undefined, '-'],
    [NaN, '-'],
    [Infinity, 'inf'],
  ])('%s -> %s', (x, s) => expect(num(x as number)).toBe(s));
});

describe('table', () => {
  it('pads columns, right-aligns numeric ones, no trailing spaces', () => {
    expect(table(['NAME', 'N', 'NOTE'], [['a', 1, 'x'], ['bbbb', 22, undefined]])).toBe(
      ['NAME   N  NOTE', 'a      1  x', 'bbbb  22  -'].join('\n'),
    );
  });
  it('keeps text columns left-aligned when a cell is not a number', () => {
    expect(table(['A'], [['1'], ['x']])).toBe('A\n1\nx');
  });
});

describe('statsLine', () => {
  it.each([
    [{ metric: 'accuracy', mean: 0.987, std: 0.002, ci95: [0.9863, 0.9877] as [number, number], n: 30 }, 'accuracy 0.9870 ± 0.0020  95% CI [0.9863, 0.9877]  n=30'],
    [{ metric: 'mae', mean: 8.184, std: 1.032, scores: [1, 2, 3] }, 'mae 8.1840 ± 1.0320  n=3'],
    [{ metric: 'loss' }, 'loss - ± -'],
  ])('%o', (input, line) => expect(statsLine(input)).toBe(line));
});

describe('jobs', () => {
  it('lists jobs with units, result or error', () => {
    const out = jobsTable([
      job({ status: 'completed', progress: { unitsDone: 31, unitsTotal: 31 }, startedAt: '2026-01-02T03:04:05Z', finishedAt: '2026-01-02T03:05:35Z',
        result: { metric: 'accuracy', scores: [0.98, 0.99], mean: 0.985, std: 0.005, stderr: 0.0035, ci95: [0.978, 0.992] } }),
      job({ id: 'job_2', status: 'failed', error: { code: 'unit_failed', message: 'boom' } }),
    ]);
    expect(out.split('\n')[0]).toMatch(/^ID\s+NAME\s+STATUS\s+UNITS\s+RESULT\s+CREATED\s+DURATION$/);
    expect(out).toContain('accuracy 0.9850 ± 0.0050');
    expect(out).toContain('1m30s');
    expect(out).toMatch(/job_2\s+mlp\s+failed\s+0\/31\s+unit_failed/);
    expect(jobsTable([])).toBe('no jobs');
  });

  it('details a job: progress, statistics, error', () => {
    const d = jobDetail(job({ status: 'running', progress: { unitsDone: 3, unitsTotal: 31, epoch: 12, epochs: 100 },
      result: { metric: 'mae', scores: [8, 9], mean: 8.5, std: 0.5, stderr: 0.35, ci95: [7.8, 9.2] }, error: { code: 'x', message: 'y' } }));
    expect(d).toMatch(/^status\s+running$/m);
    expect(d).toMatch(/^progress\s+3\/31 units, epoch 12\/100$/m);
    expect(d).toMatch(/^result\s+mae 8\.5000 ± 0\.5000  95% CI \[7\.8000, 9\.2000\]  n=2$/m);
    expect(d).toMatch(/^error\s+x: y$/m);
    expect(d).not.toMatch(/^cost/m);
  });
});

const history: History = {
  units: [
    { key: 'r0-p0-f0', kind: 'eval', run: 0, repeat: 0, fold: 0, epochs: [{ epoch: 1, loss: 0.5, accuracy: 0.8, val_loss: 0.6, val_accuracy: 0.75 }, { epoch: 2, loss: 0.4, accuracy: 0.85, val_loss: 0.55, val_accuracy: 0.8 }] },
    { key: 'r0-p0-f1', kind: 'eval', run: 0, repeat: 0, fold: 1, epochs: [{ epoch: 1, loss: 0.45, accuracy: 0.82 }] },
  ],
  final: { key: 'final', kind: 'final', run: 0, repeat: 0, fold: -1, epochs: [{ epoch: 1, loss: 0.3, accuracy: 0.9 }] },
};

describe('history', () => {
  it.each([
    [[{ epoch: 1, loss: 1 }], ['loss']],
    [[{ epoch: 1, val_loss: 1, loss: 1, mae: 2, val_mae: 3 }], ['loss', 'val_loss', 'mae', 'val_mae']],
    [[{ epoch: 1, val_accuracy: 1, accuracy: 1, loss: 1, auc: 1, val_only: 2 }], ['loss', 'accuracy', 'val_accuracy', 'auc', 'val_only']],
  ])('epoch columns of %o', (epochs, cols) => expect(epochColumns(epochs)).toEqual(cols));

  it('per-epoch table of one unit', () => {
    expect(historyTable(history.units[0])).toBe([
      'epoch    loss  val_loss  accuracy  val_accuracy',
      '    1  0.5000    0.6000    0.8000        0.7500',
      '    2  0.4000    0.5500    0.8500        0.8000',
    ].join('\n'));
  });

  it('one row per unit, final included', () => {
    const out = historyUnitsTable(history).split('\n');
    expect(out).toHaveLength(4);
    expect(out[0]).toMatch(/^UNIT\s+KIND\s+EPOCHS\s+LAST loss\s+LAST val_loss/);
    expect(out[3]).toMatch(/^final\s+final\s+1\s+0\.3000\s+-/);
  });

  it('long CSV with every column, missing values empty', () => {
    expect(historyCsv(history)).toBe([
      'unit,kind,run,repeat,fold,epoch,loss,val_loss,accuracy,val_accuracy',
      'r0-p0-f0,eval,0,0,0,1,0.5,0.6,0.8,0.75',
      'r0-p0-f0,eval,0,0,0,2,0.4,0.55,0.85,0.8',
      'r0-p0-f1,eval,0,0,1,1,0.45,,0.82,',
      'final,final,0,0,-1,1,0.3,,0.9,',
      '',
    ].join('\n'));
    expect(historyCsv(history, 'final').split('\n')).toEqual(['unit,kind,run,repeat,fold,epoch,loss,accuracy', 'final,final,0,0,-1,1,0.3,0.9', '']);
  });

  it('an unknown unit is a usage error naming the known ones', () => {
    expect(() => historyCsv(history, 'nope')).toThrow(UsageError);
    expect(() => historyCsv(history, 'nope')).toThrow(/--unit: no unit "nope" \(units: r0-p0-f0, r0-p0-f1, final\)/);
  });
});

describe('results and predictions', () => {
  const summary: Summary = {
    metric: 'accuracy', method: 'kfold', n: 2, scores: [0.98, 0.99], mean: 0.985, std: 0.005, stderr: 0.0035, ci95: [0.978, 0.992], min: 0.98, max: 0.99,
    units: [
      { key: 'r0-p0-f0', kind: 'eval', run: 0, repeat: 0, fold: 0, score: 0.98, epochs: 10, trainRows: 90, testRows: 10, durationMs: 1500, worker: 'w1' },
      { key: 'r0-p0-f1', kind: 'eval', run: 0, repeat: 0, fold: 1, score: 0.99, epochs: 10, trainRows: 90, testRows: 10, durationMs: 1200, worker: 'w2' },
    ],
  };
  it('scores per unit and the statistics', () => {
    const out = summaryReport(summary);
    expect(out).toMatch(/r0-p0-f1\s+eval\s+0\.9900\s+10\s+90\s+10\s+1\.2\s+w2/);
    expect(out).toContain('accuracy 0.9850 ± 0.0050  95% CI [0.9780, 0.9920]  n=2');
    expect(out).toMatch(/^stderr\s+0\.0035$/m);
    const withFinal = summaryReport({ ...summary, final: { epoch: 10, loss: 0.05, accuracy: 0.99 }, engine: 'fused', backend: 'cpu' });
    expect(withFinal).toMatch(/^final fit\s+loss 0\.0500  accuracy 0\.9900$/m);
    expect(withFinal).toMatch(/^engine\s+fused \(cpu\)$/m);
    const d = jobDetail(job({ engine: 'tfjs', result: { metric: 'accuracy', scores: [0.98], mean: 0.98, std: 0, stderr: 0, ci95: [0.98, 0.98], final: { epoch: 3, loss: 0.1 } } }));
    expect(d).toMatch(/^final\s+loss 0\.1000$/m);
    expect(d).toMatch(/^engine\s+tfjs$/m);
  });
  it('status shows the training-health warnings, the engine reason and the interval used', () => {
    const d = jobDetail(job({
      engine: 'fused', backend: 'cpu', engineReason: 'auto: a dense/dropout MLP inside what the engine parity suite covers, on the cpu backend',
      result: { metric: 'accuracy', scores: [0.65, 0.65, 0.66], mean: 0.6533, std: 0.0047, stderr: 0.0027, ci95: [0.6390, 0.6677], interval: { method: 'student_t', confidence: 0.95, df: 2, t: 4.3027 } },
      warnings: [
        { code: 'constant_class', message: 'the model predicts the same class (0) for every one of its 256 held-out rows; features are unscaled', unit: 'r0-p0-f0' },
        { code: 'loss_flat', message: 'the loss did not move over the first 15 epochs', unit: 'r0-p0-f1' },
      ],
    }));
    expect(d).toMatch(/^result\s+accuracy 0\.6533 ± 0\.0047  95% CI \[0\.6390, 0\.6677\] \(t, 2 df\)  n=3$/m);
    expect(d).toMatch(/^engine why\s+auto: a dense\/dropout MLP inside/m);
    expect(d).toMatch(/^warnings\s+2$/m);
    expect(d).toContain('  ! r0-p0-f0 constant_class: the model predicts the same class (0) for every one of its 256 held-out rows; features are unscaled');
    expect(d).toContain('  ! r0-p0-f1 loss_flat: the loss did not move over the first 15 epochs');
    expect(jobDetail(job({}))).not.toMatch(/warnings/);
    expect(jobsTable([job({ status: 'completed', result: { metric: 'accuracy', scores: [0.65], mean: 0.65, std: 0, stderr: 0, ci95: [0.65, 0.65] }, warnings: [{ code: 'loss_flat', message: 'x' }] })])).toMatch(/accuracy 0\.6500 ± 0\.0000 !/);
  });
  it('predictions with labels; several outputs get a column each', () => {
    expect(predictionsTable({ predictions: [[0.00004], [0.9]], labels: ['-1', '1'] })).toBe(['ROW  PREDICTION  LABEL', '  0     4.00e-5     -1', '  1      0.9000      1'].join('\n'));
    expect(predictionsTable({ predictions: [[1, 2, 3]] }).split('\n')[0]).toBe('ROW    OUT0    OUT1    OUT2');
  });
});

describe('event lines', () => {
  it.each([
    ['status', { status: 'running' }, 'status running'],
    ['status', { status: 'failed', error: { code: 'unit_failed', message: 'nan loss' } }, 'status failed  unit_failed: nan loss'],
    ['progress', { unit: 'r0-p0-f0', epoch: 3, epochs: 10, logs: { loss: 0.5, val_loss: 0.6 } }, 'unit r0-p0-f0  epoch 3/10  loss 0.5000  val_loss 0.6000'],
    ['unit', { unit: 'r0-p0-f0', unitsDone: 4, score: 0.98, worker: 'w1' }, 'unit r0-p0-f0 done  (4 done)  score 0.9800  on w1'],
    ['unit', { unit: 'final', unitsDone: 4, unitsTotal: 4, score: null }, 'unit final done  (4/4 done)'],
    ['job', job({ status: 'running', progress: { unitsDone: 1, unitsTotal: 3 } }), 'job_1  running  1/3 units'],
    ['ping', {}, undefined],
  ])('%s %o', (event, data, line) => expect(eventLine(event, data as Record<string, unknown>)).toBe(line));
});

describe('--set', () => {
  const spec = {
    dataset: { uri: 'dataset:a' },
    model: { layers: [{ type: 'dense', units: 50 }, { type: 'dense', units: 1 }] },
    training: { loss: 'mse', epochs: 100 },
  };

  it.each([
    ['training.epochs=50', ['training', 'epochs'], 50],
    ['training.shuffle=false', ['training', 'shuffle'], false],
    ['training.optimizer={"name":"sgd","momentum":0.9}', ['training', 'optimizer'], { name: 'sgd', momentum: 0.9 }],
    ['training.metrics=["accuracy"]', ['training', 'metrics'], ['accuracy']],
    ['training.loss=mae', ['training', 'loss'], 'mae'],
    ['name="42"', ['name'], '42'],
    ['name=a=b', ['name'], 'a=b'],
    ['seed=null', ['seed'], null],
    ['name=', ['name'], ''],
  ])('parses %s', (arg, path, value) => expect(parseSet(arg)).toEqual({ path, value }));

  it.each([
    ['training.epochs', /expected path=value/],
    ['=5', /path before "=" is empty/],
    ['training..epochs=5', /empty segment/],
    ['a.__proto__.x=1', /"__proto__" cannot be set/],
    ['training.metrics=[1,', /looks like JSON but does not parse/],
  ])('rejects %s', (arg, message) => {
    expect(() => parseSet(arg)).toThrow(UsageError);
    expect(() => parseSet(arg)).toThrow(message);
  });

  it('patches nested paths and array indices without touching the input', () => {
    const out = applySets(spec, ['model.layers.0.units=20', 'training.epochs=50', 'evaluation.folds=5', 'model.layers.2={"type":"dropout","rate":0.2}']) as typeof spec & { evaluation: unknown };
    expect(out.model.layers).toEqual([{ type: 'dense', units: 20 }, { type: 'dense', units: 1 }, { type: 'dropout', rate: 0.2 }]);
    expect(out.training).toEqual({ loss: 'mse', epochs: 50 });
    expect(out.evaluation).toEqual({ folds: 5 });
    expect(spec.model.layers[0].units).toBe(50);
    expect(spec.training.epochs).toBe(100);
  });

  it('creates an array for a missing container indexed by number', () => {
    expect(applySet({}, parseSet('resources.instanceTypes.0=p3.2xlarge'))).toEqual({ resources: { instanceTypes: ['p3.2xlarge'] } });
  });

  it.each([
    ['model.layers.5.units=1', /--set model\.layers\.5\.units: index 5 is out of range \(model\.layers has 2 items\)/],
    ['model.layers.first.units=1', /model\.layers is an array; expected an index, got "first"/],
    ['model.layers.-1.units=1', /expected an index, got "-1"/],
    ['training.epochs.max=1', /training\.epochs is a number, not an object/],
    ['dataset.uri.x=1', /dataset\.uri is a string, not an object/],
  ])('bad path %s', (arg, message) => {
    expect(() => applySet(spec, parseSet(arg))).toThrow(UsageError);
    expect(() => applySet(spec, parseSet(arg))).toThrow(message);
  });
});

describe('prediction rows', () => {
  it.each([
    ['[[1,2,3],[4,5,6]]', [[1, 2, 3], [4, 5, 6]]],
    ['[0.5, -1]', [[0.5, -1]]],
  ])('--rows %s', (text, rows) => expect(parseRowsJson(text)).toEqual(rows));

  it.each([
    ['nope', /--rows: not JSON/],
    ['[]', /non-empty array of rows/],
    ['[[1,2],[3]]', /row 1 has 1 values, row 0 has 2/],
    ['[[1,"a"]]', /row 0, value 1 is not a number: "a"/],
  ])('--rows %s is rejected', (text, message) => expect(() => parseRowsJson(text)).toThrow(message));

  it('reads numeric CSV, with or without a header', () => {
    expect(parseCsvRows('1,2\n3, 4\n\n')).toEqual([[1, 2], [3, 4]]);
    expect(parseCsvRows('a,b\n1,2\n', { header: true })).toEqual([[1, 2]]);
    expect(() => parseCsvRows('a,b\n1,2\n', { source: 'rows.csv' })).toThrow(/rows\.csv: line 1, column 1 is not a number: "a" \(a header row\? pass --header\)/);
  });
});
