import { defineTaskArithmeticMethod } from './task-arithmetic-pipeline.ts';

export const della = defineTaskArithmeticMethod({
  name: 'della',
  description:
    "DELLA: drops task-vector entries with a keep probability rising with magnitude rank, rescales, then TIES sign election (arXiv 2406.11617).",
  sparsification: 'della_magprune',
  signConsensus: true,
  defaultNormalize: true,
  defaultRescale: true,
});
