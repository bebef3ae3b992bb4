/** Job specs the API tests share. */

/** A small regression job: 3-fold k-fold plus the final fit on a builtin data set (4 units, seconds to train). */
export const smallRegressionSpec = (over: Record<string, unknown> = {}) => ({
  name: 'reg',
  dataset: { uri: 'builtin:make_regression?n_samples=100&n_features=3&random_state=1' },
  model: { layers: [{ type: 'dense', units: 4, activation: 'relu' }, { type: 'dense', units: 1 }] },
  training: { loss: 'mse', epochs: 2 },
  evaluation: { method: 'kfold', folds: 3 },
  final: { fit: true },
  ...over,
});
