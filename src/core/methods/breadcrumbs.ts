import { defineTaskArithmeticMethod } from './task-arithmetic-pipeline.ts';

export const breadcrumbs = defineTaskArithmeticMethod({
  name: 'breadcrumbs',
  description:
    "Model Breadcrumbs: drops both the smallest and the largest (outlier) task-vector entries, then task arithmetic (arXiv 2312.06795).",
  sparsification: 'magnitude_outliers',
  signConsensus: false,
  defaultNormalize: false,
  defaultRescale: false,
});
