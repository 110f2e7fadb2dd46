/** GPU bindings of linear and passthrough: one linear combination of the models per tensor. */
import { globalBoolean, modelNumberOrUndefined, modelNumbers } from '../../methods/params.ts';
import { wholeTensor } from './reduce.ts';
import { combineToOutput, methodContext, stackRows, type GpuMethodImpl } from './job.ts';

/** Below this |sum of weights| normalizing is skipped (the CPU reference's guard). */
const ZERO_WEIGHT_SUM = 1e-8;

export const linearGpu: GpuMethodImpl = async (job) => {
  const { ctx, elements } = methodContext(job, { base: 'none', minModels: 1 });
  const normalize = globalBoolean(ctx, 'normalize');
  const weights = modelNumbers(ctx, 'weight').map(Math.fround);
  const sum = weights.reduce((a, b) => a + b, 0);
  const factor = normalize && Math.abs(sum) >= ZERO_WEIGHT_SUM ? 1 / sum : 1;
  const tensors = stackRows(job, job.input.models, elements);
  try {
    await combineToOutput(job, tensors, weights.map((w) => w * factor), wholeTensor(elements));
  } finally {
    tensors.dispose();
  }
};

export const passthroughGpu: GpuMethodImpl = async (job) => {
  const { ctx, elements } = methodContext(job, { base: 'none', minModels: 1, maxModels: 1 });
  const scale = modelNumberOrUndefined(ctx, 0, 'scale') ?? 1;
  const tensors = stackRows(job, job.input.models, elements);
  try {
    await combineToOutput(job, tensors, [scale], wholeTensor(elements));
  } finally {
    tensors.dispose();
  }
};
