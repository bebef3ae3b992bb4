import { describe, expect, it } from 'vitest';
import { flatWindow, lossIsFlat, predictedClasses, trainingHealth, type HealthInput } from '../../services/core/health.ts';

const flat = (n: number, v = 0.6931) => Array.from({ length: n }, () => v);
const falling = (n: number) => Array.from({ length: n }, (_, i) => 1 / (1 + i));
const codes = (h: HealthInput) => trainingHealth(h).map((w) => w.code);

describe('loss checks', () => {
  it.each([
    [10, 2], [19, 2], [20, 2], [21, 3], [150, 15], [1000, 100],
  ])('the flat-loss window of %i epochs is %i epochs', (epochs, w) => expect(flatWindow(epochs)).toBe(w));

  it.each([
    ['constant', flat(15), 150, true],
    ['a relative change just under 1e-4', [1, 1.00009, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], 150, true],
    ['a relative change of 2e-4', [1, 1.0002, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], 150, false],
    ['falling', falling(15), 150, false],
    ['flat only after the window', [...falling(15), ...flat(100)], 150, false],
    ['shorter than the window (an early stop)', flat(5), 150, false],
    ['one epoch', flat(1), 1, false],
  ])('%s: flat = %s', (_what, losses, epochs, expected) => expect(lossIsFlat(losses as number[], epochs as number)).toBe(expected));

  it('a NaN loss is reported (and takes the place of the flat check)', () => {
    const w = trainingHealth({ losses: [0.7, NaN, NaN], epochs: 3, task: 'binary' });
    expect(w).toEqual([{ code: 'loss_not_finite', message: expect.stringMatching(/^the loss became NaN at epoch 2; try a lower learning rate/) }]);
  });
});

describe('prediction checks', () => {
  const p = (xs: number[]) => Float32Array.from(xs);

  it.each([
    // predictions, outputs, classes, expected warning codes
    ['one class for every row', p([0.9, 0.8, 0.7, 0.99]), 1, [0, 1, 1, 0], ['constant_class']],
    ['accuracy at the majority rate without being constant', p([0.9, 0.9, 0.1, 0.1]), 1, [1, 1, 1, 0], ['accuracy_at_class_rate']],
    ['accuracy at the minority rate', p([0.1, 0.1, 0.9, 0.9]), 1, [1, 1, 1, 0], ['accuracy_at_class_rate']],
    ['a model that learned', p([0.9, 0.8, 0.1, 0.2]), 1, [1, 1, 0, 0], []],
    ['softmax rows all argmax 2', p([0.1, 0.2, 0.7, 0.3, 0.3, 0.4, 0, 0, 1]), 3, [0, 1, 2], ['constant_class']],
    ['softmax rows that differ', p([0.8, 0.1, 0.1, 0.1, 0.8, 0.1, 0, 0, 1]), 3, [0, 1, 2], []],
  ])('%s', (_what, predictions, outputs, classes, expected) => {
    expect(codes({ losses: falling(10), epochs: 10, task: outputs === 1 ? 'binary' : 'multiclass', predictions, outputs, classes })).toEqual(expected);
  });

  it('regression outputs that do not vary across rows', () => {
    expect(codes({ losses: falling(10), epochs: 10, task: 'regression', predictions: p([3, 7, 3, 7, 3, 7]), outputs: 2 })).toEqual(['constant_predictions']);
    expect(codes({ losses: falling(10), epochs: 10, task: 'regression', predictions: p([3, 7, 3, 7.5, 3, 7]), outputs: 2 })).toEqual([]);
  });

  it('the hint names unscaled features when they are large and nothing scaled them', () => {
    const base: HealthInput = { losses: flat(15), epochs: 150, task: 'binary', predictions: p([0.9, 0.9, 0.9]), outputs: 1, classes: [0, 1, 0] };
    const unscaled = trainingHealth({ ...base, featureMagnitude: 846, scaled: false });
    expect(unscaled.map((w) => w.code)).toEqual(['loss_flat', 'constant_class']);
    expect(unscaled[1].message).toBe('the model predicts the same class (1) for every one of its 3 held-out rows; features are unscaled (values up to 846) — try preprocess.standardize or preprocess.minmax');
    expect(trainingHealth({ ...base, featureMagnitude: 846, scaled: true })[1].message).toMatch(/try a lower learning rate, another initializer or more epochs$/);
    expect(trainingHealth({ ...base, featureMagnitude: 3, scaled: false })[1].message).toMatch(/try a lower learning rate/);
  });

  it('predicted classes: threshold 0.5 for one output, argmax for several', () => {
    expect([...predictedClasses(p([0.5, 0.51, 0.2]), 3, 1)]).toEqual([0, 1, 0]);
    expect([...predictedClasses(p([0.2, 0.3, 0.5, 0.6, 0.3, 0.1]), 2, 3)]).toEqual([2, 0]);
  });
});
