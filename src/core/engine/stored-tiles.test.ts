// The export's tile path (methods read stored bf16/f32 bytes tile by tile, bf16 output encoded as it
// is merged) against the reference: every input decoded whole, mergeCpu, then encoded.
import { describe, expect, it } from 'vitest';
import { encodeFromF32, decodeToF32 } from '../dtype.ts';
import { memorySinks, memoryTree } from '../io/memory.ts';
import { openModel, type ModelHandle } from '../model/handle.ts';
import { parseRecipeYaml } from '../recipe/index.ts';
import { openSafetensorsModel, readTensorF32 } from '../safetensors/index.ts';
import { execute } from './execute.ts';
import { plan } from './plan.ts';
import { llamaConfig, llamaTensors, memoryModel, type TestTensor } from './test-models.ts';

const stored = (t: Record<string, TestTensor>, dtype: 'F32' | 'BF16') => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, { ...v, dtype }]));
const shape = { layers: 2, hidden: 24, vocab: 40 };

const recipes: Record<string, string> = {
  ties: 'models:\n  - model: b\n    parameters: {weight: 0.7, density: 0.4}\n  - model: c\n    parameters: {weight: 0.5, density: 0.6}\n  - model: d\n    parameters: {weight: 0.3, density: 0.5}\nbase_model: a\nmerge_method: ties\n',
  dare_ties: 'models:\n  - model: b\n    parameters: {weight: 0.7, density: 0.4}\n  - model: c\n    parameters: {weight: 0.5, density: 0.6}\n  - model: d\n    parameters: {weight: 0.3, density: 0.5}\nbase_model: a\nmerge_method: dare_ties\nrandom_seed: 3\n',
  della: 'models:\n  - model: b\n    parameters: {weight: 0.7, density: 0.4, epsilon: 0.1}\n  - model: c\n    parameters: {weight: 0.5, density: 0.6, epsilon: 0.1}\nbase_model: a\nmerge_method: della\n',
  slerp: 'models:\n  - model: b\nbase_model: a\nmerge_method: slerp\nparameters: {t: 0.35}\n',
};

describe('export through the methods\' tile path', () => {
  for (const [method, yaml] of Object.entries(recipes)) {
    it(`${method}: bf16 + f32 stored inputs, f32 and bf16 output equal decode -> mergeCpu -> encode`, async () => {
      const handles = new Map<string, ModelHandle>();
      const models = { a: 'BF16', b: 'F32', c: 'BF16', d: 'BF16' } as const;
      for (const [i, [name, dtype]] of Object.entries(models).entries()) {
        handles.set(name, await openModel(memoryModel(name, llamaConfig(shape.layers, shape.vocab), stored(llamaTensors({ ...shape, seed: 31 + i }), dtype)), undefined, name));
      }
      const p = plan(parseRecipeYaml(yaml), handles);
      expect(p.method.mergeTiles).toBeDefined();
      for (const dtype of ['F32', 'BF16'] as const) {
        const sinks = memorySinks();
        await execute(p, { sinks, dtype });
        const written = await openSafetensorsModel(memoryTree(sinks.files, 'out'));
        for (const step of p.steps) {
          const want = p.method.mergeCpu({
            tensorName: step.output,
            shape: step.shape,
            models: await Promise.all(step.models.map((m) => readTensorF32(m.info))),
            modelParams: step.modelParams,
            modelIndices: step.models.map((m) => m.index),
            base: step.base ? await readTensorF32(step.base.info) : undefined,
            global: step.global,
            seed: p.seed,
          });
          const expected = dtype === 'F32' ? want : decodeToF32(encodeFromF32(want, 'BF16'), 'BF16');
          const got = await readTensorF32(written.tensors.get(step.output)!);
          expect(Array.from(got), `${step.output} as ${dtype}`).toEqual(Array.from(expected));
        }
      }
    });
  }
});
