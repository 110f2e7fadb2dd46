// The WebGPU DAM backward (weight gradients over the batch, reduction to coefficient gradients)
// against the CPU path on tiny random experts: the same objective, the same gradient, and the
// same training trajectory within float32 rounding.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuCausalLM } from '../eval/cpu.ts';
import { requireGpu, type GpuContext } from '../gpu/device.ts';
import { coefficientLayout } from './coefficients.ts';
import { GpuCoefficientGradients, createGpuCoefficientGradients } from './gpu.ts';
import { teacherTargets } from './loss.ts';
import { DamObjective, type DamExpertData } from './objective.ts';
import { Prng } from '../search/prng.ts';
import { DamRun } from './train.ts';
import { perturbedWeights, randomTokens, randomWeights, tinyConfig } from './test-models.ts';

let gpu: GpuContext;
beforeAll(async () => {
  gpu = await requireGpu();
});

async function objective(config: ReturnType<typeof tinyConfig>, models: number): Promise<DamObjective> {
  const base = randomWeights(config, 8);
  const experts: DamExpertData[] = [];
  for (let i = 0; i < models; i++) {
    const weights = perturbedWeights(base, 40 + i, 0.3);
    const runtime = new CpuCausalLM(config, weights);
    const targets = [];
    for (let s = 0; s < 3; s++) {
      const tokens = randomTokens(6 + s, config.vocabSize, 50 * i + s);
      targets.push(teacherTargets(tokens, await runtime.logits(tokens), config.vocabSize, 4));
    }
    experts.push({ name: `e${i}`, weights, targets });
  }
  return new DamObjective(config, coefficientLayout(config, models), experts, 'f32');
}

describe('DAM backward on WebGPU', () => {
  let offload: GpuCoefficientGradients | undefined;
  afterAll(() => offload?.dispose());

  it('gives the CPU gradient (tied embeddings, q/k/v biases, three models; odd sizes across workgroups)', async () => {
    // 300 inputs x 13 vocabulary etc.: element counts that are not multiples of the 256-wide groups.
    const config = tinyConfig({ model_type: 'qwen2', tie_word_embeddings: true, hidden_size: 12, intermediate_size: 30, head_dim: 6, num_attention_heads: 2, num_key_value_heads: 1 });
    const obj = await objective(config, 3);
    offload = new GpuCoefficientGradients(new (await import('../gpu/runner.ts')).KernelRunner(gpu), obj);
    const rng = new Prng(2);
    const c = Float64Array.from({ length: obj.layout.size }, () => 1 / 3 + 0.2 * (rng.uniform() - 0.5));
    const batch = [[0, 2], [1], [0, 1, 2]];
    const settings = { temperature: 2, similarity: 0.01, l1: 0, l2: 0 };
    const cpu = obj.evaluate(c, batch, settings);
    const onGpu = await obj.evaluateOffloaded(c, batch, settings, offload);
    expect(onGpu.loss).toBeCloseTo(cpu.loss, 6);
    const scale = Math.max(...cpu.gradient.map(Math.abs));
    let worst = 0;
    for (let e = 0; e < cpu.gradient.length; e++) worst = Math.max(worst, Math.abs(onGpu.gradient[e] - cpu.gradient[e]));
    expect(worst / scale).toBeLessThan(1e-4);
    // A second batch reuses the resident experts and starts from clean accumulators.
    const again = await obj.evaluateOffloaded(c, batch, settings, offload);
    expect(Array.from(again.gradient)).toEqual(Array.from(onGpu.gradient));
  });

  it('trains along the CPU trajectory', async () => {
    const config = tinyConfig();
    const obj = await objective(config, 2);
    const gpuGrads = await createGpuCoefficientGradients(obj, gpu);
    const settings = { steps: 4, learningRate: 1e-2, batchSize: 2, seed: 3 };
    const onCpu = new DamRun(obj, settings);
    await onCpu.run();
    const onGpu = new DamRun(obj, settings, { offload: gpuGrads });
    await onGpu.run();
    onGpu.state.history.forEach((h, i) => expect(h.loss).toBeCloseTo(onCpu.state.history[i].loss, 5));
    for (let e = 0; e < obj.layout.size; e++) expect(Math.abs(onGpu.state.coefficients[e] - onCpu.state.coefficients[e])).toBeLessThan(1e-4);
  });
});
