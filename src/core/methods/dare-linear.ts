import { defineTaskArithmeticMethod } from './task-arithmetic-pipeline.ts';

export const dareLinear = defineTaskArithmeticMethod({
  name: 'dare_linear',
  description:
    "DARE linear: randomly drops task-vector entries, rescales the survivors and adds the weighted sum (arXiv 2311.03099).",
  sparsification: 'random',
  signConsensus: false,
  defaultNormalize: false,
  defaultRescale: true,
});
