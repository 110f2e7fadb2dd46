/** The generalized task-arithmetic pipeline shared by task_arithmetic, ties, dare_*, breadcrumbs*
 * and della*: task vectors (f32, like mergekit) -> sparsify -> sign consensus -> normalize ->
 * lambda -> add to base. Each method file only picks its sparsifier, consensus and defaults. */
import type { MergeMethod, MergeTensorInput, ParamSpec } from './types.ts';
import { checkInputs, globalBoolean, globalNumber, modelNumbers, outputArray, type MethodContext } from './params.ts';
import { KEEP_ALL, magnitudeTaskVector, sparseTaskVector, type Sparsification } from './sparsify.ts';
import { f32Bits, type RankCut } from './select.ts';
import { maskStreamKey } from './random.ts';
import { workArray } from './scratch.ts';

export type SparsificationKind = 'none' | Sparsification['kind'];

export interface TaskArithmeticVariant {
  name: string;
  description: string;
  sparsification: SparsificationKind;
  /** TIES sign election ("sum" consensus): only entries agreeing with the weighted majority sign mix. */
  signConsensus: boolean;
  defaultNormalize: boolean;
  defaultRescale: boolean;
}

function schema(v: TaskArithmeticVariant): ParamSpec[] {
  const params: ParamSpec[] = [
    { name: 'int8_mask', scope: 'global', kind: 'boolean', default: false, description: 'Accepted for mergekit compatibility; it has no effect on the result.' },
    { name: 'normalize', scope: 'global', kind: 'boolean', default: v.defaultNormalize, description: 'Divide the mixed task vector by the sum of the (participating) weights.' },
    { name: 'rescale', scope: 'global', kind: 'boolean', default: v.defaultRescale, description: 'After sparsifying, scale survivors so the task vector keeps its L1 norm.' },
    { name: 'lambda', scope: 'global', kind: 'number', default: 1, description: 'Scale of the merged task vector before it is added to the base.' },
    { name: 'weight', scope: 'model', kind: 'number', required: true, description: 'Weight of this model\'s task vector.' },
    {
      name: 'density', scope: 'model', kind: 'number', default: 1, min: 0, max: 1,
      description: v.sparsification === 'none' ? 'Accepted for mergekit compatibility; task_arithmetic keeps every entry.' : 'Fraction of task-vector entries to keep.',
    },
  ];
  if (v.sparsification === 'magnitude_outliers') {
    params.push({ name: 'gamma', scope: 'model', kind: 'number', default: 0.01, min: 0, max: 1, description: 'Fraction of the largest-magnitude entries to drop as outliers.' });
  }
  if (v.sparsification === 'della_magprune') {
    params.push({ name: 'epsilon', scope: 'model', kind: 'number', default: 0.15, min: 0, max: 0.5, description: 'Keep probability spreads over density ± epsilon by magnitude rank within each row.' });
  }
  return params;
}

function sparsificationFor(v: TaskArithmeticVariant, ctx: MethodContext, position: number, density: number, gamma: number[], epsilon: number[]): Sparsification {
  const { input } = ctx;
  switch (v.sparsification) {
    case 'magnitude':
      return { kind: 'magnitude', density };
    case 'magnitude_outliers':
      return { kind: 'magnitude_outliers', density, gamma: gamma[position] };
    case 'random':
      return { kind: 'random', density, streamKey: maskStreamKey(input.seed, input.tensorName, input.modelIndices[position]) };
    case 'della_magprune':
      return { kind: 'della_magprune', density, epsilon: epsilon[position], streamKey: maskStreamKey(input.seed, input.tensorName, input.modelIndices[position]) };
    case 'none':
      throw new Error('unreachable: no sparsifier');
  }
}

/** Every method of this family by name, so other backends (the WebGPU binding) follow the same
 * sparsifier and consensus choices instead of keeping a copy of them. */
const VARIANTS = new Map<string, TaskArithmeticVariant>();

export function taskArithmeticVariant(name: string): TaskArithmeticVariant | undefined {
  return VARIANTS.get(name);
}

/** The family's resolved parameters for one tensor, read the same way by every backend. */
export function taskArithmeticParams(ctx: MethodContext, sparsification: SparsificationKind) {
  globalBoolean(ctx, 'int8_mask');
  return {
    normalize: globalBoolean(ctx, 'normalize'),
    rescale: globalBoolean(ctx, 'rescale'),
    lambda: globalNumber(ctx, 'lambda'),
    // mergekit multiplies by a float32 weight tensor.
    weights: modelNumbers(ctx, 'weight').map(Math.fround),
    densities: modelNumbers(ctx, 'density'),
    gamma: sparsification === 'magnitude_outliers' ? modelNumbers(ctx, 'gamma') : [],
    epsilon: sparsification === 'della_magprune' ? modelNumbers(ctx, 'epsilon') : [],
  };
}

export function defineTaskArithmeticMethod(v: TaskArithmeticVariant): MergeMethod {
  VARIANTS.set(v.name, v);
  const params = schema(v);
  return {
    name: v.name,
    description: v.description,
    base: 'required',
    // Without a sparsifier nothing looks beyond one element (the others rank or hash by position).
    elementwise: v.sparsification === 'none',
    params,
    mergeCpu(input: MergeTensorInput): Float32Array {
      const ctx: MethodContext = { method: v.name, params, input };
      checkInputs(ctx, { base: 'required', minModels: 1 });
      const { normalize, rescale, lambda, weights, densities, gamma, epsilon } = taskArithmeticParams(ctx, v.sparsification);
      const base = input.base!;

      let taskVectors: Float32Array[];
      let deltasFromModels = false;
      const coefficients = weights.slice();
      // TIES without rescale on up to three models: the mixing pass applies the magnitude mask
      // itself, sparing a read-and-write pass over every task vector.
      if (v.sparsification === 'magnitude' && v.signConsensus && !rescale && input.models.length <= 3) {
        const sparse = input.models.map((model, i) => magnitudeTaskVector(model, base, densities[i], workArray(input.scratch, `taskVector${i}`, base.length)));
        const out = outputArray(ctx, base.length);
        const cuts = sparse.map((s) => s.cut);
        electedMeanMasked3(out, base, padded(sparse.map((s) => s.values)), paddedNumbers(coefficients), paddedNumbers(weights), [cuts[0], cuts[1] ?? KEEP_ALL, cuts[2] ?? KEEP_ALL], { signConsensus: true, normalize, lambda });
        return out;
      }
      if (v.sparsification === 'none') {
        // Without a sparsifier the task vectors are formed on the fly from the models.
        taskVectors = input.models;
        deltasFromModels = true;
      } else {
        taskVectors = input.models.map((model, i) => {
          const label = `${v.name}: tensor '${input.tensorName}' of model #${input.modelIndices[i]}`;
          const into = workArray(input.scratch, `taskVector${i}`, base.length);
          const sparse = sparseTaskVector(model, base, input.shape, sparsificationFor(v, ctx, i, densities[i], gamma, epsilon), rescale, label, into);
          coefficients[i] *= sparse.scale;
          return sparse.values;
        });
      }
      return mixTaskVectors(outputArray(ctx, base.length), base, taskVectors, deltasFromModels, coefficients, weights, { signConsensus: v.signConsensus, normalize, lambda });
    },
  };
}

interface MixOptions {
  signConsensus: boolean;
  normalize: boolean;
  lambda: number;
}

/** base + lambda * (sum_i c_i * tau_i) / divisor, with TIES sign election when asked.
 * `coefficients` = weight x rescale factor; `weights` alone form the divisor (as in mergekit).
 * Up to three models run through one unrolled kernel (absent ones get coefficient 0, which
 * neither votes nor mixes): several times faster than a loop over an array of arrays. */
function mixTaskVectors(out: Float32Array, base: Float32Array, vectors: Float32Array[], fromModels: boolean, coefficients: number[], weights: number[], o: MixOptions): Float32Array {
  if (!o.signConsensus) {
    let divisor = weights.reduce((a, b) => a + b, 0);
    if (Math.abs(divisor) < 1e-8) divisor = 1; // mergekit's guard against a zero weight sum
    const factor = o.normalize ? o.lambda / divisor : o.lambda;
    const scaled = coefficients.map((c) => c * factor);
    if (vectors.length <= 3) weightedSum3(out, base, padded(vectors), fromModels, paddedNumbers(scaled));
    else weightedSumMany(out, base, vectors, fromModels, scaled);
    return out;
  }
  if (vectors.length <= 3) electedMean3(out, base, padded(vectors), paddedNumbers(coefficients), paddedNumbers(weights), o);
  else electedMeanMany(out, base, vectors, coefficients, weights, o);
  return out;
}

function padded(vectors: Float32Array[]): [Float32Array, Float32Array, Float32Array] {
  return [vectors[0], vectors[1] ?? vectors[0], vectors[2] ?? vectors[0]];
}

function paddedNumbers(xs: number[]): [number, number, number] {
  return [xs[0], xs[1] ?? 0, xs[2] ?? 0];
}

function weightedSum3(out: Float32Array, base: Float32Array, [a, b, c]: Float32Array[], fromModels: boolean, [ca, cb, cc]: number[]): void {
  if (fromModels) {
    for (let j = 0; j < out.length; j++) {
      const x = base[j];
      out[j] = x + (ca * Math.fround(a[j] - x) + cb * Math.fround(b[j] - x) + cc * Math.fround(c[j] - x));
    }
  } else {
    for (let j = 0; j < out.length; j++) out[j] = base[j] + (ca * a[j] + cb * b[j] + cc * c[j]);
  }
}

function weightedSumMany(out: Float32Array, base: Float32Array, v: Float32Array[], fromModels: boolean, c: number[]): void {
  const count = v.length;
  for (let j = 0; j < out.length; j++) {
    const x = base[j];
    let sum = 0;
    if (fromModels) for (let i = 0; i < count; i++) sum += c[i] * Math.fround(v[i][j] - x);
    else for (let i = 0; i < count; i++) sum += c[i] * v[i][j];
    out[j] = x + sum;
  }
}

// In the elected-mean kernels a vote of exactly 0 elects "+", and entries whose weighted delta is
// 0 agree with neither sign, so they never count in the mix or the divisor (mergekit's rule).
function electedMean3(out: Float32Array, base: Float32Array, [a, b, c]: Float32Array[], [ca, cb, cc]: number[], [wa, wb, wc]: number[], o: MixOptions): void {
  const { normalize, lambda } = o;
  // Branch-free: 0/1 agreement flags instead of data-dependent ifs (signs are unpredictable).
  for (let j = 0; j < out.length; j++) {
    const x = ca * a[j];
    const y = cb * b[j];
    const z = cc * c[j];
    const elected = 1 - 2 * +(x + y + z < 0);
    const fx = +(x * elected > 0);
    const fy = +(y * elected > 0);
    const fz = +(z * elected > 0);
    let mixed = fx * x + fy * y + fz * z;
    if (normalize) {
      const divisor = fx * wa + fy * wb + fz * wc;
      mixed /= divisor + +(divisor === 0);
    }
    out[j] = base[j] + mixed * lambda;
  }
}

// electedMean3 that also masks each vector by magnitude rank on the fly (TIES): key above the cut's
// threshold keeps, equal keys keep while the vector's tie budget lasts (index order). A separate
// kernel because the mask's extra loads would slow the already-sparsified variants by ~20%.
function electedMeanMasked3(out: Float32Array, base: Float32Array, [a, b, c]: Float32Array[], [ca, cb, cc]: number[], [wa, wb, wc]: number[], [cutA, cutB, cutC]: RankCut[], o: MixOptions): void {
  const { normalize, lambda } = o;
  const bitsA = f32Bits(a);
  const bitsB = f32Bits(b);
  const bitsC = f32Bits(c);
  const ta = cutA.threshold;
  const tb = cutB.threshold;
  const tc = cutC.threshold;
  let tiesA = cutA.tiedInside;
  let tiesB = cutB.tiedInside;
  let tiesC = cutC.tiedInside;
  // Branch-free: 0/1 agreement flags instead of data-dependent ifs (signs are unpredictable); only
  // keys equal to a threshold (rare) branch.
  for (let j = 0; j < out.length; j++) {
    const ka = bitsA[j] & 0x7fffffff;
    const kb = bitsB[j] & 0x7fffffff;
    const kc = bitsC[j] & 0x7fffffff;
    let ma = +(ka > ta);
    let mb = +(kb > tb);
    let mc = +(kc > tc);
    if (ka === ta) ma = +(tiesA-- > 0);
    if (kb === tb) mb = +(tiesB-- > 0);
    if (kc === tc) mc = +(tiesC-- > 0);
    const x = ca * (a[j] * ma);
    const y = cb * (b[j] * mb);
    const z = cc * (c[j] * mc);
    const elected = 1 - 2 * +(x + y + z < 0);
    const fx = +(x * elected > 0);
    const fy = +(y * elected > 0);
    const fz = +(z * elected > 0);
    let mixed = fx * x + fy * y + fz * z;
    if (normalize) {
      const divisor = fx * wa + fy * wb + fz * wc;
      mixed /= divisor + +(divisor === 0);
    }
    out[j] = base[j] + mixed * lambda;
  }
}

function electedMeanMany(out: Float32Array, base: Float32Array, v: Float32Array[], coefficients: number[], weights: number[], o: MixOptions): void {
  const count = v.length;
  for (let j = 0; j < out.length; j++) {
    let vote = 0;
    for (let i = 0; i < count; i++) vote += coefficients[i] * v[i][j];
    const positive = vote >= 0;
    let mixed = 0;
    let divisor = 0;
    for (let i = 0; i < count; i++) {
      const w = coefficients[i] * v[i][j];
      if (positive ? w > 0 : w < 0) {
        mixed += w;
        divisor += weights[i];
      }
    }
    if (o.normalize) mixed /= divisor === 0 ? 1 : divisor;
    out[j] = base[j] + mixed * o.lambda;
  }
}
