import type { ChunkedMerge, MergeMethod, ParamSpec, TensorChunk } from './types.ts';
import { checkInputs, elementCount, globalBoolean, globalNumber, outputArray, type MethodContext } from './params.ts';
import { countHighBins, countLowBins, cutInLowBins, f32Bits, highBinOfRank, trivialCut, type RankCut } from './select.ts';
import { chunkValues, workArray, writeChunk, mergeAsOneChunk } from './scratch.ts';

const params: ParamSpec[] = [
  { name: 'int8_mask', scope: 'global', kind: 'boolean', default: false, description: 'Accepted for mergekit compatibility; it has no effect on the result.' },
  { name: 'select_topk', scope: 'global', kind: 'number', default: 1, min: 0, max: 1, description: 'Fraction of entries, by variance across models, whose task vectors are kept.' },
];

const BINS = 1 << 16;
const MAGNITUDE = 0x7fffffff;

export const sce: MergeMethod = {
  name: 'sce',
  description: 'SCE: select high-variance entries, weight each task vector by its mean square, erase entries against the majority sign (arXiv 2408.07990).',
  base: 'required',
  params,
  mergeCpu(input) {
    const ctx: MethodContext = { method: 'sce', params, input };
    const n = checkInputs(ctx, { base: 'required', minModels: 1 });
    const out = outputArray(ctx, n);
    // The whole tensor is one chunk of the chunked merge.
    return mergeAsOneChunk(chunked(ctx), input, n, out);
  },
  mergeChunks(input) {
    const ctx: MethodContext = { method: 'sce', params, input };
    checkInputs(ctx, { base: 'required', minModels: 1, placeholders: true });
    return chunked(ctx);
  },
};

/** Selection keeps the entries whose variance across task vectors is in the top `select_topk`
 * share (zeroing the rest in every task vector): scans 0 and 1 find that exact cut by histograms
 * of the variances' bits, scan 2 (the only one without selection) sums each selected task
 * vector's squares for its weight, and each chunk then mixes. */
function chunked(ctx: MethodContext): ChunkedMerge {
  const { input } = ctx;
  globalBoolean(ctx, 'int8_mask');
  const selectTopk = globalNumber(ctx, 'select_topk');
  const n = elementCount(input.shape);
  const count = input.models.length;
  const select = selectTopk < 1;
  const high = new Uint32Array(select ? BINS : 0);
  let low: Uint32Array | undefined;
  let nonzero = 0;
  let wanted = 0;
  let bin = 0;
  let above = 0;
  let cut: RankCut = { threshold: 0, tiedInside: 0 };
  // Keys equal to the threshold seen so far in this pass (ties are kept lowest index first).
  let tied = 0;
  const squares = new Float64Array(count);
  let weights: number[] = [];

  const vectorsOf = (chunk: TensorChunk): Float32Array[] => {
    const base = chunkValues(chunk.base!, input.scratch, 'chunkBase', chunk.elements);
    return chunk.models.map((m, i) => {
      const model = chunkValues(m, input.scratch, `chunkModel${i}`, chunk.elements);
      const d = workArray(input.scratch, `chunkTaskVector${i}`, chunk.elements);
      for (let j = 0; j < d.length; j++) d[j] = model[j] - base[j];
      return d;
    });
  };
  const varianceOf = (vectors: Float32Array[], elements: number): Float32Array => {
    const variance = workArray(input.scratch, 'chunkVariance', elements).fill(0);
    if (selectTopk > 0) {
      for (let j = 0; j < elements; j++) {
        let mean = 0;
        for (let i = 0; i < count; i++) mean += vectors[i][j];
        mean /= count;
        let s = 0;
        for (let i = 0; i < count; i++) s += (vectors[i][j] - mean) ** 2;
        variance[j] = s / count;
      }
    }
    return variance;
  };
  const keepSelected = (vectors: Float32Array[], elements: number): void => {
    const bits = f32Bits(varianceOf(vectors, elements));
    for (let j = 0; j < elements; j++) {
      const key = bits[j] & MAGNITUDE;
      const keep = key > cut.threshold || (key === cut.threshold && tied < cut.tiedInside);
      if (key === cut.threshold) tied++;
      if (!keep) for (let i = 0; i < count; i++) vectors[i][j] = 0;
    }
  };
  const addSquares = (vectors: Float32Array[]): void => {
    vectors.forEach((d, i) => {
      let s = squares[i];
      for (let j = 0; j < d.length; j++) s += d[j] * d[j];
      squares[i] = s;
    });
  };
  const passes = select ? 3 : 1;
  return {
    passes,
    scan(pass, chunk) {
      const vectors = vectorsOf(chunk);
      if (pass === passes - 1) {
        if (select) keepSelected(vectors, chunk.elements);
        addSquares(vectors);
        return;
      }
      const variance = varianceOf(vectors, chunk.elements);
      if (pass === 0) {
        for (let j = 0; j < variance.length; j++) if (variance[j] !== 0) nonzero++;
        countHighBins(f32Bits(variance), MAGNITUDE, high);
      } else if (low) countLowBins(f32Bits(variance), MAGNITUDE, bin, low);
    },
    endPass(pass) {
      tied = 0;
      if (pass === passes - 1) {
        // Per-model weight: mean square of its (selected) task vector, normalized to sum 1.
        const means = Array.from(squares, (s) => s / n);
        const total = means.reduce((a, b) => a + b, 0);
        weights = Math.abs(total) < 1e-6 ? means.map(() => 1 / count) : means.map((w) => w / total);
      } else if (pass === 0) {
        // mergekit multiplies an int64 count by a Python float inside torch: a float32 product, so
        // k = trunc(fround(fround(nonzero) * fround(select_topk))) (0.7 x 90 gives 63, not 62).
        wanted = Math.trunc(Math.fround(Math.fround(nonzero) * Math.fround(selectTopk)));
        const trivial = trivialCut(wanted, n);
        if (trivial) cut = trivial;
        else {
          ({ bin, above } = highBinOfRank(high, wanted));
          low = new Uint32Array(BINS);
        }
      } else if (low) cut = cutInLowBins(low, bin, above, wanted);
    },
    emit(chunk, out) {
      const vectors = vectorsOf(chunk);
      if (select) keepSelected(vectors, chunk.elements);
      const base = chunkValues(chunk.base!, input.scratch, 'chunkBase', chunk.elements);
      writeChunk(out, input.scratch, chunk.elements, (values) => {
        for (let j = 0; j < chunk.elements; j++) {
          let vote = 0;
          for (let i = 0; i < count; i++) vote += vectors[i][j];
          const positive = vote >= 0;
          let mixed = 0;
          let weightSum = 0;
          for (let i = 0; i < count; i++) {
            const tau = vectors[i][j];
            if (positive ? tau > 0 : tau < 0) {
              mixed += weights[i] * tau;
              weightSum += weights[i];
            }
          }
          values[j] = base[j] + mixed / Math.max(weightSum, 1e-6);
        }
      });
    },
  };
}
