import { defineTaskArithmeticMethod } from './task-arithmetic-pipeline.ts';

export const taskArithmetic = defineTaskArithmeticMethod({
  name: 'task_arithmetic',
  description:
    "Task arithmetic: adds the weighted sum of task vectors (model - base) to the base (arXiv 2212.04089).",
  sparsification: 'none',
  signConsensus: false,
  defaultNormalize: false,
  defaultRescale: false,
});
