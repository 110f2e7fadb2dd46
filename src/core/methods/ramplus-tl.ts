import type { MergeMethod, ParamSpec } from './types.ts';
import { checkInputs, globalNumber,outputArray, type MethodContext } from './params.ts';
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
    const r = globalNumber(ctx, 'r');
    const alpha = globalNumber(ctx, 'alpha');
    const epsilon = globalNumber(ctx, 'epsilon');
    const map = contributions(input.models, input.base!, epsilon);
    const boost = map.vectors.map((tau) => {
      let shared = 0;
      let unique = 0;
      for (let j = 0; j < tau.length; j++) {
        if (tau[j] === 0) continue;
        if (map.contributors[j] > 1) shared++;
        else unique++;
      }
      const rho = shared / Math.max(unique, epsilon);
      return 1 + r * Math.min(alpha, Math.max(0, rho));
    });
    return mixContributions(outputArray(ctx, n), input.base!, map, boost);
  },
};
