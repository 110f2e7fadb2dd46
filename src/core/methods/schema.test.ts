// Parameter schemas against mergekit's defaults (golden README quirk 5 and the mergekit sources),
// the registry's names, and input validation errors.
import { describe, expect, it } from 'vitest';
import { MergeStudioError } from '../errors.ts';
import { METHODS, getMethod } from './index.ts';
import { GOLDEN_CASES } from './golden-fixtures.ts';

const ALL_METHODS = [
  'linear', 'task_arithmetic', 'ties', 'dare_ties', 'dare_linear', 'breadcrumbs', 'breadcrumbs_ties', 'della', 'della_linear',
  'slerp', 'nuslerp', 'multislerp', 'karcher', 'model_stock', 'nearswap', 'sce', 'arcee_fusion', 'ram', 'ramplus_tl', 'passthrough',
];

/** Expected defaults, written out from mergekit (method -> parameter -> default). */
const MERGEKIT_DEFAULTS: Record<string, Record<string, number | boolean>> = {
  linear: { normalize: true },
  task_arithmetic: { normalize: false, rescale: false, lambda: 1, int8_mask: false, density: 1 },
  ties: { normalize: true, rescale: false, lambda: 1, density: 1 },
  dare_ties: { normalize: false, rescale: true, lambda: 1, density: 1 },
  dare_linear: { normalize: false, rescale: true, density: 1 },
  breadcrumbs: { normalize: false, rescale: false, density: 1, gamma: 0.01 },
  breadcrumbs_ties: { normalize: false, rescale: false, density: 1, gamma: 0.01 },
  della: { normalize: true, rescale: true, density: 1, epsilon: 0.15 },
  della_linear: { normalize: false, rescale: true, density: 1, epsilon: 0.15 },
  nuslerp: { nuslerp_row_wise: false, nuslerp_flatten: true },
  multislerp: { normalize_weights: true, eps: 1e-8 },
  karcher: { max_iter: 10, tol: 1e-5 },
  model_stock: { filter_wise: false },
  sce: { select_topk: 1, int8_mask: false },
  ram: { epsilon: 1e-5 },
  ramplus_tl: { r: 0.1, alpha: 0.2, epsilon: 1e-5 },
};

const REQUIRED: Record<string, string[]> = {
  linear: ['weight'], task_arithmetic: ['weight'], ties: ['weight'], dare_ties: ['weight'], dare_linear: ['weight'], breadcrumbs: ['weight'],
  breadcrumbs_ties: ['weight'], della: ['weight'], della_linear: ['weight'], slerp: ['t'], nuslerp: ['weight'], multislerp: ['weight'], nearswap: ['t'],
};

describe('registry', () => {
  it('has exactly the mergekit method names, each under its own name', () => {
    expect(Object.keys(METHODS).sort()).toEqual([...ALL_METHODS].sort());
    for (const [name, m] of Object.entries(METHODS)) expect(m.name).toBe(name);
  });

  it('suggests the closest name for an unknown method', () => {
    expect(() => getMethod('dare_tie')).toThrowError(/unknown merge_method 'dare_tie'; did you mean 'dare_ties'/);
    expect(() => getMethod('SLERP')).toThrowError(/did you mean 'slerp'/);
    expect(() => getMethod('toString')).toThrowError(MergeStudioError);
  });
});

describe.each(ALL_METHODS)('schema of %s', (name) => {
  const method = METHODS[name];
  it('matches mergekit defaults and required parameters', () => {
    for (const [param, value] of Object.entries(MERGEKIT_DEFAULTS[name] ?? {})) {
      expect(method.params.find((p) => p.name === param)?.default, param).toBe(value);
    }
    const required = method.params.filter((p) => p.required).map((p) => p.name);
    expect(required.sort()).toEqual(REQUIRED[name] ?? []);
  });

  it('is well formed: one-line descriptions, typed defaults inside their ranges', () => {
    expect(method.description.length).toBeGreaterThan(10);
    for (const p of method.params) {
      expect(p.description).toMatch(/^[^\n]{10,}$/);
      if (p.default !== undefined) {
        expect(typeof p.default).toBe(p.kind === 'boolean' ? 'boolean' : 'number');
        if (typeof p.default === 'number') {
          expect(p.default).toBeGreaterThanOrEqual(p.min ?? -Infinity);
          expect(p.default).toBeLessThanOrEqual(p.max ?? Infinity);
        }
      }
    }
  });
});

describe('defaults agree with the parameters mergekit actually ran with', () => {
  it.each(GOLDEN_CASES.filter((c) => c.effective_global_params).map((c) => [c.id, c] as const))('%s', (_id, c) => {
    for (const [param, value] of Object.entries(c.effective_global_params!)) {
      const given = c.global_params[param];
      const spec = METHODS[c.method].params.find((p) => p.name === param && p.scope === 'global');
      expect(given ?? spec?.default, param).toBe(value);
    }
  });
});

describe('input validation', () => {
  const base = new Float32Array([1, 2, 3, 4]);
  const m = new Float32Array([2, 2, 2, 2]);
  const input = (over: object) => ({ tensorName: 'model.norm.weight', shape: [4], models: [m], modelParams: [{ weight: 1 }], modelIndices: [0], base, global: {}, seed: 0, ...over });

  it('names the tensor and the missing base', () => {
    expect(() => METHODS.ties.mergeCpu(input({ base: undefined }))).toThrowError(/ties needs a base_model; none was given for tensor 'model.norm.weight'/);
  });
  it('names the missing required parameter and the model', () => {
    expect(() => METHODS.ties.mergeCpu(input({ modelParams: [{}] }))).toThrowError(/parameter 'weight' of model #0 for tensor 'model.norm.weight' is required/);
    expect(() => METHODS.slerp.mergeCpu(input({}))).toThrowError(/parameter 't' for tensor 'model.norm.weight' is required/);
  });
  it('rejects wrong types and out-of-range values with what was found', () => {
    expect(() => METHODS.ties.mergeCpu(input({ modelParams: [{ weight: 1, density: 1.5 }] }))).toThrowError(/'density'.* must lie in \[0, 1\], found 1.5/);
    expect(() => METHODS.ties.mergeCpu(input({ global: { normalize: 'yes' } }))).toThrowError(/'normalize'.* must be true or false, found "yes"/);
    expect(() => METHODS.karcher.mergeCpu(input({ global: { max_iter: 2.5 } }))).toThrowError(/must be an integer, found 2.5/);
  });
  it('rejects della density ± epsilon outside (0, 1) like mergekit', () => {
    expect(() => METHODS.della.mergeCpu(input({ modelParams: [{ weight: 1, density: 0.1, epsilon: 0.2 }] }))).toThrowError(/density ± epsilon inside \(0, 1\), found density 0.1 and epsilon 0.2/);
  });
  it('rejects an output buffer of the wrong size or aliasing an input', () => {
    expect(() => METHODS.ties.mergeCpu(input({ out: new Float32Array(5) }))).toThrowError(/output buffer for tensor 'model.norm.weight' has 5 elements, expected 4/);
    expect(() => METHODS.ties.mergeCpu(input({ out: base }))).toThrowError(/must not be one of the inputs/);
  });
  it('rejects wrong model counts and sizes', () => {
    expect(() => METHODS.slerp.mergeCpu(input({ models: [m, m], modelParams: [{}, {}], modelIndices: [0, 1], global: { t: 0.5 } }))).toThrowError(/slerp merges exactly 1 non-base model\(s\); tensor 'model.norm.weight' has 2/);
    expect(() => METHODS.linear.mergeCpu(input({ models: [new Float32Array(3)] }))).toThrowError(/model #0 has 3 elements, expected 4 for shape \[4\]/);
  });
});
