import { describe, expect, it } from 'vitest';
import { decodeToF32, encodeFromF32, type DType } from '../dtype.ts';
import { getMethod } from '../methods/index.ts';
import { ReusableArrays } from '../methods/scratch.ts';
import type { ParamValue } from '../methods/types.ts';
import { mergeElementwiseSlices, TILE_ELEMENTS, type StoredSlice } from './elementwise.ts';
import { seededValues } from './test-models.ts';

// More than two tiles and an odd tail, so tile edges and the odd bf16 element are both exercised.
const n = 2 * TILE_ELEMENTS + 4321;
const base = seededValues(n, 1);
const models = [seededValues(n, 2), seededValues(n, 3), seededValues(n, 4)];

/** Stored bytes of `values`; `shift` moves them off 4-byte alignment (decoded, not viewed). */
function stored(values: Float32Array, dtype: DType, shift = 0): StoredSlice {
  const bytes = encodeFromF32(values, dtype);
  const shifted = new Uint8Array(bytes.byteLength + shift);
  shifted.set(bytes, shift);
  return { bytes: shifted.subarray(shift), dtype };
}

const cases: { method: string; params: Record<string, ParamValue>[]; global: Record<string, ParamValue> }[] = [
  { method: 'linear', params: [{ weight: 0.5 }, { weight: 0.3 }, { weight: 0.2 }], global: {} },
  { method: 'task_arithmetic', params: [{ weight: 0.7 }, { weight: -0.4 }, { weight: 0.5 }], global: { lambda: 0.9 } },
  { method: 'nearswap', params: [{}], global: { t: 0.3 } },
  { method: 'passthrough', params: [{ scale: 2 }], global: {} },
];

describe('mergeElementwiseSlices', () => {
  for (const c of cases) {
    it(`${c.method}: tile by tile from stored bytes equals the whole-tensor merge, for every in/out dtype`, () => {
      const method = getMethod(c.method);
      const count = c.params.length;
      const withBase = method.base !== 'none';
      const template = { tensorName: 't', modelParams: c.params, modelIndices: c.params.map((_, i) => i), global: c.global, seed: 0 };
      const buffers = new ReusableArrays();
      for (const inDType of ['F32', 'BF16', 'F16'] as const) {
        // The stored values (dtype.test.ts checks the conversions), merged whole by the reference.
        const decoded = (v: Float32Array) => decodeToF32(encodeFromF32(v, inDType), inDType);
        const want = method.mergeCpu({ ...template, shape: [n], models: models.slice(0, count).map(decoded), ...(withBase ? { base: decoded(base) } : {}) });
        for (const outDType of ['F32', 'BF16'] as const) {
          const slices = models.slice(0, count).map((m, i) => stored(m, inDType, i === 0 && inDType === 'F32' ? 2 : 0));
          const out = new Uint8Array(n * 4);
          const got = mergeElementwiseSlices(method, template, slices, withBase ? stored(base, inDType) : undefined, n, outDType, out, buffers);
          expect(got.buffer).toBe(out.buffer);
          const expected = encodeFromF32(want, outDType);
          const firstDifference = got.findIndex((b, i) => b !== expected[i]);
          expect(got.byteLength).toBe(expected.byteLength);
          expect(firstDifference, `${inDType} -> ${outDType}`).toBe(-1);
        }
      }
    });
  }

  it('refuses a method that is not elementwise', () => {
    expect(() => mergeElementwiseSlices(getMethod('ties'), { tensorName: 't', modelParams: [{}], modelIndices: [0], global: {}, seed: 0 }, [stored(models[0], 'F32')], stored(base, 'F32'), n, 'F32', new Uint8Array(4 * n), new ReusableArrays())).toThrow(/not elementwise/);
  });
});
