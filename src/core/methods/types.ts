import type { TileSink } from '../simd/merge-tiles.ts';
import type { TileSource } from '../simd/tiles.ts';

/** Shared shapes of the merge-method registry. Every method lives in one file of this folder with
 * its parameter schema and CPU reference; its WGSL kernel binding sits beside it. */

export type ParamValue = number | boolean | string;

export interface ParamSpec {
  name: string;
  /** 'global': one value per merge (top-level `parameters:`); 'model': one value per input model. */
  scope: 'global' | 'model';
  kind: 'number' | 'integer' | 'boolean';
  default?: ParamValue;
  /** True when the recipe must give it (e.g. `weight` for linear). */
  required?: boolean;
  min?: number;
  max?: number;
  /** One line shown in the studio's form and in CLI errors. */
  description: string;
}

/** Everything a method needs to merge one tensor; parameters are already resolved for this tensor
 * (gradients interpolated, filters applied, defaults filled in). */
export interface MergeTensorInput {
  tensorName: string;
  shape: number[];
  /** The non-base models, in recipe order. */
  models: Float32Array[];
  /** Per-model parameters, parallel to `models`. */
  modelParams: Record<string, ParamValue>[];
  /** Index of each model in the recipe (stable key for deterministic random masks). */
  modelIndices: number[];
  base?: Float32Array;
  global: Record<string, ParamValue>;
  /** Seed of the counter-based RNG (recipe `random_seed`, default 0). */
  seed: number;
  /** Optional preallocated output (element count of `shape`, not one of the inputs); `mergeCpu`
   * writes into it and returns it, sparing a fresh full-size allocation per tensor. */
  out?: Float32Array;
  /** Optional reusable work buffers (task vectors, offsets): a streaming caller keeps them from
   * tensor to tensor, so a method does not fault in fresh full-size temporaries per call. */
  scratch?: ScratchArrays;
}

/** Float32 work buffers by slot name. Contents are left over from earlier calls: a method must
 * overwrite every element it reads, and a slot is valid only until the same slot is asked again. */
export interface ScratchArrays {
  get(slot: string, elements: number): Float32Array;
}

export interface MergeMethod {
  name: string;
  description: string;
  /** 'required': needs base_model; 'optional': uses it when given; 'none': ignores it. */
  base: 'required' | 'optional' | 'none';
  params: ParamSpec[];
  /** True when output element j depends only on element j of the inputs and the parameters (not on
   * the tensor's shape, name or other elements): the engine may then merge any flat slice of a
   * tensor on its own, streaming large tensors in cache-sized pieces. */
  elementwise?: boolean;
  /** CPU reference implementation (the numerics every backend is checked against). */
  mergeCpu(input: MergeTensorInput): Float32Array;
  /** Merges straight from stored inputs (bf16 or f32 bytes, or float32 arrays) tile by tile, with
   * the same float32 arithmetic as mergeCpu, so no full-size float32 copy of an input is made:
   * the whole tensor, or for elementwise methods any flat slice of it. Parameters are read from
   * `params` (its arrays are placeholders, not read). */
  mergeTiles?(params: MergeTensorInput, models: TileSource[], base: TileSource | undefined, elements: number, out: TileSink): void;
  /** The merge of one tensor in chunks of whole rows (along dim 0), for tensors too large for the
   * memory budget: `passes` scans over every chunk in order gather the whole-tensor statistics
   * (norms, histograms of magnitudes, ...), then `emit` writes each chunk's output. The output is
   * bit for bit that of mergeCpu, whatever the chunk size. `params` is as for mergeTiles (shape is
   * the whole tensor's); undefined when this tensor cannot stream (it is then merged whole). */
  mergeChunks?(params: MergeTensorInput): ChunkedMerge | undefined;
}

/** One chunk of a tensor: elements [start, start + elements) of every input, whole rows along
 * dim 0; `start` and `elements` are multiples of 8 (but the last chunk's end). */
export interface TensorChunk {
  start: number;
  elements: number;
  /** Rows along dim 0 in the chunk. */
  rows: number;
  models: TileSource[];
  base?: TileSource;
}

export interface ChunkedMerge {
  /** How many scans over all chunks come before the output pass; may fall while scanning (an
   * iteration converged), so it is read again after each pass. */
  readonly passes: number;
  /** Pass `pass` (0-based) over one chunk; chunks come in order. */
  scan(pass: number, chunk: TensorChunk): void;
  /** After pass `pass` has seen every chunk (its whole-tensor statistics are complete). */
  endPass(pass: number): void;
  /** The output of one chunk (after every scan). */
  emit(chunk: TensorChunk, out: TileSink): void;
}
