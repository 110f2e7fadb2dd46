import { defineTaskArithmeticMethod } from './task-arithmetic-pipeline.ts';

export const dellaLinear = defineTaskArithmeticMethod({
  name: 'della_linear',
  description:
    "DELLA linear: magnitude-ranked random dropping and rescale, then the weighted sum (arXiv 2406.11617).",
  sparsification: 'della_magprune',
  signConsensus: false,
  defaultNormalize: false,
  defaultRescale: true,
});
