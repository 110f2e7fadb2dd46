// The DAM result as a recipe, against core's DAM export (the exact per-channel fold): where each
// tensor's coefficients are equal across its channels, the per-tensor-mean recipe run by the engine
// writes the same model as exportDamMerge; with coefficients that vary per channel, every planned
// weight is the mean of its tensor's coefficients and tensors DAM does not learn are averaged.
import { describe, expect, it } from 'vitest';
import { coefficientLayout, coefficientMeans } from '../core/dam/coefficients.ts';
import { exportDamMerge } from '../core/dam/export.ts';
import { perturbedWeights, randomWeights, tinyConfig } from '../core/dam/test-models.ts';
import { execute, plan } from '../core/engine/index.ts';
import { memorySinks, memoryTree } from '../core/io/memory.ts';
import { openModel } from '../core/model/handle.ts';
import { parseRecipeYaml, recipeToYaml } from '../core/recipe/index.ts';
import { openSafetensorsModel, readTensorF32, serializeSafetensors } from '../core/safetensors/index.ts';
import { expectedTensors } from '../core/eval/weights.ts';
import { damRecipe } from './dam-recipe.ts';

const CONFIG_JSON = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2, num_attention_heads: 4,
  num_key_value_heads: 2, head_dim: 4, vocab_size: 13, max_position_embeddings: 32, rms_norm_eps: 1e-5, tie_word_embeddings: false, torch_dtype: 'float32',
};

async function experts(n: number) {
  const config = tinyConfig();
  const shapes = expectedTensors(config);
  const base = randomWeights(config, 5);
  const handles = await Promise.all(Array.from({ length: n }, (_, i) => {
    const w = perturbedWeights(base, 80 + i);
    const st = serializeSafetensors([...w].map(([name, data]) => ({ name, dtype: 'F32' as const, shape: shapes.get(name)!, data: new Uint8Array(data.buffer) })));
    return openModel(memoryTree(new Map([['config.json', new TextEncoder().encode(JSON.stringify(CONFIG_JSON))], ['model.safetensors', st]]), `expert${i}`), undefined, `expert${i}`);
  }));
  return { config, handles };
}

describe('DAM result as a recipe', () => {
  it('with per-tensor-constant coefficients the engine runs the recipe to the exact DAM merge', async () => {
    const { config, handles } = await experts(2);
    const layout = coefficientLayout(config, 2);
    const c = new Float64Array(layout.size);
    layout.blocks.forEach((b, k) => {
      for (let i = 0; i < 2; i++) c.fill(0.2 + 0.05 * k + 0.3 * i, b.offset + i * b.width, b.offset + (i + 1) * b.width);
    });
    const means = coefficientMeans(layout, c).map((m) => ({ ...m, means: [...m.means] }));
    const recipe = damRecipe(handles.map((h) => h.id), means);
    // The recipe survives mergekit YAML (what the studio exports).
    expect(parseRecipeYaml(recipeToYaml(recipe))).toEqual(recipe);
    const exact = memorySinks();
    await exportDamMerge({ experts: handles, layout, coefficients: c, sinks: exact });
    const viaRecipe = memorySinks();
    await execute(plan(recipe, new Map(handles.map((h) => [h.id, h]))), { sinks: viaRecipe });
    const a = await openSafetensorsModel(memoryTree(exact.files));
    const b = await openSafetensorsModel(memoryTree(viaRecipe.files));
    expect([...b.tensors.keys()].sort()).toEqual([...a.tensors.keys()].sort());
    let compared = 0;
    for (const name of a.tensors.keys()) {
      const x = await readTensorF32(a.tensors.get(name)!);
      const y = await readTensorF32(b.tensors.get(name)!);
      // The recipe's weights are rounded to 6 significant digits.
      for (let e = 0; e < x.length; e++) expect(Math.abs(x[e] - y[e]), name).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(x[e])));
      compared++;
    }
    expect(compared).toBeGreaterThan(layout.blocks.length);
  });

  it('with per-channel coefficients each planned weight is its tensor\'s mean; unlearned tensors get 1/N', async () => {
    const { config, handles } = await experts(3);
    const layout = coefficientLayout(config, 3);
    const c = Float64Array.from({ length: layout.size }, (_, i) => 0.1 + ((i * 37) % 17) / 40);
    const means = coefficientMeans(layout, c).map((m) => ({ ...m, means: [...m.means] }));
    const recipe = damRecipe(handles.map((h) => h.id), means);
    const p = plan(recipe, new Map(handles.map((h) => [h.id, h])));
    const byTensor = new Map(means.map((m) => [m.tensor, m.means]));
    let learned = 0;
    for (const step of p.steps) {
      expect(step.global.normalize).toBe(false);
      step.models.forEach((input, i) => {
        const want = byTensor.get(step.output)?.[i] ?? 1 / 3;
        expect(step.modelParams[i].weight as number, `${step.output} ${input.model}`).toBeCloseTo(want, 5);
      });
      if (byTensor.has(step.output)) learned++;
    }
    expect(learned).toBe(layout.blocks.length);
    expect(() => damRecipe(['expert0'], means)).toThrow(/at least two/);
    expect(() => damRecipe(['expert0', 'expert1'], means)).toThrow(/3 values for 2 experts/);
  });
});
