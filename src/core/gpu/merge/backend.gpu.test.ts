// Every GPU merge method against the CPU reference (and mergekit's golden output) on the golden
// inputs, whole-tensor and with a binding budget so small that every pass streams many chunks.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { requireGpu, type GpuContext } from '../device.ts';
import { KernelRunner } from '../runner.ts';
import { WebGpuMergeBackend, type GpuMergeInput } from './backend.ts';
import { getMethod, METHODS } from '../../methods/index.ts';
import { GOLDEN_CASES, goldenInput, goldenTolerance, maxAbsDiff, readGoldenTensors, type GoldenCase } from '../../methods/golden-fixtures.ts';
import { decodeToF32, encodeFromF32 } from '../../dtype.ts';
import type { MergeTensorInput } from '../../methods/types.ts';
import { mix32 } from '../../methods/random.ts';
import { StackedTensors } from './tensors.ts';
import { valuesAtAscendingRanks } from './rank-select.ts';

/** Golden cases whose output records a mergekit bug the CPU reference fixes on purpose. */
const MERGEKIT_BUG_CASES = new Set(['breadcrumbs_gamma0_zeroes_all_64x48', 'breadcrumbs_default_gamma_small_tensor_7x13']);

let gpu: GpuContext;
let backend: WebGpuMergeBackend;
let tiny: WebGpuMergeBackend;
let small: WebGpuMergeBackend;
const withBudget = (bindingBudget: number) => new WebGpuMergeBackend(new KernelRunner({ ...gpu, capabilities: { ...gpu.capabilities, bindingBudget } }));
beforeAll(async () => {
  gpu = await requireGpu();
  backend = new WebGpuMergeBackend(new KernelRunner(gpu));
  // 3 KiB per binding: a few hundred elements per chunk, so golden tensors span many chunks.
  tiny = withBudget(3072);
  // 64 KiB: the 65536-element statistical cases in about a dozen chunks (SwiftShader is slow per dispatch).
  small = withBudget(65536);
});
afterAll(() => {
  for (const b of [backend, tiny, small]) b?.runner.dispose();
});

/** ~1e-5 relative: f32 GPU reductions against the CPU reference's f64 ones. */
function tolerance(reference: Float32Array): number {
  let absmax = 0;
  for (const x of reference) absmax = Math.max(absmax, Math.abs(x));
  return 1e-5 * Math.max(1, absmax);
}

async function gpuMerge(b: WebGpuMergeBackend, method: string, input: GpuMergeInput): Promise<Float32Array> {
  const out = await b.mergeTensor(method, input);
  if (out.dtype !== 'F32') throw new Error('expected F32 output');
  return out.values;
}

const gpuPlaced = (c: GoldenCase) => new WebGpuMergeBackend(null as unknown as KernelRunner).placement(c.method) !== 'cpu';
const exactCases = GOLDEN_CASES.filter((c) => c.kind === 'exact' && gpuPlaced(c));

describe('GPU merge == CPU reference on the golden inputs', () => {
  it('runs every registered method on the GPU', () => {
    const placement = Object.keys(METHODS).map((m) => new WebGpuMergeBackend(null as unknown as KernelRunner).placement(m));
    expect(placement.length).toBe(20);
    expect(placement.every((p) => p === 'gpu')).toBe(true);
  });

  it.each(exactCases.map((c) => [c.id, c] as const))('%s', async (_id, c) => {
    const input = await goldenInput(c);
    const cpu = getMethod(c.method).mergeCpu(input);
    const whole = await gpuMerge(backend, c.method, input);
    expect(maxAbsDiff(whole, cpu)).toBeLessThanOrEqual(tolerance(cpu));
    const chunked = await gpuMerge(tiny, c.method, input);
    expect(maxAbsDiff(chunked, cpu)).toBeLessThanOrEqual(tolerance(cpu));
    if (!MERGEKIT_BUG_CASES.has(c.id)) {
      const golden = (await readGoldenTensors(c.id, 'output')).get('out')!;
      expect(maxAbsDiff(whole, golden)).toBeLessThanOrEqual(goldenTolerance(c));
    }
  });
});

describe('parameter variants the golden subset lacks, on golden inputs (CPU reference as oracle)', () => {
  const variants: [string, string, Record<string, unknown>, ((i: MergeTensorInput) => MergeTensorInput)?][] = [
    ['nuslerp_base_flatten_w64_64x48', 'nuslerp', { nuslerp_flatten: false }],
    ['nuslerp_base_flatten_w64_64x48', 'nuslerp', { nuslerp_flatten: false, nuslerp_row_wise: true }],
    ['nuslerp_nobase_flatten_w13_7x13', 'nuslerp', { nuslerp_flatten: false, nuslerp_row_wise: true }],
    ['multislerp_base_3m_64x48', 'multislerp', { normalize_weights: false }],
    ['ties_d05_w11_3m_norm_256x32', 'ties', {}, (i) => ({ ...i, modelParams: i.modelParams.map((p, k) => ({ ...p, density: [0, 1, 0.001][k] })) })],
    ['breadcrumbs_d08_g005_3m_256x32', 'breadcrumbs', {}, (i) => ({ ...i, modelParams: i.modelParams.map((p) => ({ ...p, gamma: 0 })) })],
    ['arcee_fusion_128', 'arcee_fusion', {}, (i) => ({ ...i, shape: [2, 2], models: [i.models[0].slice(0, 4)], base: i.base!.slice(0, 4) })],
    ['arcee_fusion_128', 'arcee_fusion', {}, (i) => ({ ...i, shape: [5, 20], models: [i.models[0].slice(0, 100)], base: i.base!.slice(0, 100) })],
  ];
  it.each(variants.map(([id, method, global, edit]) => [`${method} ${JSON.stringify(global)}${edit ? ' (edited inputs)' : ''} on ${id}`, id, method, global, edit] as const))(
    '%s',
    async (_name, id, method, global, edit) => {
      const c = GOLDEN_CASES.find((x) => x.id === id)!;
      const golden = await goldenInput(c);
      const input = (edit ?? ((i) => i))({ ...golden, global: { ...golden.global, ...(global as Record<string, never>) } });
      const cpu = getMethod(method).mergeCpu(input);
      for (const b of [backend, tiny]) {
        const out = await gpuMerge(b, method, input);
        expect(maxAbsDiff(out, cpu)).toBeLessThanOrEqual(tolerance(cpu));
      }
    },
  );
});

describe('random masks (DARE, DELLA) on the GPU', () => {
  const stat = (id: string) => GOLDEN_CASES.find((c) => c.id === id)!;

  it.each(['stat_dare_linear_d05_w64', 'stat_dare_ties_d05_w11', 'stat_dare_linear_d02_w11', 'stat_della_d05_e015_w11', 'stat_della_linear_d03_e01_w64'])(
    '%s: same output as the CPU (seeds, whole and chunked)',
    async (id) => {
      const c = stat(id);
      const input = await goldenInput(c);
      // della's O(row) ranking per entry is slow on SwiftShader; its chunked paths have their own test.
      const dellaCase = c.method.startsWith('della');
      for (const seed of dellaCase ? [0] : [0, 12345]) {
        const seeded = { ...input, seed };
        const cpu = getMethod(c.method).mergeCpu(seeded);
        for (const b of dellaCase ? [backend] : [backend, small]) {
          const out = await gpuMerge(b, c.method, seeded);
          expect(maxAbsDiff(out, cpu)).toBeLessThanOrEqual(tolerance(cpu));
        }
      }
    },
  );

  it('della ranks rows on the GPU (rows along dim 1, also strided in 3-D) and on the CPU when a row block exceeds a binding', async () => {
    const c = stat('stat_della_d05_e015_w11');
    const full = await goldenInput(c);
    const rows = 48;
    const part = (t: Float32Array) => t.slice(0, rows * 256);
    for (const shape of [[rows, 256], [rows, 16, 16]]) {
      const input: MergeTensorInput = { ...full, shape, models: full.models.map(part), base: part(full.base!), seed: 5 };
      const cpu = getMethod('della').mergeCpu(input);
      // whole tensor; 64 KiB (GPU ranking, several row blocks per chunk); 3 KiB (a 256-entry block does not fit: CPU ranking).
      for (const b of [backend, small, tiny]) {
        const out = await gpuMerge(b, 'della', input);
        expect(maxAbsDiff(out, cpu)).toBeLessThanOrEqual(tolerance(cpu));
      }
    }
  });

  it('keeps exactly the entries the CPU keeps (one model, no rescale: out - base is the masked delta)', async () => {
    const c = stat('stat_dare_linear_d05_norescale');
    const full = await goldenInput(c);
    const input: MergeTensorInput = { ...full, models: [full.models[1]], modelParams: [{ weight: 1, density: 0.3 }], modelIndices: [7], global: { rescale: false, normalize: false }, seed: 99 };
    const cpu = getMethod('dare_linear').mergeCpu(input);
    for (const b of [backend, small]) {
      const out = await gpuMerge(b, 'dare_linear', input);
      let kept = 0;
      let disagreements = 0;
      for (let j = 0; j < out.length; j++) {
        const keptGpu = out[j] !== input.base![j];
        const keptCpu = cpu[j] !== input.base![j];
        if (keptGpu !== keptCpu) disagreements++;
        if (keptGpu) kept++;
      }
      expect(disagreements).toBe(0);
      expect(kept / out.length).toBeGreaterThan(0.28);
      expect(kept / out.length).toBeLessThan(0.32);
    }
  });
});

describe('exact top-k on the GPU', () => {
  it('keeps exactly k entries and breaks magnitude ties by lowest index, across chunks', async () => {
    // Magnitudes drawn from 8 values: every cut falls inside a long run of equal |x|.
    const n = 5000;
    const base = new Float32Array(n);
    const model = Float32Array.from({ length: n }, (_, j) => ((mix32(j) >>> 29) - 3.5) * 0.25);
    const input: MergeTensorInput = { tensorName: 'ties.probe', shape: [50, 100], models: [model], modelParams: [{ weight: 1, density: 0.37 }], modelIndices: [0], base, global: { normalize: false }, seed: 0 };
    const cpu = getMethod('ties').mergeCpu(input);
    for (const b of [backend, tiny]) {
      const out = await gpuMerge(b, 'ties', input);
      expect(out.filter((x) => x !== 0).length).toBe(Math.trunc(0.37 * n));
      expect(Array.from(out)).toEqual(Array.from(cpu));
    }
    // breadcrumbs: both cuts of the kept band [top, n - bottom) fall inside runs of equal |x|.
    const band = { ...input, modelParams: [{ weight: 1, density: 0.6, gamma: 0.1 }] };
    const cpuBand = getMethod('breadcrumbs').mergeCpu(band);
    for (const b of [backend, tiny]) {
      const out = await gpuMerge(b, 'breadcrumbs', band);
      expect(out.filter((x) => x !== 0).length).toBe(Math.trunc(0.6 * n));
      expect(Array.from(out)).toEqual(Array.from(cpuBand));
    }
  });
});

describe('order statistics by radix select (arcee_fusion quartiles)', () => {
  it('equals the sorted values at every asked rank, negatives, duplicates and ±0 included, across chunks', async () => {
    const n = 3001;
    const row = Float32Array.from({ length: n }, (_, j) => ((mix32(j + 17) >>> 20) - 2048) / 64);
    row[5] = -0;
    row[6] = 0;
    const sorted = Float64Array.from(row).sort();
    const ranks = [0, 1, 750, 1500, 2250, n - 2, n - 1];
    for (const b of [backend, tiny]) {
      const tensors = new StackedTensors(b.runner, [row], n);
      const values = await valuesAtAscendingRanks(b.runner, tensors, 0, ranks);
      tensors.dispose();
      expect(values).toEqual(ranks.map((r) => sorted[r]));
    }
  });
});

describe('packed 16-bit tensors', () => {
  it.each(['slerp_t03_7x13', 'ties_d05_w11_3m_norm_256x32', 'linear_3m_w123_norm_128'])('%s: BF16 and F16 inputs and outputs match the CPU on the decoded values', async (id) => {
    const c = GOLDEN_CASES.find((x) => x.id === id)!;
    const input = await goldenInput(c);
    for (const dtype of ['BF16', 'F16'] as const) {
      const pack = (t: Float32Array) => ({ dtype, bytes: encodeFromF32(t, dtype) });
      const decoded = (t: Float32Array) => decodeToF32(encodeFromF32(t, dtype), dtype);
      const cpu = getMethod(c.method).mergeCpu({ ...input, models: input.models.map(decoded), base: input.base && decoded(input.base) });
      for (const b of [backend, small]) {
        const out = await b.mergeTensor(c.method, { ...input, models: input.models.map(pack), base: input.base && pack(input.base) }, { outDType: dtype });
        expect(out.dtype).toBe(dtype);
        if (out.dtype === 'F32') return;
        const values = decodeToF32(out.bytes, dtype);
        // One unit in the last 16-bit place of the largest output bounds a rounding-boundary flip.
        const ulp = dtype === 'BF16' ? 2 ** -7 : 2 ** -10;
        expect(maxAbsDiff(values, decoded(cpu))).toBeLessThanOrEqual(ulp * Math.max(1, ...Array.from(cpu, Math.abs)));
      }
    }
  });
});

describe('bad input and cancellation', () => {
  it('names the tensor and model when a model has the wrong element count', async () => {
    const c = GOLDEN_CASES.find((x) => x.id === 'linear_w64_norm_64x48')!;
    const input = await goldenInput(c);
    const bad = { ...input, models: [input.models[0], input.models[1].subarray(0, 100)] };
    await expect(backend.mergeTensor('linear', bad)).rejects.toThrow(/golden\.linear_w64_norm_64x48.*model #1.*100 elements, expected 3072/);
  });

  it('fills a preallocated output, and refuses one that aliases an input', async () => {
    const c = GOLDEN_CASES.find((x) => x.id === 'slerp_t03_7x13')!;
    const input = await goldenInput(c);
    const out = new Float32Array(91);
    const result = await tiny.mergeTensor('slerp', { ...input, out });
    expect(result.dtype === 'F32' && result.values).toBe(out);
    expect(maxAbsDiff(out, getMethod('slerp').mergeCpu(input))).toBeLessThanOrEqual(1e-5 * 4);
    await expect(tiny.mergeTensor('slerp', { ...input, out: input.models[0] })).rejects.toThrow(/must not share memory with an input/);
  });

  it('names the tensor and model when packed bytes are not whole 16-bit elements', async () => {
    const c = GOLDEN_CASES.find((x) => x.id === 'linear_w64_norm_64x48')!;
    const input = await goldenInput(c);
    const bad = { ...input, models: [input.models[0], { dtype: 'BF16' as const, bytes: new Uint8Array(6143) }] };
    await expect(backend.mergeTensor('linear', bad)).rejects.toThrow(/golden\.linear_w64_norm_64x48' of model #1 has 6143 bytes/);
  });

  it('rejects an unknown method with the registry suggestion', async () => {
    const c = GOLDEN_CASES.find((x) => x.id === 'linear_w64_norm_64x48')!;
    await expect(backend.mergeTensor('lineer', await goldenInput(c))).rejects.toThrow(/did you mean 'linear'/);
  });

  it('stops between chunks when the signal aborts', async () => {
    const c = GOLDEN_CASES.find((x) => x.id === 'ties_d05_w11_3m_norm_256x32')!;
    const input = await goldenInput(c);
    const controller = new AbortController();
    controller.abort(new Error('user cancelled'));
    await expect(tiny.mergeTensor('ties', input, { signal: controller.signal })).rejects.toThrow('user cancelled');
  });
});
