import type { MergeMethod, ParamSpec } from './types.ts';
import { checkInputs, modelNumberOrUndefined,copyInto, outputArray, type MethodContext } from './params.ts';

const params: ParamSpec[] = [
  { name: 'scale', scope: 'model', kind: 'number', description: 'Optional factor the tensor is multiplied by.' },
];

export const passthrough: MergeMethod = {
  name: 'passthrough',
  description: 'Passthrough: copies one model\'s tensor unchanged (optionally scaled); used to stack layer slices.',
  base: 'none',
  elementwise: true,
  params,
  mergeCpu(input) {
    const ctx: MethodContext = { method: 'passthrough', params, input };
    const n = checkInputs(ctx, { base: 'none', minModels: 1, maxModels: 1 });
    const scale = modelNumberOrUndefined(ctx, 0, 'scale');
    const tensor = input.models[0];
    const out = outputArray(ctx, n);
    if (scale === undefined) return copyInto(out, tensor);
    for (let j = 0; j < out.length; j++) out[j] = tensor[j] * scale;
    return out;
  },
};
