/** GPU binding of the generalized task-arithmetic family (task_arithmetic, ties, dare_*,
 * breadcrumbs*, della*): task vectors -> sparsify -> (TIES sign election) -> mix -> + base, the
 * numerics of src/core/methods/task-arithmetic-pipeline.ts. Magnitude cuts use the GPU radix
 * select, DARE masks the shared counter-based RNG; della's per-row magnitude ranking and mask run
 * on the CPU (sparsify.ts), everything after it on the GPU. */
import { taskArithmeticParams, taskArithmeticVariant } from '../../methods/task-arithmetic-pipeline.ts';
import { dareKeepProbability, dellaKeepProbability, dellaKeepRule, maskStreamKey } from '../../methods/random.ts';
import { sparsifyInPlace } from '../../methods/sparsify.ts';
import { MergeStudioError } from '../../errors.ts';
import type { KernelRunner } from '../runner.ts';
import { applyRankBandMask, rankBandCuts, type BandCuts } from './rank-select.ts';
import { chunkAbsSums, combineRows, wholeTensor } from './reduce.ts';
import { methodContext, stackRows, type GpuMergeJob, type GpuMethodImpl } from './job.ts';
import { tensorToF32, type ChunkView, type StackedTensors } from './tensors.ts';

/** mergekit skips the L1 rescale when either norm is below this. */
const RESCALE_EPS = 1e-7;

type ModelMask =
  | { kind: 'random'; row: number; streamKey: number; keepP: number }
  | { kind: 'band'; row: number; cuts: BandCuts }
  | { kind: 'della'; row: number; streamKey: number; keepByRank: GPUBuffer; rowLength: number; inner: number };

/** mergekit's della ranks rows along dim 1 (the CPU reference's limit on a ranked row). */
const MAX_DELLA_ROW = 1 << 21;

/** della's ranked rows: along dim 1 of an [outer, rowLength, inner] view (1-D: one row). */
function dellaRows(shape: number[], n: number): { rowLength: number; inner: number } {
  if (shape.length < 2) return { rowLength: n, inner: 1 };
  return { rowLength: shape[1], inner: shape.slice(2).reduce((a, b) => a * b, 1) };
}

/** Descending-magnitude rank band kept by magnitude pruning / breadcrumbs (sparsify.ts rules). */
function keptBand(kind: 'magnitude' | 'magnitude_outliers', density: number, gamma: number, n: number): { from: number; to: number } {
  const target = Math.trunc(density * n);
  if (kind === 'magnitude') return { from: 0, to: target };
  let top = Math.trunc(gamma * n);
  let bottom = n - target - top;
  if (bottom < 0) {
    top += bottom;
    bottom = 0;
  }
  return { from: top, to: n - bottom };
}

/** Applies every model's mask to one chunk in place. */
function applyMasksInPlace(runner: KernelRunner, masks: ModelMask[], view: ChunkView): void {
  const { chunk, stacked } = view;
  for (const mask of masks) {
    if (mask.kind === 'random') {
      const params = runner.params([['u32', chunk.count], ['u32', chunk.stride], ['u32', mask.row], ['u32', chunk.start], ['u32', mask.streamKey], ['f32', mask.keepP]]);
      runner.dispatchItems('dare_mask', [params, stacked], chunk.count);
      params.destroy();
      continue;
    }
    if (mask.kind === 'band') {
      applyRankBandMask(runner, mask.row, mask.cuts, view);
      continue;
    }
    const masked = runner.allocate(Math.max(1, chunk.count) * 4, 'masked row');
    const params = runner.params([['u32', chunk.count], ['u32', chunk.stride], ['u32', mask.row], ['u32', chunk.start], ['u32', mask.rowLength], ['u32', mask.inner], ['u32', mask.streamKey]]);
    runner.dispatchItems('della_mask', [params, stacked, mask.keepByRank, masked], chunk.count);
    params.destroy();
    runner.copy(masked, 0, stacked, mask.row * chunk.stride * 4, chunk.count * 4);
    runner.release(masked);
  }
}

/** L1 norm of each masked row before and after its mask, over the whole tensor; leaves the
 * chunks masked (a resident tensor stays masked for the mixing pass). */
async function maskNorms(runner: KernelRunner, tensors: StackedTensors, masks: ModelMask[]): Promise<{ before: number; after: number }[]> {
  const sums = masks.map(() => ({ before: 0, after: 0 }));
  const rows = masks.map((m) => m.row);
  await tensors.forEachChunk(async (view) => {
    const before = await chunkAbsSums(runner, view.stacked, view.chunk, rows);
    applyMasksInPlace(runner, masks, view);
    const after = await chunkAbsSums(runner, view.stacked, view.chunk, rows);
    masks.forEach((_, k) => {
      sums[k].before += before[k];
      sums[k].after += after[k];
    });
  });
  return sums;
}

export const taskArithmeticGpu: GpuMethodImpl = async (job: GpuMergeJob) => {
  const variant = taskArithmeticVariant(job.method.name);
  if (!variant) throw new MergeStudioError('gpu_method_unsupported', `No GPU task-arithmetic variant named '${job.method.name}'`, { method: job.method.name });
  const { ctx, elements: n } = methodContext(job, { base: 'required', minModels: 1 });
  const { normalize, rescale, lambda, weights, densities, gamma, epsilon } = taskArithmeticParams(ctx, variant.sparsification);
  const { runner, input } = job;
  const count = input.models.length;
  const coefficients = weights.slice();
  const masks: ModelMask[] = [];
  const della = variant.sparsification === 'della_magprune';
  const { rowLength, inner } = dellaRows(input.shape, n);
  const dellaBlock = rowLength * inner;
  let tensors = stackRows(job, [...input.models, input.base!], n, { taskVectorsOf: count, alignElements: della ? dellaBlock : 0 });
  // della ranks within rows, so each chunk must hold whole rows; otherwise it ranks on the CPU.
  const dellaOnGpu = della && rowLength <= MAX_DELLA_ROW && tensors.chunks.every((c) => c.start % dellaBlock === 0 && c.count % dellaBlock === 0);
  if (della && !dellaOnGpu) {
    // A ranked row block larger than one binding: della's masks on the CPU (sparsify.ts), mixing on the GPU.
    tensors.dispose();
    const base = await tensorToF32(input.base!, job.signal, job.runner);
    const deltas: Float32Array[] = [];
    for (const [i, model] of input.models.entries()) {
      const values = await tensorToF32(model, job.signal, job.runner);
      const delta = new Float32Array(n);
      for (let j = 0; j < n; j++) delta[j] = values[j] - base[j];
      const streamKey = maskStreamKey(input.seed, input.tensorName, input.modelIndices[i]);
      const label = `${job.method.name}: tensor '${input.tensorName}' of model #${input.modelIndices[i]}`;
      coefficients[i] *= sparsifyInPlace(delta, input.shape, { kind: 'della_magprune', density: densities[i], epsilon: epsilon[i], streamKey }, rescale, label);
      deltas.push(delta);
    }
    tensors = stackRows(job, [...deltas, base], n);
  }
  const ownBuffers: GPUBuffer[] = [];

  try {
    const sparsification = variant.sparsification;
    if (sparsification === 'random') {
      input.models.forEach((_, i) => {
        if (densities[i] >= 1) return;
        masks.push({ kind: 'random', row: i, streamKey: maskStreamKey(input.seed, input.tensorName, input.modelIndices[i]), keepP: dareKeepProbability(densities[i]) });
      });
    } else if (sparsification === 'della_magprune' && dellaOnGpu) {
      input.models.forEach((_, i) => {
        const density = densities[i];
        if (density >= 1) return;
        const label = `${job.method.name}: tensor '${input.tensorName}' of model #${input.modelIndices[i]}`;
        if (density > 0 && (density + epsilon[i] >= 1 || density - epsilon[i] <= 0)) {
          throw new MergeStudioError('invalid-parameter', `${label}: della needs density ± epsilon inside (0, 1), found density ${density} and epsilon ${epsilon[i]}`, { density, epsilon: epsilon[i] });
        }
        // Keep probability per rank, from the CPU reference's own rule (density <= 0 drops all).
        const rule = dellaKeepRule(density, epsilon[i], rowLength);
        const table = Float32Array.from({ length: Math.max(1, rowLength) }, (_, rank) => (density <= 0 ? 0 : dellaKeepProbability(rule, rank)));
        const keepByRank = runner.upload(table, 'della keep probabilities');
        ownBuffers.push(keepByRank);
        masks.push({ kind: 'della', row: i, streamKey: maskStreamKey(input.seed, input.tensorName, input.modelIndices[i]), keepByRank, rowLength, inner });
      });
    } else if (sparsification === 'magnitude' || sparsification === 'magnitude_outliers') {
      const bands = input.models.map((_, i) => ({ row: i, ...keptBand(sparsification, densities[i], gamma[i] ?? 0, n) })).filter((b) => densities[b.row] < 1);
      const cuts = await rankBandCuts(runner, tensors, bands);
      bands.forEach((b, k) => masks.push({ kind: 'band', row: b.row, cuts: cuts[k] }));
    }

    // A resident (single-chunk) tensor is masked once in place; streamed chunks are re-masked on each upload.
    let maskedInPlace = false;
    if (masks.length > 0 && rescale) {
      const norms = await maskNorms(runner, tensors, masks);
      maskedInPlace = tensors.chunks.length === 1;
      masks.forEach((m, k) => {
        const { before, after } = norms[k];
        if (before >= RESCALE_EPS && after >= RESCALE_EPS) coefficients[m.row] *= before / after;
      });
    }
    const applyMasks = (view: ChunkView) => {
      if (masks.length === 0 || (maskedInPlace && !view.fresh)) return;
      applyMasksInPlace(runner, masks, view);
      if (tensors.chunks.length === 1) maskedInPlace = true;
    };

    if (!variant.signConsensus) {
      let divisor = weights.reduce((a, b) => a + b, 0);
      if (Math.abs(divisor) < 1e-8) divisor = 1; // mergekit's guard against a zero weight sum
      const factor = normalize ? lambda / divisor : lambda;
      const mix = Float32Array.from([...coefficients.map((c) => c * factor), 1]);
      await combineRows(runner, tensors, mix, wholeTensor(n), (chunk, merged) => job.output.put(chunk, merged), (chunk, stacked, fresh) => applyMasks({ chunk, stacked, fresh }));
      return;
    }
    // Votes and mixing both use weight x rescale; the agreeing models' plain weights divide.
    const coef = runner.upload(Float32Array.from([...coefficients, ...coefficients, ...weights]), 'consensus coefficients');
    await tensors.forEachChunk(async (view) => {
      applyMasks(view);
      const { chunk, stacked } = view;
      const merged = runner.allocate(Math.max(1, chunk.count) * 4, 'merged');
      const params = runner.params([['u32', chunk.count], ['u32', chunk.stride], ['u32', count], ['u32', count], ['f32', lambda], ['u32', normalize ? 1 : 0], ['f32', 0]]);
      runner.dispatchItems('sign_consensus', [params, stacked, coef, merged], chunk.count);
      params.destroy();
      await job.output.put(chunk, merged);
    });
    runner.release(coef);
  } finally {
    runner.release(...ownBuffers);
    tensors.dispose();
  }
};

