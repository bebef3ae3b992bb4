/** Initializers and weight layout of the fused engine (Keras / tfjs VarianceScaling rules). */
import { describe, expect, it } from 'vitest';
import type { NormalizedLayer } from '../../services/core/layers.ts';
import { createFusedModel, weightShapes } from '../../workers/trainer/fused/index.ts';

const layer = (kernelInitializer: string, units = 400, biasInitializer = 'zeros', useBias = true): NormalizedLayer =>
  ({ type: 'dense', units, activation: 'linear', useBias, kernelInitializer, biasInitializer });

const stats = (a: Float32Array) => {
  const mean = a.reduce((s, v) => s + v, 0) / a.length;
  const std = Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length);
  let maxAbs = 0;
  for (const v of a) maxAbs = Math.max(maxAbs, Math.abs(v));
  return { mean, std, maxAbs };
};

describe('fused initializers', () => {
  const fanIn = 100;
  const fanOut = 400;
  it.each([
    ['glorotUniform', Math.sqrt(6 / (fanIn + fanOut)) / Math.sqrt(3), Math.sqrt(6 / (fanIn + fanOut))],
    ['heUniform', Math.sqrt(6 / fanIn) / Math.sqrt(3), Math.sqrt(6 / fanIn)],
    ['leCunUniform', Math.sqrt(3 / fanIn) / Math.sqrt(3), Math.sqrt(3 / fanIn)],
    ['randomUniform005', 0.05 / Math.sqrt(3), 0.05],
    // truncated normals: the stddev is corrected so the truncated draw has the target spread
    ['heNormal', Math.sqrt(2 / fanIn), (2 * Math.sqrt(2 / fanIn)) / 0.87962566103423978],
    ['glorotNormal', Math.sqrt(2 / (fanIn + fanOut)), (2 * Math.sqrt(2 / (fanIn + fanOut))) / 0.87962566103423978],
    ['leCunNormal', Math.sqrt(1 / fanIn), (2 * Math.sqrt(1 / fanIn)) / 0.87962566103423978],
    ['truncatedNormal', 0.05 * 0.87962566103423978, 0.1],
    ['randomNormal005', 0.05, Infinity],
  ])('%s has the Keras spread and bound', (name, std, bound) => {
    const [kernel, bias] = createFusedModel([layer(name)], fanIn, 3).weights();
    const s = stats(kernel);
    expect(kernel.length).toBe(fanIn * fanOut);
    expect(Math.abs(s.mean)).toBeLessThan(std * 0.02);
    expect(s.std / std).toBeGreaterThan(0.97);
    expect(s.std / std).toBeLessThan(1.03);
    expect(s.maxAbs).toBeLessThanOrEqual(bound * (1 + 1e-6));
    expect(bias.every((v) => v === 0)).toBe(true);
  });

  it('fills zeros and ones and seeds deterministically', () => {
    const layers: NormalizedLayer[] = [layer('zeros', 3, 'ones'), { type: 'dropout', rate: 0.1 }, layer('heNormal', 2, 'zeros', false)];
    const w = createFusedModel(layers, 4, 1).weights();
    expect(w.map((a) => a.length)).toEqual([12, 3, 6]);
    expect(weightShapes(layers, 4)).toEqual([[4, 3], [3], [3, 2]]);
    expect(w[0].every((v) => v === 0) && w[1].every((v) => v === 1)).toBe(true);
    expect(createFusedModel(layers, 4, 1).weights()).toEqual(w);
    expect(createFusedModel(layers, 4, 2).weights()[2]).not.toEqual(w[2]);
  });

  it('refuses weights of the wrong size', () => {
    const m = createFusedModel([layer('zeros', 3)], 4, 1);
    expect(() => m.setWeights([new Float32Array(12)])).toThrow(/expected 2 weight arrays/);
    expect(() => m.setWeights([new Float32Array(11), new Float32Array(3)])).toThrow(/shape \[4, 3\]/);
  });
});
