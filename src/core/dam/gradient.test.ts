// The DAM gradient core against finite differences (float64 arithmetic end to end) on tiny random
// models of every supported layout, and its forward against the evaluation runtime's logits.
import { describe, expect, it } from 'vitest';
import { CpuCausalLM } from '../eval/cpu.ts';
import { Prng } from '../search/prng.ts';
import { coefficientLayout, coefficientSimilarity, initialCoefficients, type DamScope } from './coefficients.ts';
import { teacherTargets } from './loss.ts';
import { TrainingNetwork } from './network.ts';
import { DamObjective, type DamExpertData, type DamLossSettings } from './objective.ts';
import { perturbedWeights, randomTokens, randomWeights, tinyConfig } from './test-models.ts';

type Config = ReturnType<typeof tinyConfig>;

/** Experts with teacher logits from their own eval-runtime forward pass. */
async function experts(config: Config, count: number, topK: number, seqs = 2): Promise<DamExpertData[]> {
  const base = randomWeights(config, 1);
  const out: DamExpertData[] = [];
  for (let i = 0; i < count; i++) {
    const weights = perturbedWeights(base, 100 + i);
    const runtime = new CpuCausalLM(config, weights);
    const targets = [];
    for (let s = 0; s < seqs; s++) {
      const tokens = randomTokens(5 + s * 2, config.vocabSize, 10 * i + s);
      targets.push(teacherTargets(tokens, await runtime.logits(tokens), config.vocabSize, topK));
    }
    out.push({ name: `expert${i}`, weights, targets });
  }
  return out;
}

/** Coefficients away from 1/N (so that no gradient is zero by symmetry). */
function jittered(size: number, n: number, seed: number): Float64Array {
  const rng = new Prng(seed);
  return Float64Array.from({ length: size }, () => 1 / n + 0.3 * (rng.uniform() - 0.5));
}

async function checkFiniteDifferences(config: Config, opts: { models: number; topK: number; scope?: DamScope; settings: DamLossSettings; probes: number }) {
  const layout = coefficientLayout(config, opts.models, opts.scope);
  const data = await experts(config, opts.models, opts.topK);
  const objective = new DamObjective(config, layout, data, 'f64');
  const batch = data.map((e) => e.targets.map((_, i) => i));
  const c = jittered(layout.size, opts.models, 7);
  const { gradient } = objective.evaluate(c, batch, opts.settings);
  // Probe every block at a few entries of every model.
  const rng = new Prng(3);
  const h = 1e-5;
  let checked = 0;
  for (const b of layout.blocks) {
    for (let m = 0; m < opts.models; m++) {
      for (let p = 0; p < Math.min(opts.probes, b.width); p++) {
        const e = b.offset + m * b.width + rng.int(b.width);
        const plus = c.slice(), minus = c.slice();
        plus[e] += h;
        minus[e] -= h;
        const numeric = (objective.evaluate(plus, batch, opts.settings).loss - objective.evaluate(minus, batch, opts.settings).loss) / (2 * h);
        expect(Math.abs(gradient[e] - numeric), `${b.tensor} model ${m} entry ${e - b.offset - m * b.width}: analytic ${gradient[e]} vs numeric ${numeric}`)
          .toBeLessThan(1e-6 + 1e-5 * Math.abs(numeric));
        checked++;
      }
    }
  }
  return { checked, gradient, layout };
}

const SETTINGS: DamLossSettings = { temperature: 2, similarity: 0.01, l1: 0, l2: 0 };

describe('DAM gradients against finite differences', () => {
  it('Llama layout, untied lm_head, full-vocabulary targets, three models', async () => {
    const { checked, gradient } = await checkFiniteDifferences(tinyConfig(), { models: 3, topK: 0, settings: SETTINGS, probes: 2 });
    expect(checked).toBeGreaterThan(80);
    // Every learned tensor actually receives gradient.
    expect(gradient.filter((g) => g !== 0).length).toBe(gradient.length);
  });

  it('tied embeddings (lm_head is the embedding: both uses add up), top-K targets', async () => {
    await checkFiniteDifferences(tinyConfig({ tie_word_embeddings: true }), { models: 2, topK: 5, settings: { ...SETTINGS, temperature: 1.5 }, probes: 2 });
  });

  it('Qwen2 q/k/v biases, o bias (attention_bias), norms and embeddings learned, L1/L2 on', async () => {
    const config = tinyConfig({ model_type: 'qwen2', attention_bias: true, num_key_value_heads: 1 });
    const { layout } = await checkFiniteDifferences(config, { models: 2, topK: 0, scope: { norms: true, embeddings: true }, settings: { temperature: 2, similarity: 0.05, l1: 0.01, l2: 0.02 }, probes: 2 });
    expect(layout.blocks.filter((b) => b.kind === 'bias')).toHaveLength(8);
    expect(layout.blocks.filter((b) => b.kind === 'norm')).toHaveLength(5);
    expect(layout.frozen).toEqual([]);
  });

  it('the similarity penalty alone: gradient against finite differences', () => {
    const layout = coefficientLayout(tinyConfig(), 3);
    const c = jittered(layout.size, 3, 11);
    const grad = new Float64Array(layout.size);
    coefficientSimilarity(layout, c, 1, grad);
    const rng = new Prng(5);
    for (let n = 0; n < 40; n++) {
      const e = rng.int(layout.size), h = 1e-6;
      const plus = c.slice(), minus = c.slice();
      plus[e] += h;
      minus[e] -= h;
      const numeric = (coefficientSimilarity(layout, plus, 1) - coefficientSimilarity(layout, minus, 1)) / (2 * h);
      expect(grad[e]).toBeCloseTo(numeric, 7);
    }
  });
});

describe('DAM forward', () => {
  it('refuses Qwen3 (per-head q/k norms have no backward here) by name', () => {
    expect(() => new TrainingNetwork(tinyConfig({ model_type: 'qwen3' }), 'f32')).toThrow(/model_type 'qwen3' normalises queries and keys per head/);
  });

  it('matches the evaluation runtime on the folded weights, and the loss is zero when merging copies of one expert', async () => {
    const config = tinyConfig({ tie_word_embeddings: true, model_type: 'qwen2' });
    const data = await experts(config, 2, 0);
    const layout = coefficientLayout(config, 2);
    const c = jittered(layout.size, 2, 9);
    const objective = new DamObjective(config, layout, data, 'f32');
    const merged = objective.mergedWeights(c);
    const tokens = randomTokens(9, config.vocabSize, 77);
    const reference = await new CpuCausalLM(config, new Map([...merged].map(([k, v]) => [k, Float32Array.from(v)]))).logits(tokens);
    let ours: Float32Array | null = null;
    new TrainingNetwork(config, 'f32').lossAndGrad(tokens, (n) => merged.get(n)!, new Map(), (logits) => {
      ours = Float32Array.from(logits);
      return 0;
    });
    expect(ours!.length).toBe(reference.length);
    for (let i = 0; i < reference.length; i++) expect(Math.abs(ours![i] - reference[i])).toBeLessThan(1e-4);

    // Two copies of one expert at coefficients summing to 1 per channel reproduce it: KL = 0.
    const same = new DamObjective(config, layout, [data[0], { ...data[0], name: 'copy' }], 'f64');
    const half = initialCoefficients(layout);
    const r = same.evaluate(half, [[0, 1], [0, 1]], { ...SETTINGS, similarity: 0 });
    expect(r.loss).toBeLessThan(1e-10);
    // Not exactly 0: the cached teacher logits are float32, this pass float64.
    expect(Math.max(...r.gradient.map(Math.abs))).toBeLessThan(1e-5);
  });
});
