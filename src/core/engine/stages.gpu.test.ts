// A multi-stage recipe with its stages merged on the WebGPU backend: each tensor is the GPU merge
// of the stage its selector picks (exactly, since a 0/1 linear selector passes it through), and
// matches the CPU backend's staged result within the kernels' tolerance.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openModel, type ModelHandle } from '../model/handle.ts';
import { parseRecipeYaml } from '../recipe/index.ts';
import { cpuBackend, type MergeBackend } from './backend.ts';
import { mergeToMemory } from './execute.ts';
import { plan } from './plan.ts';
import { llamaConfig, llamaTensors, memoryModel } from './test-models.ts';
import { createWebGpuBackend } from './webgpu-backend.ts';

let gpu: MergeBackend;
const handles = new Map<string, ModelHandle>();
beforeAll(async () => {
  gpu = await createWebGpuBackend();
  for (const [id, seed] of [['base', 1], ['a', 2], ['b', 3]] as const) {
    handles.set(id, await openModel(memoryModel(id, llamaConfig(2, 8), llamaTensors({ layers: 2, hidden: 4, vocab: 8, seed })), undefined, id));
  }
});
afterAll(() => gpu?.dispose?.());

const STAGED = parseRecipeYaml(`name: ties-stage
merge_method: ties
base_model: base
models:
  - model: a
    parameters: {weight: 1, density: 0.6}
  - model: b
    parameters: {weight: 0.7, density: 0.6}
dtype: float32
---
name: ta-stage
merge_method: task_arithmetic
base_model: base
models:
  - model: a
    parameters: {weight: 0.5}
  - model: b
    parameters: {weight: 0.5}
dtype: float32
---
merge_method: linear
models:
  - model: ties-stage
    parameters: {weight: [{filter: mlp, value: 1}, {value: 0}]}
  - model: ta-stage
    parameters: {weight: [{filter: mlp, value: 0}, {value: 1}]}
dtype: float32
`);

describe('multi-stage recipe on the WebGPU backend', () => {
  it('picks each tensor from the GPU-merged stage and agrees with the CPU', async () => {
    const onGpu = await mergeToMemory(plan(STAGED, handles, { stageBackend: gpu }), { backend: gpu });
    const cpu = await mergeToMemory(plan(STAGED, handles), { backend: cpuBackend });
    const ties = await mergeToMemory(plan({ ...STAGED.stages![0], name: undefined }, handles), { backend: gpu });
    const ta = await mergeToMemory(plan({ ...STAGED.stages![1], name: undefined }, handles), { backend: gpu });
    expect(onGpu.size).toBe(cpu.size);
    for (const [name, got] of onGpu) {
      expect(Array.from(got), name).toEqual(Array.from((name.includes('mlp') ? ties : ta).get(name)!));
      const want = cpu.get(name)!;
      const scale = Math.max(1, ...Array.from(want, Math.abs));
      for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i]), `${name}[${i}]`).toBeLessThanOrEqual(1e-5 * scale);
    }
  });
});
