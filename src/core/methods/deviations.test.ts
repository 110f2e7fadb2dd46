// Where mergekit has a bug we do the sensible thing (README.md, "Deviations"). The golden cases of
// those bugs still document mergekit's behaviour; here we assert both that behaviour and ours.
import { describe, expect, it } from 'vitest';
import { getMethod } from './index.ts';
import { GOLDEN_CASES, goldenInput, goldenTolerance, maxAbsDiff, readGoldenTensors } from './golden-fixtures.ts';
import type { MergeTensorInput } from './types.ts';

/** Sort-based reference of "keep the k largest |delta| (ties: lowest index first), sum w*delta". */
function topKTaskArithmetic(input: MergeTensorInput, keepCount: (n: number, i: number) => number): Float32Array {
  const base = input.base!;
  const out = Float64Array.from(base);
  input.models.forEach((m, i) => {
    const delta = Float32Array.from(m, (x, j) => x - base[j]);
    const order = Array.from(delta.keys()).sort((a, b) => Math.abs(delta[b]) - Math.abs(delta[a]) || a - b);
    const w = Math.fround(input.modelParams[i].weight as number);
    for (const j of order.slice(0, keepCount(delta.length, i))) out[j] += w * delta[j];
  });
  return Float32Array.from(out);
}

function input(models: Float32Array[], base: Float32Array | undefined, modelParams: MergeTensorInput['modelParams'], global: MergeTensorInput['global'] = {}, shape = [models[0].length]): MergeTensorInput {
  return { tensorName: 'model.layers.0.test.weight', shape, models, modelParams, modelIndices: models.map((_, i) => i), base, global, seed: 0 };
}

function gaussian(n: number, seed: number): Float32Array {
  // Small deterministic LCG + Box-Muller, enough for test inputs.
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next()));
}

describe('breadcrumbs with n_top == 0 (mergekit zeroes the whole task vector)', () => {
  for (const id of ['breadcrumbs_gamma0_zeroes_all_64x48', 'breadcrumbs_default_gamma_small_tensor_7x13']) {
    it(id, async () => {
      const c = GOLDEN_CASES.find((x) => x.id === id)!;
      const inp = await goldenInput(c);
      const golden = (await readGoldenTensors(id, 'output')).get('out')!;
      // mergekit's behaviour, as recorded: out == base bit for bit.
      expect(maxAbsDiff(golden, inp.base!)).toBe(0);
      // Ours: no outliers removed, the int(density * n) largest entries kept.
      const ours = getMethod('breadcrumbs').mergeCpu(inp);
      const density = inp.modelParams[0].density as number;
      const reference = topKTaskArithmetic(inp, (n) => Math.trunc(density * n));
      expect(maxAbsDiff(ours, reference)).toBeLessThanOrEqual(goldenTolerance(c));
      expect(maxAbsDiff(ours, inp.base!)).toBeGreaterThan(0.1);
    });
  }
});

describe('magnitude pruning with k == 0 (mergekit fails an assertion)', () => {
  it('drops the whole task vector instead of aborting the merge', () => {
    const base = gaussian(91, 1);
    const m0 = gaussian(91, 2);
    const m1 = gaussian(91, 3);
    const out = getMethod('ties').mergeCpu(input([m0, m1], base, [{ weight: 1, density: 0.01 }, { weight: 1, density: 1 }], {}, [7, 13]));
    // Model 0 keeps int(0.01 * 91) = 0 entries, so only model 1 votes and mixes (normalized by its weight).
    const expected = Float32Array.from(base, (b, j) => b + Math.fround(m1[j] - b));
    expect(maxAbsDiff(out, expected)).toBeLessThan(1e-6);
  });
});

describe('linear with weights summing to zero (mergekit divides by zero)', () => {
  it('returns the unnormalized weighted sum, finite', () => {
    const a = gaussian(64, 4);
    const b = gaussian(64, 5);
    const out = getMethod('linear').mergeCpu(input([a, b], undefined, [{ weight: 1 }, { weight: -1 }], { normalize: true }));
    expect(maxAbsDiff(out, Float32Array.from(a, (x, j) => x - b[j]))).toBeLessThan(1e-6);
  });
});

describe('model_stock with exactly opposite offsets (mergekit: cos = -1, t = -2/0, NaN)', () => {
  it('keeps the base (t = 0)', () => {
    const base = gaussian(128, 6);
    const d = gaussian(128, 7);
    const out = getMethod('model_stock').mergeCpu(input([Float32Array.from(base, (x, j) => x + d[j]), Float32Array.from(base, (x, j) => x - d[j])], base, [{}, {}]));
    expect(out.every(Number.isFinite)).toBe(true);
    expect(maxAbsDiff(out, base)).toBe(0);
  });
});

describe('linear ignores a base model (mergekit raises TypeError on the unweighted base)', () => {
  it('merges only the weighted models', () => {
    const a = gaussian(32, 8);
    const b = gaussian(32, 9);
    const withBase = getMethod('linear').mergeCpu(input([a, b], gaussian(32, 10), [{ weight: 0.3 }, { weight: 0.7 }]));
    const without = getMethod('linear').mergeCpu(input([a, b], undefined, [{ weight: 0.3 }, { weight: 0.7 }]));
    expect(maxAbsDiff(withBase, without)).toBe(0);
  });
});

describe('della on rows of length 1 (mergekit: 0/0 rank norm, NaN probabilities)', () => {
  it('keeps each entry with probability density', () => {
    const n = 20000;
    const base = gaussian(n, 11);
    const m = gaussian(n, 12);
    const out = getMethod('della_linear').mergeCpu(input([m], base, [{ weight: 1, density: 0.3, epsilon: 0.1 }], { rescale: false }, [n, 1]));
    const kept = out.filter((x, j) => x !== base[j]).length / n;
    expect(Math.abs(kept - 0.3)).toBeLessThan(4 * Math.sqrt(0.3 * 0.7 / n));
  });
});
