import type { MergeMethod, ParamSpec } from './types.ts';
import { checkInputs, globalNumber,outputArray, type MethodContext } from './params.ts';
import { contributions, mixContributions } from './ram-vectors.ts';

const params: ParamSpec[] = [
  { name: 'epsilon', scope: 'global', kind: 'number', default: 1e-5, min: 0, description: 'Task-vector entries with |value| at or below this do not contribute.' },
];

export const ram: MergeMethod = {
  name: 'ram',
  description: 'Reinforced Agent Merging: entries changed by one model take its change, entries changed by several take the mean of their changes (arXiv 2601.13572).',
  base: 'required',
  // An entry's contributors are counted over the models at that entry only.
  elementwise: true,
  params,
  mergeCpu(input) {
    const ctx: MethodContext = { method: 'ram', params, input };
    const n = checkInputs(ctx, { base: 'required', minModels: 1, maxModels: 255 });
    const epsilon = globalNumber(ctx, 'epsilon');
    const map = contributions(input.models, input.base!, epsilon);
    return mixContributions(outputArray(ctx, n), input.base!, map, input.models.map(() => 1));
  },
};
