/** Job specs the benchmarks submit. */

/** 3 training units: 3-fold k-fold of a small dense network on a builtin data set. */
export const SUBMIT_SPEC = {
  name: 'bench-submit',
  dataset: { uri: 'builtin:make_classification?n_samples=200&n_features=4&random_state=1' },
  model: { layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 1, activation: 'sigmoid' }] },
  training: { loss: 'binary_crossentropy', epochs: 5, batchSize: 32, optimizer: { name: 'adam' } },
  evaluation: { method: 'kfold', folds: 3 },
};
