import { defineTaskArithmeticMethod } from './task-arithmetic-pipeline.ts';

export const dareTies = defineTaskArithmeticMethod({
  name: 'dare_ties',
  description:
    "DARE-TIES: randomly drops task-vector entries, rescales the survivors, then TIES sign election (arXiv 2311.03099).",
  sparsification: 'random',
  signConsensus: true,
  defaultNormalize: false,
  defaultRescale: true,
});
