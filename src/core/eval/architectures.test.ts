// The CPU runtime against an independent PyTorch forward (fixtures/make_arch_references.py) on
// tiny random models of each supported variant: Qwen3 q/k norms with bf16 weights, Llama-3 RoPE
// scaling at long positions with attention biases and f16 weights, Qwen2 q/k/v biases in f32.
import { describe, expect, it } from 'vitest';
import { MergeStudioError } from '../errors.ts';
import { parseCausalLMConfig } from './config.ts';
import { CpuCausalLM } from './cpu.ts';
import { ARCH_FIXTURES, loadArchFixture, maxDiffToRows } from './fixtures/arch-fixtures.ts';

describe('CPU runtime vs PyTorch on each architecture variant', () => {
  for (const name of ARCH_FIXTURES) {
    it(`${name}: logits of the last 12 positions agree within 1e-4`, async () => {
      const f = await loadArchFixture(name);
      const model = new CpuCausalLM(f.config, f.weights);
      expect(maxDiffToRows(await model.logits(f.ids), f.config.vocabSize, f.logits)).toBeLessThan(1e-4);
    });
  }

  it('refuses, by name, sequences longer than a sliding attention window', async () => {
    const f = await loadArchFixture('qwen2-bias-f32');
    const model = new CpuCausalLM({ ...f.config, slidingWindow: 8 }, f.weights);
    await expect(model.logits(f.ids.subarray(0, 8))).resolves.toHaveLength(8 * f.config.vocabSize);
    await expect(model.logits(f.ids.subarray(0, 9))).rejects.toThrow(/9 positions is longer than the model's sliding_window \(8\)/);
    expect(parseCausalLMConfig({ model_type: 'mistral', hidden_size: 8, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 2, vocab_size: 4, sliding_window: 4096 }, 'm').slidingWindow).toBe(4096);
    expect(parseCausalLMConfig({ model_type: 'qwen2', hidden_size: 8, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 2, vocab_size: 4, sliding_window: 4096, use_sliding_window: false }, 'm').slidingWindow).toBe(null);
  });

  it('the variant features matter: without the q/k norms or the RoPE scaling the logits move far', async () => {
    for (const [name, change] of [['qwen3-qknorm-bf16', { qkNorm: false }], ['llama3-ropescaling-f16', { ropeScaling: null }]] as const) {
      const f = await loadArchFixture(name);
      const model = new CpuCausalLM({ ...f.config, ...change }, f.weights);
      expect(maxDiffToRows(await model.logits(f.ids), f.config.vocabSize, f.logits), name).toBeGreaterThan(1e-2);
    }
  });
});

describe('configurations outside the family', () => {
  it('are refused with the file and what was found', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ model_type: 'gpt_neox', architectures: ['GPTNeoXForCausalLM'] }, /m\/config\.json: model_type 'gpt_neox' \(GPTNeoXForCausalLM\) is outside the Llama family/],
      [{ model_type: 'llama', hidden_size: 8, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 2, vocab_size: 4, hidden_act: 'gelu' }, /hidden_act 'gelu' is not supported/],
      [{ model_type: 'llama', hidden_size: 8, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 2, vocab_size: 4, rope_scaling: { rope_type: 'yarn', factor: 4 } }, /rope_scaling type "yarn" is not supported/],
      [{ model_type: 'mistral', hidden_size: 8, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 3, num_key_value_heads: 2, vocab_size: 4 }, /num_attention_heads \(3\) must be a multiple of num_key_value_heads \(2\)/],
      [{ model_type: 'qwen2', hidden_size: 8, intermediate_size: 8, num_attention_heads: 2, vocab_size: 4 }, /'num_hidden_layers' must be a positive integer, found undefined/],
    ];
    for (const [cfg, re] of cases) {
      expect(() => parseCausalLMConfig(cfg, 'm/config.json')).toThrow(MergeStudioError);
      expect(() => parseCausalLMConfig(cfg, 'm/config.json')).toThrow(re);
    }
  });
});
