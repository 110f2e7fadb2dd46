/** The WebGPU merge backend: merges one tensor with any registered method, on the GPU (see
 * Placement); a method registered without a GPU binding runs its CPU reference on decoded inputs. */
import { getMethod } from '../../methods/index.ts';
import type { MergeTensorInput } from '../../methods/types.ts';
import { encodeFromF32 } from '../../dtype.ts';
import { throwIfAborted, type ProgressCallback } from '../../progress.ts';
import type { KernelRunner } from '../runner.ts';
import type { GpuMergeInput, GpuMethodImpl } from './job.ts';
import { MergedOutput, type GpuMergeOutput, type GpuOutputSink, type OutputDType, type OutputSink } from './output.ts';
import { tensorToF32, type TensorData } from './tensors.ts';
import { MergeStudioError } from '../../errors.ts';
import { linearGpu, passthroughGpu } from './linear.ts';
import { nearswapGpu } from './nearswap.ts';
import { karcherGpu, multislerpGpu, nuslerpGpu, slerpGpu } from './spherical.ts';
import { modelStockGpu } from './model-stock.ts';
import { taskArithmeticGpu } from './task-arithmetic.ts';
import { ramGpu, ramplusTlGpu } from './ram.ts';
import { sceGpu } from './sce.ts';
import { arceeFusionGpu } from './arcee-fusion.ts';

export type { GpuMergeInput } from './job.ts';
export type { GpuMergeOutput, GpuOutputSink, OutputDType, OutputSink } from './output.ts';
export type { ResidentTensor, StreamedTensor, TensorData } from './tensors.ts';

/** 'gpu': every full-size step on the GPU (della ranks on the CPU only when one of its ranked row
 * blocks exceeds a binding). 'cpu': the CPU reference on decoded inputs, for a method registered
 * without a GPU binding. */
export type Placement = 'gpu' | 'cpu';

const GPU_METHODS: Record<string, { run: GpuMethodImpl; placement: Exclude<Placement, 'cpu'> }> = {
  linear: { run: linearGpu, placement: 'gpu' },
  passthrough: { run: passthroughGpu, placement: 'gpu' },
  nearswap: { run: nearswapGpu, placement: 'gpu' },
  slerp: { run: slerpGpu, placement: 'gpu' },
  nuslerp: { run: nuslerpGpu, placement: 'gpu' },
  multislerp: { run: multislerpGpu, placement: 'gpu' },
  karcher: { run: karcherGpu, placement: 'gpu' },
  model_stock: { run: modelStockGpu, placement: 'gpu' },
  task_arithmetic: { run: taskArithmeticGpu, placement: 'gpu' },
  ties: { run: taskArithmeticGpu, placement: 'gpu' },
  dare_ties: { run: taskArithmeticGpu, placement: 'gpu' },
  dare_linear: { run: taskArithmeticGpu, placement: 'gpu' },
  breadcrumbs: { run: taskArithmeticGpu, placement: 'gpu' },
  breadcrumbs_ties: { run: taskArithmeticGpu, placement: 'gpu' },
  della: { run: taskArithmeticGpu, placement: 'gpu' },
  della_linear: { run: taskArithmeticGpu, placement: 'gpu' },
  sce: { run: sceGpu, placement: 'gpu' },
  ram: { run: ramGpu, placement: 'gpu' },
  ramplus_tl: { run: ramplusTlGpu, placement: 'gpu' },
  arcee_fusion: { run: arceeFusionGpu, placement: 'gpu' },
};

/** The caller's preallocated output, when it is usable: right size and not an input (streamed
 * passes re-read the inputs after earlier chunks of the output are written). */
function checkedOutputBuffer(method: string, input: GpuMergeInput, elements: number): Float32Array | undefined {
  const out = input.out;
  if (!out) return undefined;
  if (out.length !== elements) {
    throw new MergeStudioError('shape-mismatch', `${method}: the output buffer for tensor '${input.tensorName}' has ${out.length} elements, expected ${elements}`, { method, tensor: input.tensorName });
  }
  const shares = (t: TensorData | undefined) => t instanceof Float32Array && t.buffer === out.buffer;
  if (shares(input.base) || input.models.some(shares)) {
    throw new MergeStudioError('invalid-input', `${method}: the output buffer for tensor '${input.tensorName}' must not share memory with an input`, { method, tensor: input.tensorName });
  }
  return out;
}

/** The CPU reference's input: every tensor decoded whole. */
async function cpuInput(input: GpuMergeInput, signal?: AbortSignal, runner?: KernelRunner): Promise<MergeTensorInput> {
  const models: Float32Array[] = [];
  for (const m of input.models) models.push(await tensorToF32(m, signal, runner));
  return { ...input, models, base: input.base && (await tensorToF32(input.base, signal, runner)) };
}

export interface GpuMergeOptions {
  outDType?: OutputDType;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  /** Bytes of one stacked chunk on the GPU (default and at most the runner's binding budget):
   * with streamed inputs and a sink, host memory stays near a few chunks of this size. */
  chunkBytes?: number;
}

export class WebGpuMergeBackend {
  readonly kind = 'webgpu' as const;

  constructor(readonly runner: KernelRunner) {}

  placement(methodName: string): Placement {
    getMethod(methodName); // unknown names fail here with the registry's suggestion
    return GPU_METHODS[methodName]?.placement ?? 'cpu';
  }

  async mergeTensor(methodName: string, input: GpuMergeInput, options: GpuMergeOptions = {}): Promise<GpuMergeOutput> {
    const method = getMethod(methodName);
    const outDType = options.outDType ?? 'F32';
    throwIfAborted(options.signal);
    const gpu = GPU_METHODS[methodName];
    let result: GpuMergeOutput;
    if (gpu) {
      const elements = input.shape.reduce((a, b) => a * b, 1);
      const output = new MergedOutput(this.runner, elements, outDType, outDType === 'F32' ? checkedOutputBuffer(methodName, input, elements) : undefined);
      await gpu.run({ runner: this.runner, method, input, output, signal: options.signal, chunkBytes: options.chunkBytes });
      result = output.result();
    } else {
      const values = method.mergeCpu(await cpuInput(input, options.signal, this.runner));
      result = outDType === 'F32' ? { dtype: 'F32', values } : { dtype: outDType, bytes: encodeFromF32(values, outDType) };
    }
    options.onProgress?.({ phase: 'merge', done: 1, total: 1, message: `${methodName}: ${input.tensorName}` });
    return result;
  }

  /** Merges one tensor into `sink`, chunk by chunk in order (see OutputSink): with streamed inputs
   * (StreamedTensor) no whole-tensor host buffer exists, and `options.chunkBytes` bounds each
   * GPU chunk. The merged values are those of mergeTensor with the same chunkBytes, bit for bit. */
  async mergeTensorInto(methodName: string, input: GpuMergeInput, sink: OutputSink, options: GpuMergeOptions = {}): Promise<void> {
    const method = getMethod(methodName);
    const outDType = options.outDType ?? 'F32';
    throwIfAborted(options.signal);
    const gpu = GPU_METHODS[methodName];
    const elements = input.shape.reduce((a, b) => a * b, 1);
    if (gpu) {
      const output = new MergedOutput(this.runner, elements, outDType, sink);
      await gpu.run({ runner: this.runner, method, input: { ...input, out: undefined }, output, signal: options.signal, chunkBytes: options.chunkBytes });
      output.checkComplete();
    } else {
      // A method without a GPU binding (none today) merges whole on the CPU.
      const values = method.mergeCpu(await cpuInput(input, options.signal, this.runner));
      await sink(0, outDType === 'F32' ? values : encodeFromF32(values, outDType));
    }
    options.onProgress?.({ phase: 'merge', done: 1, total: 1, message: `${methodName}: ${input.tensorName}` });
  }

  /** Merges one tensor and hands each f32 chunk to `sink` on the GPU (no read-back): inputs may be
   * resident on the GPU (ResidentTensor), streamed or on the host. A method without a GPU binding
   * merges on the CPU and its result is uploaded as one chunk. */
  async mergeTensorOnGpu(methodName: string, input: GpuMergeInput, sink: GpuOutputSink, options: Omit<GpuMergeOptions, 'outDType'> = {}): Promise<void> {
    const method = getMethod(methodName);
    throwIfAborted(options.signal);
    const gpu = GPU_METHODS[methodName];
    const elements = input.shape.reduce((a, b) => a * b, 1);
    if (gpu) {
      const output = new MergedOutput(this.runner, elements, 'F32', sink);
      await gpu.run({ runner: this.runner, method, input: { ...input, out: undefined }, output, signal: options.signal, chunkBytes: options.chunkBytes });
      output.checkComplete();
    } else {
      const values = method.mergeCpu(await cpuInput(input, options.signal, this.runner));
      await sink.gpu({ index: 0, start: 0, count: elements, stride: elements }, this.runner.upload(values, 'merged'));
    }
    options.onProgress?.({ phase: 'merge', done: 1, total: 1, message: `${methodName}: ${input.tensorName}` });
  }
}
