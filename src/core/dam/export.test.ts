// DAM export through the engine: at the initial coefficients (1/N everywhere) the written model is
// exactly the engine's own uniform linear merge; the coefficients file holds [models, channels].
import { describe, expect, it } from 'vitest';
import { execute, plan } from '../engine/index.ts';
import { memorySinks, memoryTree } from '../io/memory.ts';
import { openModel } from '../model/handle.ts';
import { openSafetensorsModel, readTensorF32, serializeSafetensors } from '../safetensors/index.ts';
import { coefficientLayout, initialCoefficients } from './coefficients.ts';
import { COEFFICIENTS_FILE, exportDamMerge } from './export.ts';
import { perturbedWeights, randomWeights, tinyConfig } from './test-models.ts';

const CONFIG_JSON = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2, num_attention_heads: 4,
  num_key_value_heads: 2, head_dim: 4, vocab_size: 13, max_position_embeddings: 32, rms_norm_eps: 1e-5, tie_word_embeddings: false, torch_dtype: 'float32',
};

function modelFiles(weights: Map<string, Float32Array>, shapes: Map<string, number[]>, name: string) {
  const st = serializeSafetensors([...weights].map(([n, w]) => ({ name: n, dtype: 'F32' as const, shape: shapes.get(n)!, data: new Uint8Array(w.buffer) })));
  return memoryTree(new Map([['config.json', new TextEncoder().encode(JSON.stringify(CONFIG_JSON))], ['model.safetensors', st]]), name);
}

describe('DAM export', () => {
  it('at 1/N equals the engine\'s uniform linear merge byte for byte, and writes the coefficients', async () => {
    const config = tinyConfig();
    const { expectedTensors } = await import('../eval/weights.ts');
    const shapes = expectedTensors(config);
    const base = randomWeights(config, 3);
    const handles = await Promise.all([0, 1, 2].map((i) => openModel(modelFiles(perturbedWeights(base, 60 + i), shapes, `m${i}`), undefined, `m${i}`)));
    const layout = coefficientLayout(config, 3);
    const dam = memorySinks();
    await exportDamMerge({ experts: handles, layout, coefficients: initialCoefficients(layout), sinks: dam });
    const linear = memorySinks();
    await execute(plan({ merge_method: 'linear', models: handles.map((h) => ({ model: h.id, parameters: { weight: 1 } })) }, new Map(handles.map((h) => [h.id, h]))), { sinks: linear });
    // Folding at 1/3 sums c * w per model, the linear merge sums w * weight / total: equal to rounding.
    const a = await openSafetensorsModel(memoryTree(dam.files)), b = await openSafetensorsModel(memoryTree(linear.files));
    expect([...a.tensors.keys()].sort()).toEqual([...b.tensors.keys()].sort());
    for (const name of a.tensors.keys()) {
      const x = await readTensorF32(a.tensors.get(name)!), y = await readTensorF32(b.tensors.get(name)!);
      for (let e = 0; e < x.length; e++) expect(Math.abs(x[e] - y[e])).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(y[e])));
    }
    expect(new TextDecoder().decode(dam.files.get('mergekit_config.yml'))).toMatch(/merge_method: dam/);
    expect(new TextDecoder().decode(dam.files.get('README.md'))).toMatch(/Differentiable Adaptive Merging/);
    const coeffs = await openSafetensorsModel(memoryTree(new Map([['c.safetensors', dam.files.get(COEFFICIENTS_FILE)!]])));
    expect(coeffs.tensors.size).toBe(layout.blocks.length);
    expect(coeffs.tensors.get('model.layers.1.mlp.down_proj.weight')!.shape).toEqual([3, 12]);
    expect(coeffs.metadata.models).toBe(JSON.stringify(['m0', 'm1', 'm2']));
    expect(Array.from(await readTensorF32(coeffs.tensors.get('lm_head.weight')!))).toEqual(new Array(3 * 8).fill(Math.fround(1 / 3)));
  });

  it('removes its files when the export fails', async () => {
    const config = tinyConfig();
    const { expectedTensors } = await import('../eval/weights.ts');
    const base = randomWeights(config, 3);
    const handles = await Promise.all([0, 1].map((i) => openModel(modelFiles(perturbedWeights(base, 70 + i), expectedTensors(config), `m${i}`), undefined, `m${i}`)));
    const layout = coefficientLayout(config, 2);
    const sinks = memorySinks();
    const failing = { ...sinks, create: async (n: string) => { if (n === 'config.json') throw new Error('disk full'); return sinks.create(n); } };
    await expect(exportDamMerge({ experts: handles, layout, coefficients: initialCoefficients(layout), sinks: failing })).rejects.toThrow('disk full');
    expect([...sinks.files.keys()]).toEqual([]);
  });
});
