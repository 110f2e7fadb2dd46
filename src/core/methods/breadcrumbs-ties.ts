import { defineTaskArithmeticMethod } from './task-arithmetic-pipeline.ts';

export const breadcrumbsTies = defineTaskArithmeticMethod({
  name: 'breadcrumbs_ties',
  description:
    "Model Breadcrumbs with TIES sign election (arXiv 2312.06795).",
  sparsification: 'magnitude_outliers',
  signConsensus: true,
  defaultNormalize: false,
  defaultRescale: false,
});
