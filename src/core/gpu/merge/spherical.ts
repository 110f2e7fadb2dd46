/** GPU bindings of the spherical methods (slerp, nuslerp, multislerp, karcher). Each result lies
 * in the span of its input rows, so the GPU computes the Gram matrix of the rows (the only
 * full-size reductions), the host runs the method's scalar math on it in f64 (karcher's iterations
 * included), and one combine pass writes coefficient x row sums. */
import { MergeStudioError } from '../../errors.ts';
import { globalBoolean, globalNumber, modelNumbers } from '../../methods/params.ts';
import { rowGram, wholeTensor, type VectorLayout } from './reduce.ts';
import { combineToOutput, methodContext, stackRows, type GpuMethodImpl } from './job.ts';

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

/** Quadratic form a^T G b of coefficient vectors over a Gram matrix. */
function form(gram: number[][], a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) for (let j = 0; j < b.length; j++) s += a[i] * gram[i][j] * b[j];
  return s;
}

/** slerp: mergekit's lerp fallback when |cos| > 0.9995; norms only divide when above 1e-8. */
export const slerpGpu: GpuMethodImpl = async (job) => {
  const { ctx, elements } = methodContext(job, { base: 'required', minModels: 1, maxModels: 1 });
  const t = globalNumber(ctx, 't');
  const tensors = stackRows(job, [job.input.base!, job.input.models[0]], elements);
  try {
    const gram = await rowGram(job.runner, tensors, 2, wholeTensor(elements));
    const n0 = Math.sqrt(gram(0, 0)[0]);
    const n1 = Math.sqrt(gram(1, 1)[0]);
    const dot = gram(0, 1)[0] * (n0 > 1e-8 ? 1 / n0 : 1) * (n1 > 1e-8 ? 1 / n1 : 1);
    let c0 = 1 - t;
    let c1 = t;
    if (Math.abs(dot) <= 0.9995) {
      const theta = Math.acos(dot);
      c0 = Math.sin(theta * (1 - t)) / Math.sin(theta);
      c1 = Math.sin(theta * t) / Math.sin(theta);
    }
    await combineToOutput(job, tensors, [c0, c1], wholeTensor(elements));
  } finally {
    tensors.dispose();
  }
};

/** nuslerp's vectors: the whole tensor, each row (last dim), or with row_wise each column (dim 0). */
function nuslerpLayout(shape: number[], elements: number, flatten: boolean, rowWise: boolean): VectorLayout {
  if (flatten || shape.length < 2) return wholeTensor(elements);
  if (!rowWise) {
    const length = shape[shape.length - 1];
    return { count: elements / length, length, stride: 1, startStep: length };
  }
  const rest = elements / shape[0];
  return { count: rest, length: shape[0], stride: rest, startStep: 1 };
}

export const nuslerpGpu: GpuMethodImpl = async (job) => {
  const { ctx, elements } = methodContext(job, { base: 'optional', minModels: 2, maxModels: 2 });
  const rowWise = globalBoolean(ctx, 'nuslerp_row_wise');
  const flatten = globalBoolean(ctx, 'nuslerp_flatten');
  const [w0, w1] = modelNumbers(ctx, 'weight');
  const t = Math.abs(w0 + w1) < 1e-6 ? 0.5 : w1 / (w0 + w1);
  const { base, models } = job.input;
  const rows = base ? [models[0], models[1], base] : [models[0], models[1]];
  const tensors = stackRows(job, rows, elements, { taskVectorsOf: base ? 2 : 0 });
  try {
    const layout = nuslerpLayout(job.input.shape, elements, flatten, rowWise);
    const gram = await rowGram(job.runner, tensors, 2, layout);
    const [s00, s11, s01] = [gram(0, 0), gram(1, 1), gram(0, 1)];
    const coefficients = new Float64Array(layout.count * rows.length);
    for (let v = 0; v < layout.count; v++) {
      const cos = s01[v] / (Math.max(Math.sqrt(s00[v]), 1e-7) * Math.max(Math.sqrt(s11[v]), 1e-7));
      const theta = Math.acos(clamp(cos, -1, 1));
      const sinTheta = Math.sin(theta);
      const colinear = Math.abs(sinTheta) < 1e-8;
      coefficients[v * rows.length] = colinear ? 1 - t : Math.sin((1 - t) * theta) / sinTheta;
      coefficients[v * rows.length + 1] = colinear ? t : Math.sin(t * theta) / sinTheta;
      if (base) coefficients[v * rows.length + 2] = 1;
    }
    await combineToOutput(job, tensors, coefficients, layout);
  } finally {
    tensors.dispose();
  }
};

export const multislerpGpu: GpuMethodImpl = async (job) => {
  const { ctx, elements } = methodContext(job, { base: 'optional', minModels: 1 });
  const normalizeWeights = globalBoolean(ctx, 'normalize_weights');
  const eps = globalNumber(ctx, 'eps');
  let weights = modelNumbers(ctx, 'weight').map(Math.fround);
  const { base, models, tensorName } = job.input;
  const count = models.length;
  if (count === 1) {
    // The CPU reference returns the single model as is (no base added).
    const single = stackRows(job, [models[0]], elements);
    try {
      await combineToOutput(job, single, [1], wholeTensor(elements));
    } finally {
      single.dispose();
    }
    return;
  }
  if (normalizeWeights) {
    const sum = weights.reduce((a, b) => a + b, 0);
    if (sum === 0) {
      throw new MergeStudioError('invalid-parameter', `multislerp: the weights of tensor '${tensorName}' sum to 0, so normalize_weights cannot scale them to 1`, { tensor: tensorName, weights });
    }
    weights = weights.map((w) => w / sum);
  }
  const rows = base ? [...models, base] : models;
  const tensors = stackRows(job, rows, elements, { taskVectorsOf: base ? count : 0 });
  try {
    const layout = wholeTensor(elements);
    const g = await rowGram(job.runner, tensors, count, layout);
    const gram = Array.from({ length: count }, (_, i) => Array.from({ length: count }, (_, j) => g(i, j)[0]));
    const norms = gram.map((row, i) => Math.sqrt(row[i]));
    const unitScale = norms.map((nm) => 1 / (nm + eps));
    const meanCoef = weights.map((w, i) => w * unitScale[i]);
    const meanNorm = Math.sqrt(Math.max(0, form(gram, meanCoef, meanCoef)));
    const withBase = (c: number[]) => (base ? [...c, 1] : c);
    if (meanNorm < eps) {
      if (count !== 2) {
        throw new MergeStudioError('degenerate-input', `multislerp: the weighted mean direction of tensor '${tensorName}' is zero (antipodal models with balancing weights); change the weights`, { tensor: tensorName });
      }
      await combineToOutput(job, tensors, withBase(weights), layout);
      return;
    }
    const mean = meanCoef.map((c) => c / meanNorm);
    // <u_i, mean> with u_i = p_i * unitScale_i, then the tangent sum_i (w_i u_i - w_i <u_i, mean> mean).
    const dots = gram.map((row, i) => unitScale[i] * row.reduce((s, gij, j) => s + gij * mean[j], 0));
    const meanShare = weights.reduce((s, w, i) => s + w * dots[i], 0);
    const tangent = weights.map((w, k) => w * unitScale[k] - meanShare * mean[k]);
    const tangentNorm = Math.sqrt(Math.max(0, form(gram, tangent, tangent))) + eps;
    const averageNorm = norms.reduce((s, nm, i) => s + nm * weights[i], 0);
    const cm = Math.cos(tangentNorm) * averageNorm;
    const ct = (Math.sin(tangentNorm) / tangentNorm) * averageNorm;
    await combineToOutput(job, tensors, withBase(mean.map((m, k) => cm * m + ct * tangent[k])), layout);
  } finally {
    tensors.dispose();
  }
};

/** karcher: the Riemannian mean iterates on coefficient vectors over the unit directions, whose
 * inner products are the Gram matrix scaled by the norms. */
export const karcherGpu: GpuMethodImpl = async (job) => {
  const { ctx, elements } = methodContext(job, { base: 'optional', minModels: 1 });
  const maxIter = globalNumber(ctx, 'max_iter');
  const tol = globalNumber(ctx, 'tol');
  const points = job.input.base ? [...job.input.models, job.input.base] : job.input.models;
  const tensors = stackRows(job, points, elements);
  try {
    const layout = wholeTensor(elements);
    if (points.length === 1) {
      await combineToOutput(job, tensors, [1], layout);
      return;
    }
    const g = await rowGram(job.runner, tensors, points.length, layout);
    const norms = points.map((_, i) => Math.sqrt(g(i, i)[0]));
    const valid = points.map((_, i) => i).filter((i) => norms[i] > tol);
    const coefficients = new Array<number>(points.length).fill(0);
    if (valid.length > 0) {
      const unitGram = valid.map((i) => valid.map((j) => g(i, j)[0] / (norms[i] * norms[j])));
      const weight = 1 / valid.length;
      let u = valid.map(() => weight);
      const initialNorm = Math.sqrt(Math.max(0, form(unitGram, u, u)));
      u = initialNorm < tol ? valid.map((_, k) => (k === 0 ? 1 : 0)) : u.map((x) => x / initialNorm);
      for (let iter = 0; iter < maxIter; iter++) {
        const tangent = valid.map(() => 0);
        const projections = unitGram.map((row) => row.reduce((s, x, j) => s + x * u[j], 0));
        valid.forEach((_, i) => {
          const c = clamp(projections[i], -1, 1);
          const theta = Math.acos(c);
          if (theta < tol) return;
          const k = (weight * theta) / Math.sin(theta);
          for (let j = 0; j < tangent.length; j++) tangent[j] += k * ((i === j ? 1 : 0) - c * u[j]);
        });
        const tangentNorm = Math.sqrt(Math.max(0, form(unitGram, tangent, tangent)));
        if (tangentNorm < tol) break;
        const cu = Math.cos(tangentNorm);
        const ct = Math.sin(tangentNorm) / tangentNorm;
        u = u.map((x, j) => cu * x + ct * tangent[j]);
        const uNorm = Math.sqrt(Math.max(0, form(unitGram, u, u)));
        if (uNorm > tol) u = u.map((x) => x / uNorm);
      }
      // Global scale: the mean norm over ALL points, zero-norm ones included (as the CPU reference).
      const scale = norms.reduce((s, nm) => s + nm / points.length, 0);
      valid.forEach((i, k) => (coefficients[i] = (scale * u[k]) / norms[i]));
    }
    await combineToOutput(job, tensors, coefficients, layout);
  } finally {
    tensors.dispose();
  }
};
