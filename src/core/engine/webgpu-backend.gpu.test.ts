// The engine on the WebGPU backend gives the CPU backend's result for whole Llama-shaped models.
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

describe('WebGPU backend in the engine', () => {
  for (const [method, extra] of [['ties', 'density: 0.6'], ['dare_ties', 'density: 0.5']] as const) {
    it(`${method}: every tensor equals the CPU backend's`, async () => {
      const recipe = parseRecipeYaml(`models:\n  - model: a\n    parameters: {weight: [1, 0.5], ${extra}}\n  - model: b\n    parameters: {weight: 0.7, ${extra}}\nbase_model: base\nmerge_method: ${method}\nrandom_seed: 3\n`);
      const p = plan(recipe, handles);
      const cpu = await mergeToMemory(p, { backend: cpuBackend });
      const onGpu = await mergeToMemory(p, { backend: gpu });
      expect(onGpu.size).toBe(cpu.size);
      for (const [name, want] of cpu) {
        const got = onGpu.get(name)!;
        const scale = Math.max(1, ...Array.from(want, Math.abs));
        for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i]), `${name}[${i}]`).toBeLessThanOrEqual(1e-5 * scale);
      }
    });
  }
});
