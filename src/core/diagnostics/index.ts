/** Task-vector diagnostics of models merged onto one base, per decoder layer: the norm of each
 * model's task vector (model - base), the cosine between each pair of task vectors and how often
 * their signs disagree (pairwise, and "some model pushes up where another pushes down", the
 * conflicts TIES resolves). Computed on the GPU (kernel `task_vector_stats`) with this file's CPU
 * loop as the reference and the fallback; both read the tensors in row blocks, so memory stays
 * bounded whatever the model size. */
import { MergeStudioError } from '../errors.ts';
import type { ModelHandle } from '../model/handle.ts';
import { throwIfAborted, type ProgressCallback } from '../progress.ts';
import { readTensorF32 } from '../safetensors/index.ts';
import type { TensorInfo } from '../safetensors/header.ts';
import type { KernelRunner } from '../gpu/runner.ts';

/** The kernel keeps this many models' sums per thread. */
export const MAX_DIAGNOSTIC_MODELS = 8;
const PAIRS = (MAX_DIAGNOSTIC_MODELS * (MAX_DIAGNOSTIC_MODELS - 1)) / 2;
const SUMS = MAX_DIAGNOSTIC_MODELS + PAIRS;
const COUNTS = PAIRS + 1;

/** Raw sums over a set of elements; `add` merges two sets. */
export interface TaskVectorSums {
  elements: number;
  /** sum d_i^2 per model. */
  squares: number[];
  /** sum d_i d_j per pair, pairs in `pairsOf(n)` order. */
  dots: number[];
  /** Elements where d_i and d_j have opposite signs, per pair. */
  pairConflicts: number[];
  /** Elements where some d_i > 0 and some d_j < 0. */
  conflicts: number;
}

/** Pairs (i, j), i < j, in the order sums and results list them. */
export function pairsOf(n: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) out.push([i, j]);
  return out;
}

export function emptySums(n: number): TaskVectorSums {
  const p = (n * (n - 1)) / 2;
  return { elements: 0, squares: new Array<number>(n).fill(0), dots: new Array<number>(p).fill(0), pairConflicts: new Array<number>(p).fill(0), conflicts: 0 };
}

function addInto(into: TaskVectorSums, part: TaskVectorSums): void {
  into.elements += part.elements;
  part.squares.forEach((v, i) => (into.squares[i] += v));
  part.dots.forEach((v, i) => (into.dots[i] += v));
  part.pairConflicts.forEach((v, i) => (into.pairConflicts[i] += v));
  into.conflicts += part.conflicts;
}

/** The CPU reference: the sums of one block (`models[i]` holds the same elements as `base`). */
export function cpuTaskVectorSums(base: Float32Array, models: Float32Array[]): TaskVectorSums {
  const n = models.length;
  const sums = emptySums(n);
  const pairs = pairsOf(n);
  const d = new Float64Array(n);
  for (let e = 0; e < base.length; e++) {
    let pos = false;
    let neg = false;
    for (let i = 0; i < n; i++) {
      // f32 difference, as the kernel forms it; sums in f64.
      const v = Math.fround(models[i][e] - base[e]);
      d[i] = v;
      sums.squares[i] += v * v;
      if (v > 0) pos = true;
      else if (v < 0) neg = true;
    }
    for (let p = 0; p < pairs.length; p++) {
      const a = d[pairs[p][0]];
      const b = d[pairs[p][1]];
      sums.dots[p] += a * b;
      if ((a > 0 && b < 0) || (a < 0 && b > 0)) sums.pairConflicts[p] += 1;
    }
    if (pos && neg) sums.conflicts += 1;
  }
  sums.elements = base.length;
  return sums;
}

/** The same sums on the GPU: one dispatch of `task_vector_stats` over base + models stacked. */
export async function gpuTaskVectorSums(runner: KernelRunner, base: Float32Array, models: Float32Array[]): Promise<TaskVectorSums> {
  const n = models.length;
  if (n > MAX_DIAGNOSTIC_MODELS) throw new MergeStudioError('diagnostics_too_many_models', `Diagnostics compare at most ${MAX_DIAGNOSTIC_MODELS} models at once (got ${n})`, { n });
  const count = base.length;
  const sums = emptySums(n);
  sums.elements = count;
  if (count === 0 || n === 0) return sums;
  const stackedValues = new Float32Array(count * (n + 1));
  stackedValues.set(base, 0);
  models.forEach((m, i) => stackedValues.set(m, (i + 1) * count));
  const groups = Math.max(1, Math.min(256, Math.ceil(count / (256 * 64))));
  const stacked = runner.upload(stackedValues, 'diagnostics stacked');
  const sumParts = runner.zeros(groups * SUMS * 4, 'diagnostics sums');
  const countParts = runner.zeros(groups * COUNTS * 4, 'diagnostics counts');
  const params = runner.params([['u32', count], ['u32', count], ['u32', n], ['u32', groups]]);
  try {
    runner.dispatch('task_vector_stats', [params, stacked, sumParts, countParts], groups);
    const f = await runner.readF32(sumParts, groups * SUMS);
    const c = await runner.readU32(countParts, groups * COUNTS);
    await runner.checkKernels();
    // The kernel numbers pairs over all 8 slots; map them to this n's pairs.
    const slot = (i: number, j: number) => (i * (2 * MAX_DIAGNOSTIC_MODELS - i - 1)) / 2 + (j - i - 1);
    const pairs = pairsOf(n);
    for (let g = 0; g < groups; g++) {
      for (let i = 0; i < n; i++) sums.squares[i] += f[g * SUMS + i];
      pairs.forEach(([i, j], p) => {
        sums.dots[p] += f[g * SUMS + MAX_DIAGNOSTIC_MODELS + slot(i, j)];
        sums.pairConflicts[p] += c[g * COUNTS + slot(i, j)];
      });
      sums.conflicts += c[g * COUNTS + PAIRS];
    }
  } finally {
    params.destroy();
    runner.release(stacked, sumParts, countParts);
  }
  return sums;
}

export interface LayerDiagnostics {
  /** Decoder layer index, or null for tensors outside the layers (embeddings, final norm, head). */
  layer: number | null;
  elements: number;
  /** ||model_i - base|| per model. */
  norms: number[];
  /** cos(d_i, d_j) per pair in `pairs` order (0 when a task vector is zero). */
  cosines: number[];
  /** Fraction of elements where d_i and d_j have opposite signs, per pair. */
  pairConflicts: number[];
  /** Fraction of elements where the models' task vectors do not all agree in sign. */
  conflicts: number;
}

export interface DiagnosticsResult {
  base: string;
  models: string[];
  pairs: [number, number][];
  /** Decoder layers in order, then the tensors outside them (layer null). */
  layers: LayerDiagnostics[];
  /** Tensors left out: missing in a model, or of another shape than the base's. */
  skipped: string[];
  backend: 'webgpu' | 'cpu';
}

export function finishLayer(layer: number | null, s: TaskVectorSums): LayerDiagnostics {
  const norms = s.squares.map((v) => Math.sqrt(v));
  const pairs = pairsOf(norms.length);
  return {
    layer,
    elements: s.elements,
    norms,
    cosines: pairs.map(([i, j], p) => (norms[i] > 0 && norms[j] > 0 ? s.dots[p] / (norms[i] * norms[j]) : 0)),
    pairConflicts: s.pairConflicts.map((v) => (s.elements > 0 ? v / s.elements : 0)),
    conflicts: s.elements > 0 ? s.conflicts / s.elements : 0,
  };
}

export interface DiagnosticsOptions {
  /** A GPU runner: the sums run on it; without one, on the CPU. */
  runner?: KernelRunner | null;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  /** Most f32 values of one model held per block (default 4 Mi). */
  blockValues?: number;
}

/** Row blocks of a tensor: [start, end) row ranges of at most `values` elements (one row at least). */
function rowBlocks(info: TensorInfo, values: number): [number, number][] | null {
  if (info.shape.length === 0) return null;
  const rows = info.shape[0];
  const perRow = info.shape.slice(1).reduce((a, b) => a * b, 1);
  const step = Math.max(1, Math.floor(values / Math.max(1, perRow)));
  const out: [number, number][] = [];
  for (let s = 0; s < rows; s += step) out.push([s, Math.min(rows, s + step)]);
  return out;
}

/** Diagnostics of `models` against `base`, per decoder layer (tensors the base names). */
export async function taskVectorDiagnostics(base: ModelHandle, models: ModelHandle[], options: DiagnosticsOptions = {}): Promise<DiagnosticsResult> {
  if (models.length === 0) throw new MergeStudioError('diagnostics_no_models', 'Diagnostics need at least one model besides the base', {});
  if (models.length > MAX_DIAGNOSTIC_MODELS) throw new MergeStudioError('diagnostics_too_many_models', `Diagnostics compare at most ${MAX_DIAGNOSTIC_MODELS} models at once (got ${models.length})`, { n: models.length });
  const { runner, signal, onProgress } = options;
  const blockValues = options.blockValues ?? 4 << 20;
  const n = models.length;
  const perLayer = new Map<number | null, TaskVectorSums>();
  const skipped: string[] = [];
  const names = [...base.tensors.keys()];
  let done = 0;
  for (const name of names) {
    throwIfAborted(signal);
    const info = base.tensors.get(name)!;
    const others = models.map((m) => m.tensors.get(name));
    const sameShape = others.every((o) => o && o.shape.length === info.shape.length && o.shape.every((d, k) => d === info.shape[k]));
    if (!sameShape) {
      skipped.push(name);
      onProgress?.({ phase: 'diagnostics', done: ++done, total: names.length });
      continue;
    }
    const layer = base.layerOf(name);
    const into = perLayer.get(layer) ?? emptySums(n);
    perLayer.set(layer, into);
    const blocks = rowBlocks(info, blockValues) ?? [null];
    for (const rows of blocks) {
      const read = (t: TensorInfo) => readTensorF32(t, rows ? { rows } : {}, signal);
      const [b, ...ms] = await Promise.all([read(info), ...others.map((o) => read(o!))]);
      addInto(into, runner ? await gpuTaskVectorSums(runner, b, ms) : cpuTaskVectorSums(b, ms));
    }
    onProgress?.({ phase: 'diagnostics', done: ++done, total: names.length, message: name });
  }
  const order = [...perLayer.keys()].sort((a, b) => (a === null ? 1 : b === null ? -1 : a - b));
  return {
    base: base.id,
    models: models.map((m) => m.id),
    pairs: pairsOf(n),
    layers: order.map((l) => finishLayer(l, perLayer.get(l)!)),
    skipped,
    backend: runner ? 'webgpu' : 'cpu',
  };
}
