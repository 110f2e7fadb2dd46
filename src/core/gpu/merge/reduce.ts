/** Per-tensor and per-vector reductions on the GPU: dot products of stacked rows (norms are
 * <x, x>), reduced in f32 workgroup trees and accumulated across chunks in f64 on the host; and
 * per-segment linear combinations of the rows. */
import type { KernelRunner } from '../runner.ts';
import { MergeStudioError } from '../../errors.ts';
import type { Chunk, ChunkView, StackedTensors } from './tensors.ts';

/** Vectors inside a flat tensor: vector v's component k sits at v * startStep + k * stride. */
export interface VectorLayout {
  count: number;
  length: number;
  stride: number;
  startStep: number;
}

export function wholeTensor(elements: number): VectorLayout {
  return { count: 1, length: elements, stride: 1, startStep: 0 };
}

/** Pairs (or rows) one reduction dispatch handles: the kernels keep this many sums per thread. */
const PER_DISPATCH = 16;

/** Workgroups of the flat reductions: about 64 elements per thread, at most 256 partials. Few
 * groups on purpose: workgroup barriers are very costly on CPU implementations (SwiftShader). */
export function flatGroups(count: number): number {
  return Math.max(1, Math.min(256, Math.ceil(count / (256 * 64))));
}

/** The segments (vectors) that have elements inside `chunk`. */
export function segmentRange(layout: VectorLayout, chunk: Chunk): { first: number; count: number } {
  if (layout.count === 1) return { first: 0, count: 1 };
  if (layout.stride === 1) {
    const first = Math.floor(chunk.start / layout.length);
    const last = Math.floor((chunk.start + Math.max(chunk.count, 1) - 1) / layout.length);
    return { first, count: last - first + 1 };
  }
  return { first: 0, count: layout.count };
}

/** dot[p][v] = <row a_p, row b_p> restricted to vector v, summed over the whole tensor. */
export async function rowDotProducts(runner: KernelRunner, tensors: StackedTensors, pairs: [number, number][], layout: VectorLayout, beforeChunk?: (view: ChunkView) => void): Promise<Float64Array[]> {
  const sums = pairs.map(() => new Float64Array(layout.count));
  const batches: { first: number; rows: GPUBuffer; size: number }[] = [];
  for (let first = 0; first < pairs.length; first += PER_DISPATCH) {
    const batch = pairs.slice(first, first + PER_DISPATCH);
    batches.push({ first, size: batch.length, rows: runner.upload(Uint32Array.from(batch.flat()), 'pair rows') });
  }
  await tensors.forEachChunk(async (view) => {
    beforeChunk?.(view);
    const { chunk, stacked } = view;
    const seg = segmentRange(layout, chunk);
    const groups = layout.count === 1 ? flatGroups(chunk.count) : seg.count;
    const partials = runner.zeros(pairs.length * groups * 4, 'dot partials');
    for (const batch of batches) {
      const target = { buffer: partials, offset: batch.first * groups * 4, size: batch.size * groups * 4 };
      if (layout.count === 1) {
        const params = runner.params([['u32', chunk.count], ['u32', chunk.stride], ['u32', batch.size], ['u32', groups]]);
        runner.dispatch('dot_flat', [params, stacked, batch.rows, target], groups);
        params.destroy();
      } else {
        const params = runner.params([
          ['u32', chunk.count], ['u32', chunk.stride], ['u32', batch.size], ['u32', chunk.start],
          ['u32', layout.startStep], ['u32', layout.stride], ['u32', layout.length], ['u32', seg.first], ['u32', seg.count],
        ]);
        runner.dispatch('dot_segments', [params, stacked, batch.rows, target], groups);
        params.destroy();
      }
    }
    const values = await runner.readF32(partials, pairs.length * groups);
    runner.release(partials);
    pairs.forEach((_, p) => {
      const target = sums[p];
      for (let g = 0; g < groups; g++) target[layout.count === 1 ? 0 : seg.first + g] += values[p * groups + g];
    });
  });
  runner.release(...batches.map((b) => b.rows));
  return sums;
}

/** L1 norms of the given stacked rows in one chunk (f32 tree partials, summed here in f64). */
export async function chunkAbsSums(runner: KernelRunner, stacked: GPUBuffer, chunk: Chunk, rows: number[]): Promise<number[]> {
  const totals = rows.map(() => 0);
  const groups = flatGroups(chunk.count);
  for (let first = 0; first < rows.length; first += PER_DISPATCH) {
    const batch = rows.slice(first, first + PER_DISPATCH);
    const rowList = runner.upload(Uint32Array.from(batch), 'row list');
    const partials = runner.zeros(batch.length * groups * 4, 'L1 partials');
    const params = runner.params([['u32', chunk.count], ['u32', chunk.stride], ['u32', batch.length], ['u32', groups]]);
    runner.dispatch('abs_sums', [params, stacked, rowList, partials], groups);
    params.destroy();
    const values = await runner.readF32(partials, batch.length * groups);
    runner.release(rowList, partials);
    batch.forEach((_, r) => {
      for (let g = 0; g < groups; g++) totals[first + r] += values[r * groups + g];
    });
  }
  return totals;
}

/** How the combine kernel finds an element's vector: ((g / div) % mod). */
function segmentOf(layout: VectorLayout): { div: number; mod: number } {
  if (layout.count === 1) return { div: 1, mod: 1 };
  if (layout.stride === 1 && layout.startStep === layout.length) return { div: layout.length, mod: layout.count };
  if (layout.startStep === 1 && layout.stride === layout.count) return { div: 1, mod: layout.count };
  throw new MergeStudioError('gpu_layout_unsupported', `No GPU combine for vectors of ${layout.length} elements with stride ${layout.stride} and step ${layout.startStep}`, { layout });
}

/**
 * The merged tensor as per-vector linear combinations of the stacked rows:
 * merged[g] = sum_r coefficients[v(g) * rows + r] * row_r[g]. Hands each chunk's f32 result
 * (a pooled buffer the callee owns) to `sink`.
 */
export async function combineRows(
  runner: KernelRunner,
  tensors: StackedTensors,
  coefficients: Float32Array,
  layout: VectorLayout,
  sink: (chunk: Chunk, merged: GPUBuffer) => Promise<void>,
  beforeCombine?: (chunk: Chunk, stacked: GPUBuffer, fresh: boolean) => void,
): Promise<void> {
  const rows = tensors.rowCount;
  if (coefficients.length !== rows * layout.count) throw new Error(`combineRows: ${coefficients.length} coefficients for ${rows} rows x ${layout.count} vectors`);
  const { div, mod } = segmentOf(layout);
  const coef = runner.upload(coefficients, 'coefficients');
  await tensors.forEachChunk(async ({ chunk, stacked, fresh }) => {
    beforeCombine?.(chunk, stacked, fresh);
    const merged = runner.allocate(Math.max(1, chunk.count) * 4, 'merged');
    const params = runner.params([['u32', chunk.count], ['u32', chunk.stride], ['u32', rows], ['u32', chunk.start], ['u32', div], ['u32', mod]]);
    runner.dispatchItems('combine', [params, stacked, coef, merged], chunk.count);
    params.destroy();
    await sink(chunk, merged);
  });
  runner.release(coef);
}

/** Gram matrices of stacked rows 0..size-1, one per vector: gram(i, j)[v] = <row i, row j> on v. */
export async function rowGram(runner: KernelRunner, tensors: StackedTensors, size: number, layout: VectorLayout): Promise<(i: number, j: number) => Float64Array> {
  const pairs: [number, number][] = [];
  for (let i = 0; i < size; i++) for (let j = i; j < size; j++) pairs.push([i, j]);
  const dots = await rowDotProducts(runner, tensors, pairs, layout);
  return (i, j) => dots[pairs.findIndex(([a, b]) => (a === Math.min(i, j) && b === Math.max(i, j)))];
}
