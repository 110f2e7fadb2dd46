// The WebAssembly SIMD kernels against their JS twins: every method that runs on tiles gives the
// same bits either way (the twins are what runs where SIMD is missing), on data with the awkward
// cases (signed zeros, NaN, infinities, subnormals, keys tied at the TIES cut, odd tails).
import { afterEach, describe, expect, it } from 'vitest';
import { decodeToF32, encodeFromF32 } from '../dtype.ts';
import { getMethod } from '../methods/index.ts';
import type { ParamValue } from '../methods/types.ts';
import { mergeElementwiseSlices } from '../engine/elementwise.ts';
import { ReusableArrays } from '../methods/scratch.ts';
import { seededValues } from '../engine/test-models.ts';
import { precompileTileKernels, setSimdPreferred, simdAvailable, TILE, tileKernelStatus, tileWorkspace } from './tiles.ts';
import { magnitudeTaskVectorTiles } from './merge-tiles.ts';
import { descendingRankCut, f32Bits } from '../methods/select.ts';

const n = 2 * TILE + 1237;

/** Seeded values with special ones sprinkled in, and runs of equal magnitudes (TIES cut ties). */
function awkward(seed: number, finite = false): Float32Array {
  const v = seededValues(n, seed);
  const specials = finite ? [0, -0, 1e-42, -1e-42, 1e30] : [0, -0, NaN, Infinity, -Infinity, 1e-42, -1e-42, 3.4e38, -3.4e38];
  for (let i = 0; i < n; i += 97) v[i] = specials[(i / 97 + seed) % specials.length];
  for (let i = 5; i < n; i += 13) v[i] = (i & 1 ? -1 : 1) * 0.125;
  return v;
}

const base = awkward(1);
const models = [awkward(2), awkward(3), awkward(4), awkward(5)];
// L1 rescaling turns any infinity or NaN into a NaN tensor: those cases get finite specials.
const finiteBase = awkward(1, true);
const finiteModels = [awkward(2, true), awkward(3, true), awkward(4, true), awkward(5, true)];

function bothWays<T>(run: () => T): [T, T] {
  setSimdPreferred(true);
  const simd = run();
  setSimdPreferred(false);
  const js = run();
  setSimdPreferred(true);
  return [simd, js];
}

function firstDifference(a: Float32Array, b: Float32Array): number {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return i;
  return x.length === y.length ? -1 : x.length;
}

const cases: { method: string; count: number; params: Record<string, ParamValue>; global?: Record<string, ParamValue>; finite?: boolean }[] = [
  { method: 'linear', count: 3, params: { weight: 0.7 } },
  { method: 'linear', count: 2, params: { weight: 0.3 } },
  { method: 'task_arithmetic', count: 3, params: { weight: 0.6 }, global: { lambda: 0.9 } },
  { method: 'task_arithmetic', count: 4, params: { weight: -0.4 } },
  { method: 'ties', count: 3, params: { weight: 0.5, density: 0.5 } },
  { method: 'ties', count: 4, params: { weight: 0.8, density: 0.3 }, global: { normalize: false, lambda: 1.5 } },
  { method: 'ties', count: 2, params: { weight: 0.5, density: 0.7 }, global: { rescale: true }, finite: true },
  { method: 'dare_ties', count: 3, params: { weight: 0.5, density: 0.4 }, finite: true },
  { method: 'dare_ties', count: 4, params: { weight: 0.5, density: 0.6 }, global: { rescale: false } },
  { method: 'dare_linear', count: 3, params: { weight: 0.5, density: 0.5 } },
  { method: 'breadcrumbs_ties', count: 3, params: { weight: 0.5, density: 0.5, gamma: 0.01 } },
  { method: 'della', count: 2, params: { weight: 0.5, density: 0.5, epsilon: 0.1 }, finite: true },
  { method: 'slerp', count: 1, params: {}, global: { t: 0.3 } },
];

describe('SIMD kernels and their JS twins', () => {
  afterEach(() => setSimdPreferred(true));

  it('WebAssembly SIMD is available in this Node', async () => {
    expect(simdAvailable()).toBe(true);
    expect(tileWorkspace().simd).toBe(true);
    expect(tileKernelStatus()).toEqual({ simd: true, detail: 'WebAssembly SIMD' });
    expect(await precompileTileKernels()).toBe(true);
    setSimdPreferred(false);
    expect(tileWorkspace().simd).toBe(false);
    expect(tileKernelStatus().simd).toBe(false);
  });

  for (const c of cases) {
    it(`${c.method} x${c.count} ${JSON.stringify(c.global ?? {})}: same bits both ways`, () => {
      const method = getMethod(c.method);
      const input = {
        tensorName: 'model.layers.3.mlp.up_proj.weight',
        shape: [n],
        models: (c.finite ? finiteModels : models).slice(0, c.count),
        modelParams: Array.from({ length: c.count }, () => ({ ...c.params })),
        modelIndices: Array.from({ length: c.count }, (_, i) => i),
        base: method.base === 'none' ? undefined : c.finite ? finiteBase : base,
        global: { ...c.global },
        seed: 7,
      };
      // della ranks along dim 1: give it rows.
      if (c.method === 'della') input.shape = [n / 1237, 1237];
      const [simd, js] = bothWays(() => method.mergeCpu(input));
      expect(firstDifference(simd, js)).toBe(-1);
      // Not a degenerate merge: it moved most elements away from the base / first model.
      const reference = input.base ?? input.models[0];
      let moved = 0;
      for (let i = 0; i < n; i++) if (simd[i] !== reference[i]) moved++;
      expect(moved).toBeGreaterThan(n / 4);
    });
  }

  it('elementwise tiles from bf16 bytes to bf16 bytes: same bytes both ways', () => {
    const slice = (v: Float32Array) => ({ bytes: encodeFromF32(v, 'BF16'), dtype: 'BF16' as const });
    const template = { tensorName: 't', modelParams: [{ weight: 0.5 }, { weight: 0.25 }, { weight: 1 }], modelIndices: [0, 1, 2], global: { lambda: 0.8 }, seed: 0 };
    const [simd, js] = bothWays(() => mergeElementwiseSlices(getMethod('task_arithmetic'), template, models.slice(0, 3).map(slice), slice(base), n, 'BF16', new Uint8Array(2 * n), new ReusableArrays()));
    expect(simd.findIndex((b, i) => b !== js[i])).toBe(-1);
  });

  it('bf16 decode and encode equal the scalar conversions, specials included', () => {
    const values = awkward(9);
    const [bytesSimd, bytesJs] = bothWays(() => encodeFromF32(values, 'BF16'));
    expect(bytesSimd.findIndex((b, i) => b !== bytesJs[i])).toBe(-1);
    const [decodedSimd, decodedJs] = bothWays(() => decodeToF32(bytesSimd, 'BF16'));
    expect(firstDifference(decodedSimd, decodedJs)).toBe(-1);
  });

  it('the magnitude cut equals the radix select of select.ts, ties and zero keys included', () => {
    // Deltas on a coarse grid: many equal magnitudes, a quarter of them exactly zero.
    const model = new Float32Array(n);
    const finite = finiteBase;
    for (let i = 0; i < n; i++) model[i] = finite[i] + (((i * 7919) % 9) - 4) * 0.25;
    for (const count of [0, 1, 1000, n >> 1, n - 3000, n - 1, n, n + 5]) {
      const expectedDelta = new Float32Array(n);
      for (let i = 0; i < n; i++) expectedDelta[i] = model[i] - finite[i];
      const want = descendingRankCut(f32Bits(expectedDelta), count, 0x7fffffff);
      for (const simd of [true, false]) {
        setSimdPreferred(simd);
        const into = new Float32Array(n);
        const cut = magnitudeTaskVectorTiles({ values: model }, { values: finite }, count, into);
        expect(cut, `count ${count}, simd ${simd}`).toEqual(want);
        expect(firstDifference(into, expectedDelta)).toBe(-1);
      }
    }
  });

  // DARE's norms take three BF16 models per fused pass and the rest one by one; the mix writes BF16
  // straight from the kernel or float32 through the tile store: every route against the decoded merge.
  for (const [count, outDtype] of [[4, 'BF16'], [4, 'F32'], [3, 'F32'], [7, 'BF16']] as const) {
    it(`dare_ties x${count} from bf16 bytes to ${outDtype}: equals mergeCpu on the decoded values, both ways`, () => {
      const m = getMethod('dare_ties');
      const pool = [...finiteModels, ...finiteModels.map((v) => v.map((x, i) => x + (i % 5) * 0.01))];
      const sources = pool.slice(0, count).map((v) => ({ bytes: encodeFromF32(v, 'BF16'), dtype: 'BF16' as const }));
      const baseSource = { bytes: encodeFromF32(finiteBase, 'BF16'), dtype: 'BF16' as const };
      const params = {
        tensorName: 'model.layers.2.mlp.gate_proj.weight',
        shape: [n],
        models: sources.map(() => new Float32Array(0)),
        modelParams: Array.from({ length: count }, (_, i) => ({ weight: 0.3 + 0.1 * i, density: 0.2 + 0.1 * i })),
        modelIndices: Array.from({ length: count }, (_, i) => i),
        global: {},
        seed: 5,
      };
      const want = m.mergeCpu({ ...params, models: sources.map((s) => decodeToF32(s.bytes, 'BF16')), base: decodeToF32(baseSource.bytes, 'BF16') });
      const expected = outDtype === 'BF16' ? encodeFromF32(want, 'BF16') : new Uint8Array(want.buffer);
      const [simd, js] = bothWays(() => {
        const out = new Uint8Array((outDtype === 'BF16' ? 2 : 4) * n);
        m.mergeTiles!(params, sources, baseSource, n, { bytes: out, dtype: outDtype });
        return out;
      });
      expect(js.findIndex((b, i) => b !== expected[i]), 'JS twins').toBe(-1);
      expect(simd.findIndex((b, i) => b !== expected[i]), 'SIMD').toBe(-1);
      // A real merge: most entries moved off the base.
      const merged = outDtype === 'BF16' ? decodeToF32(simd, 'BF16') : new Float32Array(simd.buffer);
      const decodedBase = decodeToF32(baseSource.bytes, 'BF16');
      expect(merged.filter((x, i) => x !== decodedBase[i]).length).toBeGreaterThan(n / 4);
    });
  }

  for (const method of ['dare_ties', 'ties', 'task_arithmetic', 'slerp']) {
    it(`${method}: mergeTiles from bf16 bytes equals mergeCpu on the decoded values, both ways`, () => {
      const m = getMethod(method);
      const count = method === 'slerp' ? 1 : 3;
      const toBf16 = (v: Float32Array) => encodeFromF32(v, 'BF16');
      const sources = finiteModels.slice(0, count).map((v) => ({ bytes: toBf16(v), dtype: 'BF16' as const }));
      const baseSource = { bytes: toBf16(finiteBase), dtype: 'BF16' as const };
      const params = {
        tensorName: 'model.layers.1.self_attn.q_proj.weight',
        shape: [n],
        models: sources.map(() => new Float32Array(0)),
        modelParams: Array.from({ length: count }, (_, i) => ({ weight: 0.4 + 0.2 * i, density: 0.3 + 0.2 * i })),
        modelIndices: Array.from({ length: count }, (_, i) => i),
        global: (method === 'slerp' ? { t: 0.4 } : {}) as Record<string, ParamValue>,
        seed: 11,
      };
      const want = m.mergeCpu({ ...params, models: sources.map((s) => decodeToF32(s.bytes, 'BF16')), base: decodeToF32(baseSource.bytes, 'BF16') });
      const [simd, js] = bothWays(() => {
        const out = new Uint8Array(2 * n);
        m.mergeTiles!(params, sources, baseSource, n, { bytes: out, dtype: 'BF16' });
        return out;
      });
      const expected = encodeFromF32(want, 'BF16');
      expect(js.findIndex((b, i) => b !== expected[i]), 'JS twins').toBe(-1);
      expect(simd.findIndex((b, i) => b !== expected[i]), 'SIMD').toBe(-1);
    });
  }
});
