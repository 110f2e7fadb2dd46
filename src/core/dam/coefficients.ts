// DAM's parameters: for every merged tensor and every model i a coefficient vector c_i over the
// tensor's input channels (columns), so that merged[r, j] = sum_i c_i[j] * W_i[r, j]; biases get
// one scalar per model. All vectors live in one flat float64 array (what AdamW updates), model i's
// vector of a block at offset + i * width.
import { MergeStudioError } from '../errors.ts';
import type { CausalLMConfig } from '../eval/config.ts';
import { EMBED_TENSOR, FINAL_NORM_TENSOR, LM_HEAD_TENSOR, expectedTensors, layerTensorName, type LayerTensorRole } from '../eval/weights.ts';
import type { Real } from './network.ts';

export type CoefficientKind = 'linear' | 'bias' | 'norm' | 'embedding';

export interface CoefficientBlock {
  /** Checkpoint name of the merged tensor. */
  tensor: string;
  kind: CoefficientKind;
  layer: number | null;
  /** The tensor viewed as [rows, cols]; 1-D tensors are one row. */
  rows: number;
  cols: number;
  /** Entries per model: cols (one per input channel) or 1 (one scalar, for biases). */
  width: number;
  /** Where model 0's vector starts in the flat coefficient array. */
  offset: number;
}

export interface DamScope {
  /** Learn coefficients for the RMSNorm weights too (default false: they are averaged). */
  norms?: boolean;
  /** Learn coefficients for the input embeddings of untied models (default false). With tied
   * embeddings the matrix is also lm_head, which is always learned. */
  embeddings?: boolean;
}

export interface CoefficientLayout {
  numModels: number;
  blocks: CoefficientBlock[];
  /** Total entries of the flat coefficient array (numModels * sum of widths). */
  size: number;
  /** Tensors merged by uniform averaging, without coefficients. */
  frozen: string[];
}

const LINEAR_ROLES: LayerTensorRole[] = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];
const BIAS_ROLES: LayerTensorRole[] = ['qBias', 'kBias', 'vBias', 'oBias'];

/** Which tensors get coefficients, for `numModels` models of this configuration. */
export function coefficientLayout(config: CausalLMConfig, numModels: number, scope: DamScope = {}): CoefficientLayout {
  if (!Number.isInteger(numModels) || numModels < 2) {
    throw new MergeStudioError('dam-too-few-models', `DAM merges at least two models, found ${numModels}`, { found: numModels });
  }
  const shapes = expectedTensors(config);
  const blocks: CoefficientBlock[] = [];
  let offset = 0;
  const add = (tensor: string, kind: CoefficientKind, layer: number | null) => {
    const shape = shapes.get(tensor);
    if (!shape) return;
    const [rows, cols] = shape.length === 2 ? shape : [1, shape[0]];
    const width = kind === 'bias' ? 1 : cols;
    blocks.push({ tensor, kind, layer, rows: kind === 'bias' ? shape[0] : rows, cols: kind === 'bias' ? 1 : cols, width, offset });
    offset += width * numModels;
  };
  if (config.tiedEmbeddings || scope.embeddings) add(EMBED_TENSOR, 'embedding', null);
  for (let l = 0; l < config.numLayers; l++) {
    if (scope.norms) add(layerTensorName('inputNorm', l), 'norm', l);
    for (const role of LINEAR_ROLES.slice(0, 4)) add(layerTensorName(role, l), 'linear', l);
    for (const role of BIAS_ROLES) add(layerTensorName(role, l), 'bias', l);
    if (scope.norms) add(layerTensorName('postNorm', l), 'norm', l);
    for (const role of LINEAR_ROLES.slice(4)) add(layerTensorName(role, l), 'linear', l);
  }
  if (scope.norms) add(FINAL_NORM_TENSOR, 'norm', null);
  if (!config.tiedEmbeddings) add(LM_HEAD_TENSOR, 'linear', null);
  const learned = new Set(blocks.map((b) => b.tensor));
  return { numModels, blocks, size: offset, frozen: [...shapes.keys()].filter((n) => !learned.has(n)) };
}

/** The DAM initialisation: every coefficient 1/N, i.e. uniform averaging. */
export function initialCoefficients(layout: CoefficientLayout): Float64Array {
  return new Float64Array(layout.size).fill(1 / layout.numModels);
}

/** merged = sum_i c_i (broadcast over rows) * W_i for one block. */
export function foldBlock(block: CoefficientBlock, coefficients: Float64Array, models: readonly Real[], out: Real): void {
  const { rows, cols, width, offset } = block;
  out.fill(0);
  for (let i = 0; i < models.length; i++) {
    const w = models[i], c = offset + i * width;
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      for (let j = 0; j < cols; j++) out[base + j] += coefficients[c + (width === 1 ? 0 : j)] * w[base + j];
    }
  }
}

/** dL/dc_i[j] += sum_r dL/dmerged[r, j] * W_i[r, j] for one block. */
export function accumulateBlockGradient(block: CoefficientBlock, mergedGrad: Real, models: readonly Real[], grad: Float64Array): void {
  const { rows, cols, width, offset } = block;
  for (let i = 0; i < models.length; i++) {
    const w = models[i], c = offset + i * width;
    if (width === 1) {
      let s = 0;
      for (let e = 0; e < rows * cols; e++) s += mergedGrad[e] * w[e];
      grad[c] += s;
      continue;
    }
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      for (let j = 0; j < cols; j++) grad[c + j] += mergedGrad[base + j] * w[base + j];
    }
  }
}

/** Uniform average of the models' tensors (the frozen, coefficient-free part of the merge). */
export function uniformAverage(models: readonly Real[], out: Real): void {
  out.fill(0);
  for (const w of models) for (let e = 0; e < out.length; e++) out[e] += w[e] / models.length;
}

/** Mean pairwise cosine similarity between the models' coefficient vectors, averaged over the
 * blocks with vectors (biases' scalars are left out); adds `weight` * its gradient to `grad`. */
export function coefficientSimilarity(layout: CoefficientLayout, c: Float64Array, weight: number, grad?: Float64Array): number {
  const vectors = layout.blocks.filter((b) => b.width > 1);
  const N = layout.numModels, pairs = (N * (N - 1)) / 2;
  if (vectors.length === 0) return 0;
  const scale = 1 / (vectors.length * pairs);
  let total = 0;
  for (const b of vectors) {
    const norms = Array.from({ length: N }, (_, i) => Math.sqrt(dot(c, b.offset + i * b.width, c, b.offset + i * b.width, b.width)));
    for (let i = 0; i < N; i++) {
      for (let k = i + 1; k < N; k++) {
        const ai = b.offset + i * b.width, ak = b.offset + k * b.width;
        const ni = Math.max(norms[i], 1e-12), nk = Math.max(norms[k], 1e-12);
        const cos = dot(c, ai, c, ak, b.width) / (ni * nk);
        total += cos;
        if (!grad || weight === 0) continue;
        // d cos / d a = b / (|a||b|) - cos * a / |a|^2
        const g = weight * scale;
        for (let j = 0; j < b.width; j++) {
          grad[ai + j] += g * (c[ak + j] / (ni * nk) - (cos * c[ai + j]) / (ni * ni));
          grad[ak + j] += g * (c[ai + j] / (ni * nk) - (cos * c[ak + j]) / (nk * nk));
        }
      }
    }
  }
  return total * scale;
}

function dot(a: Float64Array, ao: number, b: Float64Array, bo: number, n: number): number {
  let s = 0;
  for (let j = 0; j < n; j++) s += a[ao + j] * b[bo + j];
  return s;
}

/** Per block and model, the mean coefficient (what the per-layer heatmap shows). */
export function coefficientMeans(layout: CoefficientLayout, c: Float64Array): { tensor: string; kind: CoefficientKind; layer: number | null; means: number[] }[] {
  return layout.blocks.map((b) => ({
    tensor: b.tensor,
    kind: b.kind,
    layer: b.layer,
    means: Array.from({ length: layout.numModels }, (_, i) => {
      let s = 0;
      for (let j = 0; j < b.width; j++) s += c[b.offset + i * b.width + j];
      return s / b.width;
    }),
  }));
}
