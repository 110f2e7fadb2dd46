// Tiny random Llama-family models for the DAM tests (seeded, so every run sees the same numbers).
import { parseCausalLMConfig, type CausalLMConfig } from '../eval/config.ts';
import { expectedTensors } from '../eval/weights.ts';
import { Prng } from '../search/prng.ts';

export function tinyConfig(overrides: Record<string, unknown> = {}): CausalLMConfig {
  return parseCausalLMConfig({
    model_type: 'llama', hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2, num_attention_heads: 4,
    num_key_value_heads: 2, head_dim: 4, vocab_size: 13, max_position_embeddings: 32, rms_norm_eps: 1e-5,
    tie_word_embeddings: false, ...overrides,
  }, 'tiny config');
}

/** Random weights: matrices ~ N(0, scale^2), norm weights near 1. */
export function randomWeights(config: CausalLMConfig, seed: number, scale = 0.4): Map<string, Float32Array> {
  const rng = new Prng(seed);
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of expectedTensors(config)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const isNorm = name.endsWith('norm.weight');
    out.set(name, Float32Array.from({ length: size }, () => (isNorm ? 1 + 0.2 * rng.normal() : scale * rng.normal())));
  }
  return out;
}

/** A model near `base`: base + scale * noise (an "expert" fine-tuned from it). */
export function perturbedWeights(base: ReadonlyMap<string, Float32Array>, seed: number, scale = 0.2): Map<string, Float32Array> {
  const rng = new Prng(seed);
  return new Map([...base].map(([name, w]) => [name, Float32Array.from(w, (v) => v + scale * rng.normal())]));
}

export function randomTokens(n: number, vocab: number, seed: number): Int32Array {
  const rng = new Prng(seed);
  return Int32Array.from({ length: n }, () => rng.int(vocab));
}
