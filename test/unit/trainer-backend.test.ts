import { describe, expect, it } from 'vitest';
import { resolveJobSpec } from '../../services/core/job-defaults.ts';
import type { JobSpec } from '../../services/core/spec.ts';
import { selectBackend } from '../../services/platform/tf-backend.ts';
import { generateBuiltin } from '../../workers/trainer/ml/generators.ts';
import { runUnit } from '../../workers/trainer/ml/run-unit.ts';

const quiet = { info() {}, warn() {} };

describe('selectBackend', () => {
  it('wasm passes the training smoke test and trains a unit; later unforced calls reuse the choice', async () => {
    const b = await selectBackend('wasm', quiet);
    expect(b.name).toBe('wasm');
    expect(b.tf.getBackend()).toBe('wasm');
    expect((await selectBackend(undefined, quiet)).name).toBe('wasm');
    const uri = 'builtin:make_regression?n_samples=100&n_features=3&n_informative=3&random_state=5';
    const spec = resolveJobSpec({
      dataset: { uri }, preprocess: { standardize: true },
      model: { layers: [{ type: 'dropout', rate: 0.1 }, { type: 'dense', units: 8, activation: 'relu', kernelConstraint: { maxNorm: 3 } }, { type: 'dense', units: 1 }] },
      training: { loss: 'mae', epochs: 3, optimizer: { name: 'rmsprop' } },
    } as unknown as JobSpec);
    const out = await runUnit({ spec, unit: { kind: 'final', run: 0, repeat: 0, fold: 0, key: 'final' }, table: generateBuiltin(uri),
      hooks: { onEpoch() {}, control: () => 'continue', saveCheckpoint: async () => {} } });
    expect(out.backend).toBe('wasm');
    expect(out.history).toHaveLength(3);
    out.model?.dispose();
  });

  it('native TensorFlow backends are refused when forced but not installed', async () => {
    await expect(selectBackend('tensorflow-gpu', quiet)).rejects.toThrow(/not available/);
  });
});
