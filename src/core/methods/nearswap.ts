import type { MergeMethod, ParamSpec } from './types.ts';
import { checkInputs, globalNumber,outputArray, type MethodContext } from './params.ts';

const params: ParamSpec[] = [
  { name: 't', scope: 'global', kind: 'number', required: true, min: 0, description: 'Similarity threshold: entries closer than t take the other model\'s value, farther ones move by t/|diff|.' },
];

export const nearswap: MergeMethod = {
  name: 'nearswap',
  description: 'NearSwap: per entry, interpolate from the base toward the other model with weight clamp(t / |base - other|, 0, 1).',
  base: 'required',
  elementwise: true,
  params,
  mergeCpu(input) {
    const ctx: MethodContext = { method: 'nearswap', params, input };
    const n = checkInputs(ctx, { base: 'required', minModels: 1, maxModels: 1 });
    const t = globalNumber(ctx, 't');
    const a = input.base!;
    const b = input.models[0];
    const out = outputArray(ctx, n);
    for (let j = 0; j < n; j++) {
      const distance = Math.max(Math.abs(Math.fround(a[j] - b[j])), 1e-6);
      const w = Math.min(1, Math.max(0, t / distance));
      out[j] = w * b[j] + (1 - w) * a[j];
    }
    return out;
  },
};
