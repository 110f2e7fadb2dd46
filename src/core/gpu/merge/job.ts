/** What every GPU method implementation receives, and the small shared steps they are built from. */
import type { KernelRunner } from '../runner.ts';
import type { MergeMethod, MergeTensorInput } from '../../methods/types.ts';
import { checkInputs, type InputRules, type MethodContext } from '../../methods/params.ts';
import { MergeStudioError } from '../../errors.ts';
import { elementsOf, isResident, isStreamed, StackedTensors, type ChunkView, type TensorData } from './tensors.ts';
import { combineRows, type VectorLayout } from './reduce.ts';
import type { MergedOutput } from './output.ts';

/** MergeTensorInput with tensors that may still be packed 16-bit. */
export interface GpuMergeInput extends Omit<MergeTensorInput, 'models' | 'base'> {
  models: TensorData[];
  base?: TensorData;
}

export interface GpuMergeJob {
  runner: KernelRunner;
  method: MergeMethod;
  input: GpuMergeInput;
  output: MergedOutput;
  signal?: AbortSignal;
  /** Bytes of one stacked chunk (default: the runner's binding budget); see StackedTensors. */
  chunkBytes?: number;
}

export type GpuMethodImpl = (job: GpuMergeJob) => Promise<void>;

/** Validates the inputs with the CPU methods' own rules and messages, and returns the parameter
 * context plus the element count. The parameter readers only look at how many models there are,
 * so the context carries length-only stand-ins for tensors that are still packed. */
export function methodContext(job: GpuMergeJob, rules: InputRules): { ctx: MethodContext; elements: number } {
  const { input, method } = job;
  [...input.models, input.base].forEach((t, i) => {
    if (t && !(t instanceof Float32Array) && !isStreamed(t) && !isResident(t) && t.bytes.byteLength % 2 !== 0) {
      const which = i < input.models.length ? `model #${input.modelIndices[i] ?? i}` : 'the base model';
      throw new MergeStudioError('dtype-byte-length', `${method.name}: tensor '${input.tensorName}' of ${which} has ${t.bytes.byteLength} bytes, not a whole number of ${t.dtype} elements (2 bytes each)`, { tensor: input.tensorName });
    }
  });
  const standIn = (t: TensorData) => ({ length: elementsOf(t) }) as Float32Array;
  const cpuShaped: MergeTensorInput = { ...input, models: input.models.map(standIn), base: input.base && standIn(input.base) };
  const ctx: MethodContext = { method: method.name, params: method.params, input: cpuShaped };
  const elements = checkInputs(ctx, rules);
  if (elements >= 2 ** 32) {
    throw new MergeStudioError('gpu_tensor_too_large', `${method.name}: tensor '${input.tensorName}' has ${elements} elements; GPU indices are 32-bit`, { tensor: input.tensorName });
  }
  return { ctx, elements };
}

export interface StackOptions {
  /** The first that many rows become (row - last row) on upload. */
  taskVectorsOf?: number;
  /** Scratch rows after the inputs. */
  extraRows?: number;
  /** Runs on each freshly uploaded chunk, after the task vectors. */
  afterUpload?: (view: ChunkView) => void;
  /** Chunks hold whole blocks of this many elements when one fits (della's ranked rows). */
  alignElements?: number;
}

/** Stacks `rows` for chunked upload (see StackOptions). */
export function stackRows(job: GpuMergeJob, rows: TensorData[], elements: number, options: StackOptions = {}): StackedTensors {
  const { taskVectorsOf = 0, extraRows = 0, afterUpload, alignElements = 0 } = options;
  const { runner } = job;
  const prepare = (view: ChunkView) => {
    const { chunk, stacked } = view;
    if (taskVectorsOf > 0) {
      const params = runner.params([['u32', chunk.count], ['u32', chunk.stride], ['u32', taskVectorsOf], ['u32', rows.length - 1]]);
      runner.dispatchItems('task_vectors', [params, stacked], chunk.count);
      params.destroy();
    }
    afterUpload?.(view);
  };
  return new StackedTensors(runner, rows, elements, prepare, extraRows, job.signal, alignElements, job.chunkBytes);
}

/** The f32 threshold T with |x| > T exactly when |x| > epsilon, for every f32 x (epsilon is a
 * double: rounding it to f32 could move an x equal to the rounded value across the cut). */
export function f32ThresholdAbove(epsilon: number): number {
  const rounded = Math.fround(epsilon);
  if (rounded <= epsilon || rounded === 0) return rounded;
  const bits = new Uint32Array(new Float32Array([rounded]).buffer);
  bits[0] -= 1; // the next f32 below (rounded > 0 here)
  return new Float32Array(bits.buffer)[0];
}

/** Writes per-vector linear combinations of the stacked rows to the job's output. */
export async function combineToOutput(job: GpuMergeJob, tensors: StackedTensors, coefficients: ArrayLike<number>, layout: VectorLayout): Promise<void> {
  await combineRows(job.runner, tensors, Float32Array.from(coefficients), layout, (chunk, merged) => job.output.put(chunk, merged));
}
