// The live loop on the demo models (Dawn): inputs resident on the GPU, merged straight into the
// evaluator's 16-bit weights. Its logits and scores after a change equal the existing full path
// (the engine's in-memory merge on the GPU, uploaded to a fresh WebGPU runtime) and the CPU path
// (CPU merge, CPU runtime); a change re-merges only the tensors it touches; a cancelled update
// leaves a loop that the next update completes.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plan, type Plan } from '../engine/index.ts';
import { createWebGpuBackend } from '../engine/webgpu-backend.ts';
import type { MergeBackend } from '../engine/backend.ts';
import { requireGpu, type GpuContext } from '../gpu/device.ts';
import { nodeFolderTree } from '../io/node-file.ts';
import { openModel, type ModelHandle } from '../model/handle.ts';
import { parseRecipeYaml } from '../recipe/index.ts';
import { sliceRows } from './gpu.ts';
import { startLiveLoop, type LiveLoop } from './live.ts';
import { runtimeForPlan } from './merged.ts';
import { evaluateTask } from './metrics.ts';
import { parseTaskJsonl } from './tasks.ts';

const ZOO = 'public/zoo/tiny-llama';
const PROBE = Int32Array.from([1, 5, 9, 14, 20, 7, 3, 11, 30, 2]);
let gpu: GpuContext;
let gpuMerge: MergeBackend;
let handles: Map<string, ModelHandle>;
const loops: LiveLoop[] = [];

/** ties over the three experts, with layer 2's weight of `caesar` set apart (a one-block drag). */
function recipe(layer2: number, o: { density?: number; dtype?: string; normalize?: boolean } = {}): Plan {
  const yaml = `merge_method: ties
base_model: base
dtype: ${o.dtype ?? 'bfloat16'}
parameters:
  density: ${o.density ?? 0.6}
  normalize: ${o.normalize ?? true}
models:
  - model: caesar
    parameters:
      weight: [{filter: layers.2., value: ${layer2}}, {value: 0.5}]
  - model: reverse
    parameters:
      weight: 0.4
  - model: sort
    parameters:
      weight: 0.3
`;
  return plan(parseRecipeYaml(yaml, { source: 'live.yml' }), handles);
}

beforeAll(async () => {
  gpu = await requireGpu();
  gpuMerge = await createWebGpuBackend();
  handles = new Map();
  for (const name of ['base', 'caesar', 'reverse', 'sort']) handles.set(name, await openModel(nodeFolderTree(`${ZOO}/${name}`), undefined, name));
});

afterAll(() => {
  for (const l of loops) l.dispose();
  gpuMerge.dispose?.();
});

async function live(p: Plan, opts: Parameters<typeof startLiveLoop>[1] = {}): Promise<LiveLoop> {
  const l = await startLiveLoop(p, { gpu, ...opts });
  loops.push(l);
  return l;
}

function maxDiff(x: Float32Array, y: Float32Array): number {
  expect(x.length).toBe(y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

/** Today's path on the GPU (merge into host memory, upload) and the CPU path, for one plan. */
async function references(p: Plan): Promise<{ gpuLogits: Float32Array; cpuLogits: Float32Array }> {
  const g = await runtimeForPlan(p, { backend: 'webgpu', mergeBackend: gpuMerge });
  const c = await runtimeForPlan(p, { backend: 'cpu' });
  try {
    return { gpuLogits: await g.model.logits(PROBE), cpuLogits: await c.model.logits(PROBE) };
  } finally {
    g.model.dispose();
    c.model.dispose();
  }
}

describe('live loop (GPU-resident inputs, merged into the evaluator)', () => {
  it('after a one-block change: re-merges only that block, and its logits and scores equal the full GPU path and the CPU path', async () => {
    const loop = await live(recipe(0.5));
    // Every input tensor of the 4 models the plan reads is resident (the budget is ample).
    expect(loop.residency.resident).toBe(loop.residency.inputs);
    expect(loop.residency.streamed).toBe(0);
    expect(loop.remergedTotal).toBe(recipe(0.5).steps.length);
    const before = await loop.model.logits(PROBE);
    const first = await references(recipe(0.5));
    expect(maxDiff(before, first.gpuLogits)).toBeLessThan(1e-5);
    expect(maxDiff(before, first.cpuLogits)).toBeLessThan(1e-4);

    const update = await loop.update(recipe(0.9));
    // Layer 2 of a Llama: q, k, v, o, gate, up, down and the two norms.
    expect(update.remerged).toBe(9);
    expect(update.tensors.every((t) => t.startsWith('model.layers.2.'))).toBe(true);
    expect(update.nonFinite).toEqual([]);
    const after = await loop.model.logits(PROBE);
    const ref = await references(recipe(0.9));
    expect(maxDiff(after, ref.gpuLogits)).toBeLessThan(1e-5);
    expect(maxDiff(after, ref.cpuLogits)).toBeLessThan(1e-4);
    // The change really moved the model.
    expect(maxDiff(after, before)).toBeGreaterThan(1e-3);
    // Nothing changed: nothing is re-merged.
    expect((await loop.update(recipe(0.9))).remerged).toBe(0);

    // Scores on a task: the live model against the full path's runtime.
    const task = parseTaskJsonl(readFileSync('public/zoo/tasks/caesar.ppl.jsonl', 'utf8'), 'caesar.ppl.jsonl');
    const full = await runtimeForPlan(recipe(0.9), { backend: 'webgpu', mergeBackend: gpuMerge });
    try {
      const a = await evaluateTask(loop.model, loop.tokenizer, task, { limit: 8 });
      const b = await evaluateTask(full.model, full.tokenizer, task, { limit: 8 });
      expect(a.metrics.perplexity).toBeCloseTo(b.metrics.perplexity, 5);
    } finally {
      full.model.dispose();
    }
  });

  it('streams the inputs that do not fit the budget, with the same result', async () => {
    const p = recipe(0.7);
    // A budget that leaves room for some inputs only.
    const all = await live(p);
    const budget = all.residency.weightBytes + 3 * gpu.capabilities.bindingBudget + 256 * 1024 ** 2 + all.residency.residentBytes / 3;
    const part = await live(p, { gpuBudgetBytes: budget });
    expect(part.residency.resident).toBeGreaterThan(0);
    expect(part.residency.streamed).toBeGreaterThan(0);
    expect(part.residency.resident + part.residency.streamed).toBe(part.residency.inputs);
    expect(maxDiff(await part.model.logits(PROBE), await all.model.logits(PROBE))).toBe(0);
  });

  it('merges into weights held in row slices (a lowered binding budget): equal to the full GPU path and the CPU path', async () => {
    // 40000 bytes: a 352 x 128 MLP matrix (180 KB as float32) is five slices of 78 rows, the
    // 128 x 352 down projection five of 28; merge chunks and resident inputs are cut at other
    // element offsets, so chunks straddle slice boundaries.
    const budget = 40_000;
    expect(sliceRows(352, 128, budget)).toBe(78);
    expect(sliceRows(128, 352, budget)).toBe(28);
    const small: GpuContext = { ...gpu, capabilities: { ...gpu.capabilities, bindingBudget: budget } };
    for (const dtype of ['bfloat16', 'float32']) {
      // Inputs read and uploaded in pieces of 1002 elements: pieces end inside rows and slices.
      const loop = await live(recipe(0.5, { dtype }), { gpu: small, uploadPieceElements: 1002 });
      expect(loop.residency.resident).toBe(loop.residency.inputs);
      await loop.update(recipe(0.9, { dtype }));
      const ref = await references(recipe(0.9, { dtype }));
      const logits = await loop.model.logits(PROBE);
      expect(maxDiff(logits, ref.gpuLogits)).toBeLessThan(1e-5);
      expect(maxDiff(logits, ref.cpuLogits)).toBeLessThan(1e-4);
      // And equal to a live loop over unsliced weights.
      const whole = await live(recipe(0.9, { dtype }));
      expect(maxDiff(logits, await whole.model.logits(PROBE))).toBeLessThan(1e-6);
    }
  });

  it('a cancelled update stops between tensors; the next one merges what is left and ends equal to the full path', async () => {
    const loop = await live(recipe(0.5));
    const controller = new AbortController();
    // A change to every tensor (a global parameter), cancelled after the third one is merged.
    const changed = recipe(0.5, { density: 0.8 });
    await expect(loop.update(changed, { signal: controller.signal, onProgress: (e) => { if (e.done === 3) controller.abort(new DOMException('next change', 'AbortError')); } })).rejects.toThrow(/next change|abort/i);
    const rest = await loop.update(changed);
    expect(rest.remerged).toBe(changed.steps.length - 3);
    const ref = await references(changed);
    expect(maxDiff(await loop.model.logits(PROBE), ref.gpuLogits)).toBeLessThan(1e-5);
  });

  it('finds NaN/Inf in the merged weights on the GPU and names the tensor', async () => {
    // float16 tops out at 65504: layer 2's weight of 1e9, unnormalized, overflows when packed.
    const f16 = { dtype: 'float16', normalize: false };
    const loop = await live(recipe(0.5, f16));
    const huge = recipe(1e9, f16);
    // The engine's own check (CPU) refuses this merge too.
    await expect(runtimeForPlan(huge, { backend: 'cpu' })).rejects.toThrow(/NaN|infinite/);
    await expect(loop.update(huge)).rejects.toThrow(/model\.layers\.2\..*(NaN|infinite)/s);
    // The bad tensors are merged again by the next update (their weights hold Inf now).
    expect((await loop.update(recipe(0.5, f16))).remerged).toBeGreaterThan(0);
    const kept = await live(recipe(0.5, f16), { allowNonFinite: true });
    const u = await kept.update(huge);
    expect(u.nonFinite.length).toBeGreaterThan(0);
    expect(u.nonFinite.every((n) => n.tensor.startsWith('model.layers.2.') && n.count > 0)).toBe(true);
  });
});
