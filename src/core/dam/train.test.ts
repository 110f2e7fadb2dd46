// The DAM training loop on tiny random experts: the loss falls, runs are deterministic, a paused
// and resumed run equals an uninterrupted one, AdamW matches its textbook update, bad settings
// are refused by name.
import { describe, expect, it } from 'vitest';
import { CpuCausalLM } from '../eval/cpu.ts';
import { MergeStudioError } from '../errors.ts';
import { coefficientLayout } from './coefficients.ts';
import { teacherTargets } from './loss.ts';
import { DamObjective, type DamExpertData } from './objective.ts';
import { adamwUpdate, batchIndices, DamRun, DEFAULT_TRAIN_SETTINGS, type DamEvent } from './train.ts';
import { perturbedWeights, randomTokens, randomWeights, tinyConfig } from './test-models.ts';

const config = tinyConfig({ tie_word_embeddings: true });

async function objective(): Promise<DamObjective> {
  const base = randomWeights(config, 21);
  const experts: DamExpertData[] = [];
  for (let i = 0; i < 2; i++) {
    const weights = perturbedWeights(base, 300 + i, 0.3);
    const runtime = new CpuCausalLM(config, weights);
    const targets = [];
    for (let s = 0; s < 6; s++) {
      const tokens = randomTokens(8, config.vocabSize, 1000 * i + s);
      targets.push(teacherTargets(tokens, await runtime.logits(tokens), config.vocabSize));
    }
    experts.push({ name: `e${i}`, weights, targets });
  }
  return new DamObjective(config, coefficientLayout(config, 2), experts);
}

describe('DAM training', () => {
  it('lowers the distillation loss below uniform averaging on held-in data', async () => {
    const obj = await objective();
    const all = obj.experts.map((e) => e.targets.map((_, i) => i));
    const run = new DamRun(obj, { steps: 40, learningRate: 2e-2, batchSize: 3, similarity: 0 });
    const before = obj.evaluate(run.state.coefficients, all, run.settings).loss;
    const events: DamEvent[] = [];
    run.subscribe((e) => events.push(e));
    expect(await run.run()).toBe('finished');
    const after = obj.evaluate(run.state.coefficients, all, run.settings).loss;
    expect(after).toBeLessThan(0.8 * before);
    expect(events.filter((e) => e.type === 'step')).toHaveLength(40);
    expect(events.at(-1)).toEqual({ type: 'status', status: 'finished' });
    expect(run.state.history.map((h) => h.step)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  it('is deterministic, and pausing then resuming gives the same coefficients as running through', async () => {
    const obj = await objective();
    const settings = { steps: 6, learningRate: 1e-2, batchSize: 2, seed: 5 };
    const straight = new DamRun(obj, settings);
    await straight.run();
    const again = new DamRun(obj, settings);
    await again.run();
    expect(Array.from(again.state.coefficients)).toEqual(Array.from(straight.state.coefficients));

    const paused = new DamRun(obj, settings);
    paused.subscribe((e) => { if (e.type === 'step' && e.record.step === 2) paused.pause(); });
    expect(await paused.run()).toBe('paused');
    expect(paused.state.step).toBe(2);
    // Resume from the plain state in a new run object, as the studio does after a reload.
    const resumed = new DamRun(obj, settings, { resume: paused.state });
    const controller = new AbortController();
    resumed.subscribe((e) => { if (e.type === 'step' && e.record.step === 4) controller.abort(); });
    expect(await resumed.run({ signal: controller.signal })).toBe('paused');
    expect(await resumed.run()).toBe('finished');
    expect(Array.from(resumed.state.coefficients)).toEqual(Array.from(straight.state.coefficients));
    expect(resumed.state.history.map((h) => h.loss)).toEqual(straight.state.history.map((h) => h.loss));

    const otherSeed = new DamRun(obj, { ...settings, seed: 6 });
    await otherSeed.run();
    expect(Array.from(otherSeed.state.coefficients)).not.toEqual(Array.from(straight.state.coefficients));
  });

  it('batches cover every sequence once per epoch', () => {
    const seen = [0, 1, 2].flatMap((step) => batchIndices(7, 3, 1, 0, step)).slice(0, 7);
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('AdamW step equals the textbook formula', () => {
    const p = Float64Array.from([1, -2]), g = Float64Array.from([0.5, -0.25]);
    const m = new Float64Array(2), v = new Float64Array(2);
    const s = { ...DEFAULT_TRAIN_SETTINGS, learningRate: 0.1, weightDecay: 0.01 };
    adamwUpdate(p, g, m, v, 1, s);
    // First step: m_hat = g, v_hat = g^2, so the update is lr * (sign(g) + wd * p).
    expect(p[0]).toBeCloseTo(1 - 0.1 * (0.5 / (0.5 + 1e-8) + 0.01 * 1), 12);
    expect(p[1]).toBeCloseTo(-2 - 0.1 * (-0.25 / (0.25 + 1e-8) + 0.01 * -2), 12);
  });

  it('refuses bad settings, naming the parameter', async () => {
    const obj = await objective();
    expect(() => new DamRun(obj, { learningRate: -1 })).toThrow(/'lr' must be a positive number, found -1/);
    expect(() => new DamRun(obj, { steps: 2.5 })).toThrow(MergeStudioError);
    expect(() => new DamRun(obj, { temperature: 0 })).toThrow(/'temperature'/);
  });
});
