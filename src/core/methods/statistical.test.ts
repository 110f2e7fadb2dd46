// DARE / DELLA against mergekit's statistical golden cases. mergekit draws its masks from torch's
// RNG, ours from the counter-based hash, so we compare distributions: over SEEDS seeds of our RNG,
// each statistic's mean must match mergekit's 200-seed mean within Z standard errors of the
// difference of the two means (std_over_seeds * sqrt(1/SEEDS + 1/200)).
import { describe, expect, it } from 'vitest';
import { getMethod } from './index.ts';
import { GOLDEN_CASES, goldenInput, type GoldenCase } from './golden-fixtures.ts';
import { sparseTaskVector, type Sparsification } from './sparsify.ts';
import { maskStreamKey } from './random.ts';
import type { MergeTensorInput } from './types.ts';

const SEEDS = 100;
const GOLDEN_SEEDS = 200;
/** ~210 comparisons in this file: 4.5 sigma keeps the family-wise false-alarm rate near 0.1%
 * (Bonferroni) while a real bias (e.g. 1/p instead of L1 rescale, columns instead of rows) is
 * tens of sigma off. */
const Z = 4.5;
/** mergekit's L1 sums run in float32: rescaled L1 ratios sit ~1e-7 off 1 with a tiny spread. */
const FLOAT32_FLOOR = 1e-6;

const statCases = GOLDEN_CASES.filter((c) => c.kind === 'statistical');

function tolerance(std: number, n = SEEDS): number {
  return Math.max(Z * std * Math.sqrt(1 / n + 1 / GOLDEN_SEEDS), FLOAT32_FLOOR);
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function deltaFromBase(out: Float32Array, base: Float32Array): Float64Array {
  return Float64Array.from(out, (x, j) => x - base[j]);
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += a[j] * b[j];
  return s;
}

function l1(a: ArrayLike<number>): number {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += Math.abs(a[j]);
  return s;
}

/** The reference deltas named in the golden README: task_arithmetic, and ties at density 1. */
function referenceDelta(method: string, input: MergeTensorInput, c: GoldenCase): Float64Array {
  const g = c.effective_global_params!;
  const modelParams = c.per_model_params.map((p) => ({ weight: p.weight, density: 1 }));
  const out = getMethod(method).mergeCpu({ ...input, modelParams, global: { normalize: g.normalize, lambda: g.lambda } });
  return deltaFromBase(out, input.base!);
}

/** Decile of each element's ascending |delta| rank within its row, as (rank-1)/(ncols-1). */
function rankDeciles(delta: Float32Array, rows: number, cols: number): Uint8Array {
  const bins = new Uint8Array(delta.length);
  for (let r = 0; r < rows; r++) {
    const order = Array.from({ length: cols }, (_, j) => r * cols + j).sort((a, b) => Math.abs(delta[a]) - Math.abs(delta[b]));
    order.forEach((index, rank) => (bins[index] = Math.min(9, Math.floor((rank / (cols - 1)) * 10))));
  }
  return bins;
}

describe.each(statCases.map((c) => [c.id, c] as const))('%s', (_id, c) => {
  it('merge statistics match mergekit over seeds', async () => {
    const input = await goldenInput(c);
    const base = input.base!;
    const method = getMethod(c.method);
    const ta = referenceDelta('task_arithmetic', input, c);
    const t1 = c.merge_stats!.proj_on_ties_density1 ? referenceDelta('ties', input, c) : undefined;
    const samples: Record<string, number[]> = { changed_frac: [], proj_on_task_arithmetic: [], l1_ratio_vs_task_arithmetic: [], proj_on_ties_density1: [] };
    for (let seed = 0; seed < SEEDS; seed++) {
      const out = method.mergeCpu({ ...input, seed });
      const d = deltaFromBase(out, base);
      let changed = 0;
      for (let j = 0; j < out.length; j++) if (out[j] !== base[j]) changed++;
      samples.changed_frac.push(changed / out.length);
      samples.proj_on_task_arithmetic.push(dot(d, ta) / dot(ta, ta));
      samples.l1_ratio_vs_task_arithmetic.push(l1(d) / l1(ta));
      if (t1) samples.proj_on_ties_density1.push(dot(d, t1) / dot(t1, t1));
    }
    for (const [name, stat] of Object.entries(c.merge_stats!)) {
      expect(Math.abs(mean(samples[name]) - stat.mean), `${name}: ours ${mean(samples[name])} vs mergekit ${stat.mean}`).toBeLessThanOrEqual(tolerance(stat.std_over_seeds));
    }
  });

  it.each(c.sparsify_stats!.map((s, i) => [s.model, s, i] as const))('sparsifier statistics of %s match mergekit', async (_model, stats, position) => {
    const input = await goldenInput(c);
    const base = input.base!;
    const model = input.models[position];
    const rescale = c.effective_global_params!.rescale as boolean;
    const [rows, cols] = c.shape;
    const original = Float32Array.from(model, (x, j) => x - base[j]);
    const deciles = rankDeciles(original, rows, cols);
    const binSize = new Array<number>(10).fill(0);
    for (const b of deciles) binSize[b]++;
    const keptPerBin = new Array<number>(10).fill(0);
    const keep: number[] = [];
    const l1Ratio: number[] = [];
    const keptScale: number[] = [];
    for (let seed = 0; seed < SEEDS; seed++) {
      const streamKey = maskStreamKey(seed, input.tensorName, position);
      const rule: Sparsification = stats.epsilon === undefined
        ? { kind: 'random', density: stats.density, streamKey }
        : { kind: 'della_magprune', density: stats.density, epsilon: stats.epsilon, streamKey };
      const { values: delta, scale } = sparseTaskVector(model, base, c.shape, rule, rescale, 'test');
      let kept = 0;
      let ratioSum = 0;
      let outL1 = 0;
      for (let j = 0; j < delta.length; j++) {
        if (delta[j] === 0) continue;
        const value = Math.fround(delta[j] * scale);
        kept++;
        keptPerBin[deciles[j]]++;
        ratioSum += value / original[j];
        outL1 += Math.abs(value);
      }
      keep.push(kept / delta.length);
      l1Ratio.push(outL1 / l1(original));
      keptScale.push(ratioSum / kept);
    }
    const check = (name: string, ours: number, golden: { mean: number; std_over_seeds: number }) =>
      expect(Math.abs(ours - golden.mean), `${name}: ours ${ours} vs mergekit ${golden.mean}`).toBeLessThanOrEqual(tolerance(golden.std_over_seeds));
    check('keep_fraction', mean(keep), stats.keep_fraction);
    check('l1_ratio_out_over_in', mean(l1Ratio), stats.l1_ratio_out_over_in);
    check('kept_value_scale', mean(keptScale), stats.kept_value_scale);
    stats.keep_prob_by_row_magnitude_rank_decile.forEach((golden, bin) => {
      const ours = keptPerBin[bin] / (binSize[bin] * SEEDS);
      // Binomial standard error of each decile's keep rate (per-element draws are independent).
      const std = Math.sqrt(golden * (1 - golden) / binSize[bin]);
      expect(Math.abs(ours - golden), `decile ${bin}: ours ${ours} vs mergekit ${golden}`).toBeLessThanOrEqual(tolerance(std));
    });
  });
});
