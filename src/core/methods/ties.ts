import { defineTaskArithmeticMethod } from './task-arithmetic-pipeline.ts';

export const ties = defineTaskArithmeticMethod({
  name: 'ties',
  description:
    "TIES: keeps each task vector's largest-magnitude entries, elects a sign per entry and averages the agreeing entries (arXiv 2306.01708).",
  sparsification: 'magnitude',
  signConsensus: true,
  defaultNormalize: true,
  defaultRescale: false,
});
