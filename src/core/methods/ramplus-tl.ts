import type { ChunkedMerge, MergeMethod, ParamSpec, TensorChunk } from './types.ts';
import { checkInputs, globalNumber, outputArray, type MethodContext } from './params.ts';
import { chunkValues, writeChunk, mergeAsOneChunk } from './scratch.ts';
import { contributions, mixContributions } from './ram-vectors.ts';

const params: ParamSpec[] = [
  { name: 'r', scope: 'global', kind: 'number', default: 0.1, description: 'Strength of the boost of each model\'s unique entries.' },
  { name: 'alpha', scope: 'global', kind: 'number', default: 0.2, min: 0, description: 'Cap of the shared/unique ratio that drives the boost.' },
  { name: 'epsilon', scope: 'global', kind: 'number', default: 1e-5, min: 0, description: 'Task-vector entries with |value| at or below this do not contribute.' },
];

export const ramplusTl: MergeMethod = {
  name: 'ramplus_tl',
  description: 'RAM+ (tensor-local): RAM with each model\'s unique entries scaled by 1 + r * min(shared/unique, alpha) (arXiv 2601.13572).',
  base: 'required',
  params,
  mergeCpu(input) {
    const ctx: MethodContext = { method: 'ramplus_tl', params, input };
    const n = checkInputs(ctx, { base: 'required', minModels: 1, maxModels: 255 });
    const out = outputArray(ctx, n);
    // The whole tensor is one chunk of the chunked merge.
    return mergeAsOneChunk(chunked(ctx), input, n, out);
  },
  mergeChunks(input) {
    const ctx: MethodContext = { method: 'ramplus_tl', params, input };
    checkInputs(ctx, { base: 'required', minModels: 1, maxModels: 255, placeholders: true });
    return chunked(ctx);
  },
};

/** One scan counts each model's shared and unique entries (integers: any chunking gives the same
 * counts), then each chunk mixes with the boosts they give. */
function chunked(ctx: MethodContext): ChunkedMerge {
  const { input } = ctx;
  const r = globalNumber(ctx, 'r');
  const alpha = globalNumber(ctx, 'alpha');
  const epsilon = globalNumber(ctx, 'epsilon');
  const shared = input.models.map(() => 0);
  const unique = input.models.map(() => 0);
  let boost: number[] = [];
  const contributionsOf = (chunk: TensorChunk) =>
    contributions(
      chunk.models.map((m, i) => chunkValues(m, input.scratch, `chunkModel${i}`, chunk.elements)),
      chunkValues(chunk.base!, input.scratch, 'chunkBase', chunk.elements),
      epsilon,
    );
  return {
    passes: 1,
    scan(_pass, chunk) {
      const map = contributionsOf(chunk);
      map.vectors.forEach((tau, i) => {
        for (let j = 0; j < tau.length; j++) {
          if (tau[j] === 0) continue;
          if (map.contributors[j] > 1) shared[i]++;
          else unique[i]++;
        }
      });
    },
    endPass() {
      boost = shared.map((s, i) => {
        const rho = s / Math.max(unique[i], epsilon);
        return 1 + r * Math.min(alpha, Math.max(0, rho));
      });
    },
    emit(chunk, out) {
      const map = contributionsOf(chunk);
      const base = chunkValues(chunk.base!, input.scratch, 'chunkBase', chunk.elements);
      writeChunk(out, input.scratch, chunk.elements, (values) => mixContributions(values, base, map, boost));
    },
  };
}
