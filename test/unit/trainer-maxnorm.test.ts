// Keras applies kernel constraints after every optimizer step; the tfjs engine must too.
import { it, expect } from 'vitest';
import { runUnit } from '../../workers/trainer/ml/run-unit.ts';
import { resolveJobSpec } from '../../services/core/job-defaults.ts';
import { makeRegression } from '../../workers/trainer/ml/generators.ts';
it('the tfjs engine keeps every kernel column within maxNorm after training (tfjs fit() skips constraints)', async () => {
  const t = makeRegression(new URLSearchParams('n_samples=200&n_features=5&n_informative=3&random_state=1')).table;
  const spec = resolveJobSpec({ dataset: { uri: 'x' }, model: { layers: [{ type: 'dense', units: 8, activation: 'relu', kernelConstraint: { maxNorm: 0.5 } }, { type: 'dense', units: 1 }] }, training: { loss: 'mse', epochs: 3, engine: 'tfjs' }, final: { fit: true } } as any);
  const out = await runUnit({ spec, unit: { kind: 'final', run: 0, repeat: 0, fold: 0, key: 'final' }, table: t, hooks: { onEpoch() {}, control: () => 'continue', saveCheckpoint: async () => {} } });
  const k = out.model!.layers[0].getWeights()[0].arraySync() as number[][];
  const norms = k[0].map((_, j) => Math.sqrt(k.reduce((a, r) => a + r[j] * r[j], 0)));
  expect(Math.max(...norms)).toBeLessThanOrEqual(0.5 + 1e-5);
});
