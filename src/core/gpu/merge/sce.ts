/** GPU binding of sce: per-entry variance across the task vectors, exact top-k by variance (the
 * radix select of rank-select.ts), mean-square weights of the selected task vectors, then the
 * sign-election kernel in SCE's form (unweighted vote, weighted agreeing mean). */
import { globalBoolean, globalNumber } from '../../methods/params.ts';
import { applyRankBandMask, histogramPass, rankBandCuts, type BandCuts } from './rank-select.ts';
import { rowDotProducts, wholeTensor } from './reduce.ts';
import { methodContext, stackRows, type GpuMethodImpl } from './job.ts';
import type { ChunkView } from './tensors.ts';

export const sceGpu: GpuMethodImpl = async (job) => {
  const { ctx, elements: n } = methodContext(job, { base: 'required', minModels: 1 });
  globalBoolean(ctx, 'int8_mask');
  const selectTopk = globalNumber(ctx, 'select_topk');
  const { runner, input } = job;
  const count = input.models.length;
  const varianceRow = count + 1;
  const selecting = selectTopk < 1;
  const selectPass = (mode: 0 | 1) => ({ chunk, stacked }: ChunkView) => {
    const params = runner.params([['u32', chunk.count], ['u32', chunk.stride], ['u32', count], ['u32', varianceRow], ['u32', mode]]);
    runner.dispatchItems('sce_select', [params, stacked], chunk.count);
    params.destroy();
  };
  // Fresh chunks get their variances (scratch row) right after the task vectors are formed.
  const tensors = stackRows(job, [...input.models, input.base!], n, {
    taskVectorsOf: count,
    extraRows: selecting ? 1 : 0,
    afterUpload: selecting ? selectPass(0) : undefined,
  });
  try {
    let cuts: BandCuts | undefined;
    if (selecting) {
      let nonzero = 0;
      if (selectTopk > 0) {
        // Zero variances: the top-16-bit bin 0, narrowed to key 0 exactly when that bin is used.
        const [high] = await histogramPass(runner, tensors, [{ row: varianceRow }]);
        const zeros = high[0] > 0 ? (await histogramPass(runner, tensors, [{ row: varianceRow, bin: 0 }]))[0][0] : 0;
        nonzero = n - zeros;
      }
      // mergekit's k is a float32 product of the count and select_topk (as in the CPU reference).
      const k = Math.trunc(Math.fround(Math.fround(nonzero) * Math.fround(selectTopk)));
      [cuts] = await rankBandCuts(runner, tensors, [{ row: varianceRow, from: 0, to: k }]);
    }
    let selectedInPlace = false;
    const select = (view: ChunkView) => {
      if (!cuts || (selectedInPlace && !view.fresh)) return;
      // Kept entries have a positive variance (k never exceeds the nonzero count).
      applyRankBandMask(runner, varianceRow, cuts, view);
      selectPass(1)(view);
      if (tensors.chunks.length === 1) selectedInPlace = true;
    };
    const squares = await rowDotProducts(runner, tensors, input.models.map((_, i) => [i, i]), wholeTensor(n), select);
    let weights = squares.map((s) => s[0] / n);
    const total = weights.reduce((a, b) => a + b, 0);
    weights = Math.abs(total) < 1e-6 ? weights.map(() => 1 / count) : weights.map((w) => w / total);
    const coef = runner.upload(Float32Array.from([...weights.map(() => 1), ...weights, ...weights]), 'sce coefficients');
    await tensors.forEachChunk(async (view) => {
      select(view);
      const { chunk, stacked } = view;
      const merged = runner.allocate(Math.max(1, chunk.count) * 4, 'merged');
      const params = runner.params([['u32', chunk.count], ['u32', chunk.stride], ['u32', count], ['u32', count], ['f32', 1], ['u32', 1], ['f32', 1e-6]]);
      runner.dispatchItems('sign_consensus', [params, stacked, coef, merged], chunk.count);
      params.destroy();
      await job.output.put(chunk, merged);
    });
    runner.release(coef);
  } finally {
    tensors.dispose();
  }
};
