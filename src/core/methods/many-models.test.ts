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
