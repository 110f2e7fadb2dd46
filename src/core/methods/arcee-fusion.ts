import type { ChunkedMerge, MergeMethod, ParamSpec, TensorChunk } from './types.ts';
import { checkInputs, outputArray, type MethodContext } from './params.ts';
import { countHighBins, countLowBins, cutInLowBins, highBinOfRank, orderedF32Keys, valueOfOrderedKey } from './select.ts';
import { chunkValues, workArray, writeChunk, mergeAsOneChunk } from './scratch.ts';

const params: ParamSpec[] = [];

const PROB_EPS = 1e-8;
const BINS = 1 << 16;

/** Per-row KL(softmax(model) || softmax(base)) over the last dim (1-D tensors are one row). */
function rowDivergence(model: Float32Array, base: Float32Array, start: number, length: number): number {
  let maxP = -Infinity;
  let maxQ = -Infinity;
  for (let j = start; j < start + length; j++) {
    maxP = Math.max(maxP, model[j]);
    maxQ = Math.max(maxQ, base[j]);
  }
  let sumP = 0;
  let sumQ = 0;
  for (let j = start; j < start + length; j++) {
    sumP += Math.exp(model[j] - maxP);
    sumQ += Math.exp(base[j] - maxQ);
  }
  let kl = 0;
  for (let j = start; j < start + length; j++) {
    const p = Math.exp(model[j] - maxP) / sumP + PROB_EPS;
    const q = Math.exp(base[j] - maxQ) / sumQ + PROB_EPS;
    kl += p * Math.log(p / q);
  }
  return kl;
}

export const arceeFusion: MergeMethod = {
  name: 'arcee_fusion',
  description: 'Arcee Fusion: takes the other model\'s change only where |change| x row KL divergence is an upper outlier (>= median + 1.5 IQR).',
  base: 'required',
  params,
  mergeCpu(input) {
    const ctx: MethodContext = { method: 'arcee_fusion', params, input };
    const n = checkInputs(ctx, { base: 'required', minModels: 1, maxModels: 1 });
    const out = outputArray(ctx, n);
    // The whole tensor is one chunk of the chunked merge.
    return mergeAsOneChunk(chunked(ctx, n), input, n, out);
  },
  mergeChunks(input) {
    const ctx: MethodContext = { method: 'arcee_fusion', params, input };
    const n = checkInputs(ctx, { base: 'required', minModels: 1, maxModels: 1, placeholders: true });
    // A 1-D tensor is one row: its divergence needs every element at once.
    return input.shape.length < 2 ? undefined : chunked(ctx, n);
  },
};

/** Three quantiles of the importance by histograms of its ordered keys (two scans), then each
 * chunk (whole rows: the divergence is per row) keeps the changes at or above the threshold. */
function chunked(ctx: MethodContext, n: number): ChunkedMerge {
  const { input } = ctx;
  const rowLength = input.shape.length === 0 ? 1 : input.shape[input.shape.length - 1];
  // Exact quantiles over every element. mergekit samples 1e6 random elements on larger tensors,
  // which makes its output seed-dependent there; below that both are the same element.
  const quantiles = [0.5, 0.75, 0.25].map((q) => ({ count: n - Math.trunc(q * (n - 1)), bin: 0, above: 0, low: new Uint32Array(BINS), value: 0 }));
  const high = new Uint32Array(BINS);
  let threshold = 0;
  const importanceOf = (chunk: TensorChunk) => {
    const model = chunkValues(chunk.models[0], input.scratch, 'chunkModel0', chunk.elements);
    const base = chunkValues(chunk.base!, input.scratch, 'chunkBase', chunk.elements);
    const importance = workArray(input.scratch, 'chunkImportance', chunk.elements);
    for (let start = 0; start < chunk.elements; start += rowLength) {
      const kl = rowDivergence(model, base, start, rowLength);
      for (let j = start; j < start + rowLength; j++) importance[j] = Math.abs(Math.fround(model[j] - base[j])) * kl;
    }
    return { model, base, importance };
  };
  const keysOf = (importance: Float32Array) => {
    const slot = workArray(input.scratch, 'chunkKeys', importance.length);
    return orderedF32Keys(importance, new Uint32Array(slot.buffer, slot.byteOffset, importance.length));
  };
  return {
    passes: 2,
    scan(pass, chunk) {
      const keys = keysOf(importanceOf(chunk).importance);
      if (pass === 0) countHighBins(keys, 0xffffffff, high);
      else for (const q of quantiles) countLowBins(keys, 0xffffffff, q.bin, q.low);
    },
    endPass(pass) {
      for (const q of quantiles) {
        if (pass === 0) ({ bin: q.bin, above: q.above } = highBinOfRank(high, q.count));
        else q.value = valueOfOrderedKey(cutInLowBins(q.low, q.bin, q.above, q.count).threshold);
      }
      if (pass === 1) {
        const [median, upper, lower] = quantiles.map((q) => q.value);
        const iqr = Math.fround(upper - lower);
        threshold = Math.fround(median + Math.fround(1.5 * iqr));
      }
    },
    emit(chunk, out) {
      const { model, base, importance } = importanceOf(chunk);
      writeChunk(out, input.scratch, chunk.elements, (values) => {
        for (let j = 0; j < chunk.elements; j++) values[j] = importance[j] >= threshold ? base[j] + Math.fround(model[j] - base[j]) : base[j];
      });
    },
  };
}
