// The live loop: a merge evaluated on the GPU while its parameters change. When it starts, every
// input tensor the plan reads is uploaded once in its stored form (bf16/f16 two per u32 word, f32
// as it is) and stays on the GPU, as far as a budget allows; the merge kernels then write each
// merged tensor straight into the evaluator's weight buffers (packed to the tensor's output dtype
// on the GPU, checked for NaN/Inf there), so no merged weight and no float32 copy of the model
// ever exists on the host. A change re-merges only the tensors whose merge signature changed.
import { streamedMergeInput, type Plan, type PlanInput, type PlanStep } from '../engine/index.ts';
import { nonFiniteError } from '../engine/finite.ts';
import { MergeStudioError } from '../errors.ts';
import { requireGpu, type GpuContext } from '../gpu/device.ts';
import { packOnGpu } from '../gpu/convert.ts';
import { WebGpuMergeBackend, type GpuMergeInput, type ResidentTensor, type TensorData } from '../gpu/merge/backend.ts';
import { KernelRunner } from '../gpu/runner.ts';
import { throwIfAborted, type ProgressCallback } from '../progress.ts';
import { parseCausalLMConfig, type CausalLMConfig } from './config.ts';
import { GpuCausalLM, type GpuWeightAllocation } from './gpu.ts';
import { mergedTokenizer, mergedTokenizerKey } from './merged.ts';
import type { TextTokenizer } from './tokenizer.ts';
import { checkTensorInventory, expectedTensors } from './weights.ts';

/** GPU memory the live loop plans with when the caller gives no figure (WebGPU does not say how
 * much memory an adapter has): inputs that do not fit beside the weights and scratch are streamed. */
export const DEFAULT_GPU_BUDGET_BYTES = 4 * 1024 ** 3;
/** Room kept for the evaluator's KV cache, activations and logits of a scoring subset. */
const EVAL_RESERVE_BYTES = 256 * 1024 ** 2;
/** Inputs are read and written to the GPU in pieces of this many elements (8 MiB of bf16)... */
const UPLOAD_PIECE_ELEMENTS = 4 * 1024 * 1024;
/** ...and the queue is drained after this many bytes written, which bounds the host's staging copies. */
const UPLOAD_DRAIN_BYTES = 128 * 1024 ** 2;

/** `bytes` zero-padded to a multiple of 4 (writeBuffer's unit; an odd count of 16-bit values ends short). */
function padTo4(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
  out.set(bytes);
  return out;
}

/** Identity of a step's computation: when it is unchanged, the merged tensor is still right. An
 * input that is a stage of a multi-stage recipe changes with that stage's own step; rows in a
 * merged vocabulary change with its source, size and per-token overrides. */
export function stepSignature(p: Plan, step: PlanStep, stages = stageSteps(p)): string {
  const input = (i: PlanInput) => {
    const stage = stages.get(i.model);
    const stageStep = stage?.steps.get(i.tensor);
    const vocab = i.permuted ? [i.permuted.vocab.source, i.permuted.vocab.size, [...i.permuted.vocab.overrides]] : null;
    return [i.model, i.tensor, i.index, i.crop ?? null, vocab, stage && stageStep ? stepSignature(stage.plan, stageStep, stages) : null];
  };
  return JSON.stringify([p.method.name, p.seed, step.dtype, step.models.map(input), step.base ? input(step.base) : null, step.modelParams, step.global]);
}

/** The stages of a multi-stage plan by name, with their steps by output tensor. */
export function stageSteps(p: Plan): Map<string, { plan: Plan; steps: Map<string, PlanStep> }> {
  return new Map((p.stages ?? []).map((s) => [s.name, { plan: s.plan, steps: new Map(s.plan.steps.map((st) => [st.output, st])) }]));
}

/** The shape of the merged network: when it changes, a live loop is rebuilt rather than patched. */
export function shapeSignature(p: Plan): string {
  return JSON.stringify([p.config, p.tokenizerModel.id, p.steps.map((s) => [s.output, s.shape, weightDType(s)])]);
}

/** What stays on the GPU, for the UI ("GPU-resident: 41/47 tensors, 1.2 GB; 6 streamed"). */
export interface Residency {
  /** Distinct input tensors the plan reads. */
  inputs: number;
  resident: number;
  residentBytes: number;
  /** Inputs read from their sources on each re-merge (over the budget, or cropped, permuted or
   * merged by an earlier stage). */
  streamed: number;
  /** Merged weights held by the evaluator (stored dtype). */
  weightBytes: number;
  budgetBytes: number;
}

export function formatResidency(r: Residency): string {
  const gb = (b: number) => (b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : `${(b / 1e6).toFixed(1)} MB`);
  return `GPU-resident: ${r.resident}/${r.inputs} input tensors, ${gb(r.residentBytes)}; ${r.streamed} streamed; merged weights ${gb(r.weightBytes)} on the GPU`;
}

export interface LiveUpdate {
  /** Tensors re-merged (their names in `tensors`). */
  remerged: number;
  tensors: string[];
  /** Seconds until the merged weights were written on the device. */
  mergeSeconds: number;
  /** Tensors holding NaN/Inf after this update (only with allowNonFinite; else it throws). */
  nonFinite: { tensor: string; count: number }[];
}

export interface LiveLoopOptions {
  /** The device (default: a new one). */
  gpu?: GpuContext;
  /** GPU memory the loop may plan with (default DEFAULT_GPU_BUDGET_BYTES). */
  gpuBudgetBytes?: number;
  /** Bytes of one stacked merge chunk (default: the binding budget). */
  chunkBytes?: number;
  /** Keep NaN/Inf merged weights (reported in LiveUpdate.nonFinite) instead of failing. */
  allowNonFinite?: boolean;
  /** Elements an input is read and uploaded by (default UPLOAD_PIECE_ELEMENTS; rounded down to even). */
  uploadPieceElements?: number;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
}

const DTYPE_CODE = { F32: 0, BF16: 1, F16: 2 } as const;

/** The dtype a step's merged weight is stored in on the GPU: its output dtype when the runtime
 * reads it (as an export would write it), else float32. */
function weightDType(step: PlanStep): 'F32' | 'BF16' | 'F16' {
  return step.dtype === 'BF16' || step.dtype === 'F16' ? step.dtype : 'F32';
}

const inputKey = (i: PlanInput) => JSON.stringify([i.model, i.info.file, i.info.name, i.info.offset]);

/** Whether an input can be held on the GPU as stored: read whole, in a dtype the kernels unpack,
 * and read from a file (not merged on the way by an earlier stage). */
function residentCandidate(p: Plan, i: PlanInput): boolean {
  const stages = new Set((p.stages ?? []).map((s) => s.name));
  return !i.crop && !i.permuted && !stages.has(i.model) && (i.info.dtype === 'BF16' || i.info.dtype === 'F16' || i.info.dtype === 'F32');
}

export class LiveLoop {
  private readonly runner: KernelRunner;
  private readonly merger: WebGpuMergeBackend;
  private readonly resident = new Map<string, ResidentTensor>();
  private signatures = new Map<string, string>();
  private readonly counts: GPUBuffer;
  private readonly slotOf: Map<string, number>;
  /** Every re-merge so far (tests count them). */
  remergedTotal = 0;
  private disposed = false;

  private constructor(
    readonly gpu: GpuContext,
    readonly model: GpuCausalLM,
    readonly config: CausalLMConfig,
    public tokenizer: TextTokenizer,
    public maxNewTokens: number | undefined,
    public tokenizerKey: string,
    readonly shape: string,
    public residency: Residency,
    private readonly opts: LiveLoopOptions,
    steps: PlanStep[],
  ) {
    this.runner = new KernelRunner(gpu);
    this.merger = new WebGpuMergeBackend(this.runner);
    this.slotOf = new Map(steps.map((s, i) => [s.output, i]));
    this.counts = gpu.device.createBuffer({ size: Math.max(16, steps.length * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, label: 'non-finite counts' });
  }

  /** Uploads the plan's inputs (as far as the budget allows), merges every tensor into the
   * evaluator's weights and returns the loop; `update` then follows parameter changes. */
  static async start(p: Plan, opts: LiveLoopOptions = {}): Promise<LiveLoop> {
    const configFile = `${p.tokenizerModel.id} (merged config.json)`;
    const config = parseCausalLMConfig(p.config, configFile);
    checkTensorInventory(config, new Map(p.steps.map((s) => [s.output, { shape: s.shape, dtype: s.dtype }])), `${p.tokenizerModel.id} (merged)`, configFile);
    const needed = expectedTensors(config);
    const steps = p.steps.filter((s) => needed.has(s.output));
    const gpu = opts.gpu ?? (await requireGpu());
    // The evaluator's weights, allocated empty in their stored dtypes (in row slices past a
    // binding) and filled by the merge.
    const weights = new Map<string, GpuWeightAllocation>(steps.map((s) => [s.output, { allocate: weightDType(s) }]));
    const model = new GpuCausalLM(gpu, config, weights);
    const weightBytes = model.weightBytes;
    let tokenizer: Awaited<ReturnType<typeof mergedTokenizer>>;
    try {
      tokenizer = await mergedTokenizer(p, opts.signal);
    } catch (err) {
      model.dispose();
      throw err;
    }
    const budgetBytes = opts.gpuBudgetBytes ?? DEFAULT_GPU_BUDGET_BYTES;
    const residency: Residency = { inputs: 0, resident: 0, residentBytes: 0, streamed: 0, weightBytes, budgetBytes };
    const loop = new LiveLoop(gpu, model, config, tokenizer.tokenizer, tokenizer.maxNewTokens, tokenizer.tokenizerKey, shapeSignature(p), residency, opts, steps);
    try {
      await loop.upload(p, steps, budgetBytes - weightBytes - 3 * gpu.capabilities.bindingBudget - EVAL_RESERVE_BYTES);
      await loop.update(p, { signal: opts.signal, onProgress: opts.onProgress });
    } catch (err) {
      loop.dispose();
      throw err;
    }
    return loop;
  }

  /** Uploads each distinct input in plan order while `room` bytes last; the others are streamed. */
  private async upload(p: Plan, steps: PlanStep[], room: number): Promise<void> {
    const seen = new Set<string>();
    const device = this.gpu.device;
    // Slices never exceed one binding (nor a buffer): a tensor past either is held in pieces.
    const sliceBytes = Math.min(this.gpu.capabilities.bindingBudget, this.gpu.capabilities.limits.maxBufferSize) & ~3;
    let done = 0;
    const total = new Set(steps.flatMap((s) => [...s.models, ...(s.base ? [s.base] : [])].map(inputKey))).size;
    let queued = 0;
    // Even, so each piece of 16-bit values starts on a 4-byte boundary as writeBuffer asks.
    const piece = Math.max(2, Math.floor((this.opts.uploadPieceElements ?? UPLOAD_PIECE_ELEMENTS) / 2) * 2);
    for (const step of steps) {
      for (const input of [...step.models, ...(step.base ? [step.base] : [])]) {
        const key = inputKey(input);
        if (seen.has(key)) continue;
        seen.add(key);
        this.residency.inputs++;
        const { info } = input;
        const packedBytes = info.dtype === 'F32' ? info.bytes : Math.ceil(info.bytes / 4) * 4;
        if (!residentCandidate(p, input) || packedBytes > room) {
          this.residency.streamed++;
          continue;
        }
        throwIfAborted(this.opts.signal);
        const size = info.dtype === 'F32' ? 4 : 2;
        const elements = info.bytes / size;
        const perSlice = Math.floor(sliceBytes / size / 2) * 2;
        const slices: { start: number; count: number; buffer: GPUBuffer }[] = [];
        try {
          for (let start = 0; start < elements; start += perSlice) {
            const count = Math.min(perSlice, elements - start);
            const buffer = device.createBuffer({ size: Math.max(4, Math.ceil((count * size) / 4) * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, label: `resident ${input.model}:${info.name}` });
            slices.push({ start, count, buffer });
            // Read and written in pieces, so the host holds one piece at a time rather than a slice
            // (up to a binding, hundreds of MB) or a mapping of the whole buffer.
            for (let at = 0; at < count; at += piece) {
              const n = Math.min(piece, count - at);
              const bytes = await info.source.read(info.offset + (start + at) * size, n * size, this.opts.signal);
              device.queue.writeBuffer(buffer, at * size, (bytes.byteLength % 4 === 0 ? bytes : padTo4(bytes)) as Uint8Array<ArrayBuffer>);
              queued += bytes.byteLength;
              // Let the queue drain now and then: its staging copies are host memory until submitted.
              if (queued >= UPLOAD_DRAIN_BYTES) {
                await device.queue.onSubmittedWorkDone();
                queued = 0;
              }
            }
          }
        } catch (err) {
          for (const s of slices) s.buffer.destroy();
          throw err;
        }
        this.resident.set(key, { elements, dtype: info.dtype as ResidentTensor['dtype'], slices });
        room -= packedBytes;
        this.residency.resident++;
        this.residency.residentBytes += packedBytes;
        this.opts.onProgress?.({ phase: 'upload', done: ++done, total, message: `${input.model}: ${info.name}` });
      }
    }
  }

  /** Brings the weights to `p` (same shape as the plan the loop started with): re-merges the
   * tensors whose signature changed, on the GPU, into the evaluator's buffers. Cancelled between
   * tensors by `signal`; tensors merged before that keep their new values and signatures. */
  async update(p: Plan, options: { signal?: AbortSignal; onProgress?: ProgressCallback } = {}): Promise<LiveUpdate> {
    if (this.disposed) throw new MergeStudioError('live-loop-disposed', 'the live loop was disposed', {});
    if (shapeSignature(p) !== this.shape) throw new MergeStudioError('live-loop-shape', 'the merged model changed shape (layers, tensors or dtypes); start a new live loop', {});
    const started = performance.now();
    if (this.tokenizerKey !== mergedTokenizerKey(p)) Object.assign(this, await mergedTokenizer(p, options.signal));
    const stages = stageSteps(p);
    const changed = p.steps.filter((s) => this.slotOf.has(s.output) && this.signatures.get(s.output) !== stepSignature(p, s, stages));
    const merged: PlanStep[] = [];
    const device = this.gpu.device;
    const clear = device.createCommandEncoder();
    clear.clearBuffer(this.counts);
    device.queue.submit([clear.finish()]);
    let failure: unknown;
    try {
      for (const [i, step] of changed.entries()) {
        throwIfAborted(options.signal);
        // Forget the old signature first: a merge cut short leaves this tensor to be redone.
        this.signatures.delete(step.output);
        await this.mergeStep(p, step, options.signal);
        this.signatures.set(step.output, stepSignature(p, step, stages));
        merged.push(step);
        this.remergedTotal++;
        options.onProgress?.({ phase: 'merge', done: i + 1, total: changed.length, message: step.output });
      }
    } catch (err) {
      failure = err;
    }
    // The merged weights are checked even when the update was cut short.
    const nonFinite = await this.nonFinite(merged);
    await device.queue.onSubmittedWorkDone();
    const mergeSeconds = (performance.now() - started) / 1000;
    if (nonFinite.length > 0 && !this.opts.allowNonFinite) {
      // The weights now hold NaN/Inf: these tensors are merged again by the next update.
      for (const { tensor } of nonFinite) this.signatures.delete(tensor);
      const step = p.steps.find((s) => s.output === nonFinite[0].tensor)!;
      const err = await nonFiniteError(step, weightDType(step), undefined, options.signal);
      throw new MergeStudioError(err.code, `${err.message} (${nonFinite.map((n) => `${n.tensor}: ${n.count} values`).join(', ')}; checked on the GPU)`, { ...err.details, tensors: nonFinite });
    }
    if (failure) throw failure;
    return { remerged: merged.length, tensors: merged.map((s) => s.output), mergeSeconds, nonFinite };
  }

  private async mergeStep(p: Plan, step: PlanStep, signal?: AbortSignal): Promise<void> {
    const inputs = [...step.models, ...(step.base ? [step.base] : [])];
    const streamed = inputs.some((i) => !this.resident.has(inputKey(i))) ? streamedMergeInput(p, step) : undefined;
    const data = (i: PlanInput, k: number): TensorData => this.resident.get(inputKey(i)) ?? (k < step.models.length ? streamed!.models[k] : streamed!.base!);
    const input: GpuMergeInput = {
      tensorName: step.output,
      shape: step.shape,
      models: step.models.map((m, k) => data(m, k)),
      modelParams: step.modelParams,
      modelIndices: step.models.map((m) => m.index),
      ...(step.base ? { base: data(step.base, step.models.length) } : {}),
      global: step.global,
      seed: p.seed,
    };
    const dtype = weightDType(step);
    const slot = this.slotOf.get(step.output)!;
    const runner = this.runner;
    await this.merger.mergeTensorOnGpu(p.method.name, input, {
      gpu: async (chunk, values) => {
        const stored = dtype === 'F32' ? values : packOnGpu(runner, values, chunk.count, dtype);
        if (stored !== values) runner.release(values);
        const params = runner.params([['u32', chunk.count], ['u32', DTYPE_CODE[dtype]], ['u32', slot]]);
        runner.dispatch('nonfinite_count', [params, stored, this.counts], Math.ceil((dtype === 'F32' ? chunk.count : Math.ceil(chunk.count / 2)) / 256));
        params.destroy();
        const enc = this.gpu.device.createCommandEncoder();
        this.model.copyIntoWeight(enc, step.output, dtype, stored, 0, chunk.start, chunk.count);
        this.gpu.device.queue.submit([enc.finish()]);
        runner.release(stored);
      },
    }, { signal, chunkBytes: this.opts.chunkBytes });
  }

  /** NaN/Inf counts of the given steps' merged weights (one read-back). */
  private async nonFinite(steps: PlanStep[]): Promise<{ tensor: string; count: number }[]> {
    if (steps.length === 0) return [];
    const counts = await this.runner.readU32(this.counts, this.slotOf.size);
    return steps.map((s) => ({ tensor: s.output, count: counts[this.slotOf.get(s.output)!] })).filter((n) => n.count > 0);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.model.dispose();
    for (const t of this.resident.values()) for (const s of t.slices) s.buffer.destroy();
    this.resident.clear();
    this.counts.destroy();
    this.runner.dispose();
  }
}

/** Starts the live loop for `plan` (see LiveLoop). */
export function startLiveLoop(p: Plan, opts: LiveLoopOptions = {}): Promise<LiveLoop> {
  return LiveLoop.start(p, opts);
}
