// Up to three models run through unrolled kernels that the golden cases check; four or more take
// the generic loops. A fourth model with weight 0 must not change the result (it neither votes nor
// mixes), so the generic path is checked against the golden-verified one on the same inputs.
import { describe, expect, it } from 'vitest';
import { getMethod } from './index.ts';
import { GOLDEN_CASES, goldenInput, maxAbsDiff } from './golden-fixtures.ts';

const cases: [string, string][] = [
  ['ties', 'ties_d05_w11_3m_norm_256x32'],
  ['task_arithmetic', 'task_arithmetic_3m_w532_norm_256x32'],
  ['linear', 'linear_3m_w123_nonorm_256x32'],
  ['breadcrumbs_ties', 'breadcrumbs_ties_d08_g005_7x13'],
];

describe('generic loops for four or more models', () => {
  it.each(cases)('%s (%s) with an extra zero-weight model', async (method, id) => {
    const c = GOLDEN_CASES.find((x) => x.id === id)!;
    const input = await goldenInput(c);
    const three = getMethod(method).mergeCpu(input);
    const extra = Float32Array.from(input.models[0], (x, j) => x + (j % 7) - 3);
    const four = getMethod(method).mergeCpu({
      ...input,
      models: [...input.models, extra],
      modelParams: [...input.modelParams, { ...input.modelParams[0], weight: 0 }],
      modelIndices: [...input.modelIndices, 3],
    });
    expect(maxAbsDiff(four, three)).toBeLessThanOrEqual(1e-6 * Math.max(1, c.out_absmax ?? 0));
    // And the extra model does count once it has a weight.
    const weighted = getMethod(method).mergeCpu({
      ...input,
      models: [...input.models, extra],
      modelParams: [...input.modelParams, { ...input.modelParams[0], weight: 1 }],
      modelIndices: [...input.modelIndices, 3],
    });
    expect(maxAbsDiff(weighted, three)).toBeGreaterThan(0.01);
  });
});

describe('ties with the magnitude mask applied while mixing (up to three models, no rescale)', () => {
  it('equals the in-place masking of the generic path exactly, also when many magnitudes tie at the cut', () => {
    // Values on a coarse grid (as bf16 weights give), so |delta| ties at the k-th rank are common.
    let s = 7;
    const grid = (n: number) => Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % 33) / 8 - 2);
    const shape = [64, 33];
    const n = shape[0] * shape[1];
    for (const densities of [[0.3, 0.5, 0.7], [0.5, 1, 0], [0.25, 0.25, 0.25]]) {
      const base = grid(n);
      const models = [grid(n), grid(n), grid(n)];
      const modelParams = densities.map((density, i) => ({ weight: [0.6, -0.3, 1][i], density }));
      const input = { tensorName: 'model.layers.0.mlp.up_proj.weight', shape, models, base, modelParams, modelIndices: [0, 1, 2], global: {}, seed: 0 };
      const folded = getMethod('ties').mergeCpu(input);
      // A zero-weight fourth model sends the same merge through the generic in-place masking.
      const generic = getMethod('ties').mergeCpu({ ...input, models: [...models, grid(n)], modelParams: [...modelParams, { weight: 0, density: 0.5 }], modelIndices: [0, 1, 2, 3] });
      expect(maxAbsDiff(folded, generic)).toBe(0);
      // And the mask matters: keeping everything gives a different merge.
      const dense = getMethod('ties').mergeCpu({ ...input, modelParams: modelParams.map((p) => ({ ...p, density: 1 })) });
      expect(maxAbsDiff(folded, dense)).toBeGreaterThan(0.1);
    }
  });
});
