// Streaming execution of a plan: tensor by tensor, read inputs (decoded to f32) -> merge on the
// backend -> encode -> write, reusing the same buffers from tensor to tensor, so memory stays near
// (inputs x largest tensor) whatever the model size. Elementwise methods on the CPU go further:
// large tensors stream in row blocks (decoded, merged and encoded tile by tile in cache), so memory
// stays near (inputs x block) and embeddings/lm_head never exist as full float32 copies. Exports write shards, index, tokenizer files,
// the model card and mergekit_config.yml, and config.json LAST; a failed or cancelled export
// removes everything it wrote, so no folder ever looks like a complete model by accident.
import { canDecodeToF32, canEncodeFromF32, decodeToF32, dtypeBits, encodeFromF32, type DType } from '../dtype.ts';
import { MergeStudioError } from '../errors.ts';
import { readIntoOrFresh, type ByteSink, type SinkFactory } from '../io/types.ts';
import type { ChunkedMerge, MergeTensorInput, TensorChunk } from '../methods/types.ts';
import { ReusableArrays } from '../methods/scratch.ts';
import { throwIfAborted, type ProgressCallback } from '../progress.ts';
import { renameModels } from '../recipe/stages.ts';
import type { Recipe } from '../recipe/types.ts';
import { referencedModels } from '../recipe/validate.ts';
import { recipeToYaml } from '../recipe/yaml.ts';
import { tokenizerFiles } from '../tokenizer/export.ts';
import { renderModelCard, type CardInfo } from '../hub/model-card.ts';
import { looksLikeHubRef } from '../hub/repo-id.ts';
import { readTensorF32 } from '../safetensors/index.ts';
import { DEFAULT_MAX_SHARD_BYTES, SafetensorsWriter } from '../safetensors/writer.ts';
import { cpuBackend, type MergeBackend, type StreamedMergeInput, type StreamedTensor } from './backend.ts';
import { bytesAreFinite, nonFiniteError, valuesAreFinite } from './finite.ts';
import type { Plan, PlanInput, PlanStep } from './plan.ts';
import type { TileSource } from '../simd/tiles.ts';
import type { TileSink } from '../simd/merge-tiles.ts';

/** Byte buffers by slot, each grown to the largest request (rounded up to 64 KiB) and handed out as
 * a view of the requested length from offset 0 (8-byte aligned; the allocator page-aligns buffers
 * this large). */
class ReusableBytes {
  private readonly slots = new Map<string, Uint8Array>();

  get(slot: string, bytes: number): Uint8Array {
    let buffer = this.slots.get(slot);
    if (!buffer || buffer.byteLength < bytes) this.slots.set(slot, (buffer = new Uint8Array(roundUp(bytes))));
    return buffer.subarray(0, bytes);
  }
}

const roundUp = (bytes: number) => Math.ceil(Math.max(bytes, 1) / 65536) * 65536;

/** What one read of a step covers: rows [start, end) of every input, or (end undefined) each input
 * as the step takes it whole (the stored tensor, or its first rows where the plan crops rows). */
interface ReadUnit {
  step: PlanStep;
  start: number;
  end: number | undefined;
}

/** The stored bytes of `input` that a unit reads in one request, or undefined where the input is
 * read another way (a permuted vocabulary, a crop along columns, a dtype that cannot merge). */
function rawRange(input: PlanInput, start: number, end: number | undefined): [offset: number, length: number] | undefined {
  const { info, crop, permuted } = input;
  if (permuted || !canDecodeToF32(info.dtype) || (crop && crop[1] !== info.shape[1])) return undefined;
  if (end === undefined && !crop) return [info.offset, info.bytes];
  const rowBytes = info.bytes / info.shape[0];
  const [from, to] = end === undefined ? [0, crop![0]] : [start, end];
  return [info.offset + from * rowBytes, (to - from) * rowBytes];
}

/** The stored bytes of every input of a step (models in order, then the base), read into two sets
 * of reusable buffers in turn: while one unit merges from one set, the next unit's reads fill the
 * other (one large positioned read per input, all inputs at once), so neither reading waits for
 * merging nor fresh buffers are page-faulted in per tensor. */
class InputReads {
  private readonly sets = [new ReusableBytes(), new ReusableBytes()];
  /** The set the next read goes into (the other holds the unit taken last). */
  private turn = 0;
  private pending: { unit: ReadUnit; reads: Promise<(Uint8Array | undefined)[]> } | undefined;

  private issue(unit: ReadUnit, set: ReusableBytes, signal?: AbortSignal): Promise<(Uint8Array | undefined)[]> {
    const inputs = [...unit.step.models, ...(unit.step.base ? [unit.step.base] : [])];
    return Promise.all(
      inputs.map((input, i) => {
        const range = rawRange(input, unit.start, unit.end);
        return range ? readIntoOrFresh(input.info.source, range[0], set.get(`input${i}`, range[1]), signal) : undefined;
      }),
    );
  }

  /** Starts reading `unit` into the free set (at most one unit ahead). */
  ahead(unit: ReadUnit | undefined, signal?: AbortSignal): void {
    if (!unit || this.pending) return;
    const reads = this.issue(unit, this.sets[this.turn], signal);
    reads.catch(() => undefined); // awaited (or dropped after it settles) by the next take
    this.pending = { unit, reads };
  }

  /** The stored bytes of `unit`'s inputs (undefined for those read another way): read ahead, or
   * read now; then starts reading `next`. Valid until the take after next. */
  async take(unit: ReadUnit, signal?: AbortSignal, next?: ReadUnit): Promise<(Uint8Array | undefined)[]> {
    const pending = this.pending;
    this.pending = undefined;
    const set = this.sets[this.turn];
    this.turn = 1 - this.turn;
    if (pending) {
      const { step, start, end } = pending.unit;
      if (step === unit.step && start === unit.start && end === unit.end) {
        this.ahead(next, signal);
        return pending.reads;
      }
      // Read ahead for nothing: let it finish before its buffers are reused.
      await pending.reads.catch(() => undefined);
    }
    throwIfAborted(signal);
    const reads = this.issue(unit, set, signal);
    this.ahead(next, signal);
    return reads;
  }
}

/** Buffers reused from tensor to tensor and chunk to chunk: the stored bytes read, the decoded
 * inputs and the output (by slot), the method's own work arrays, and the encoded bytes. Fresh
 * full-size arrays per tensor cost more in page faults (and garbage collection) than the merge
 * arithmetic itself. */
class StepBuffers {
  readonly reads = new InputReads();
  readonly inputs = new ReusableArrays();
  readonly method = new ReusableArrays();
  private encoded = new Uint8Array(0);

  /** A byte buffer of at least `bytes` (8-byte aligned), valid until the next call. */
  bytes(bytes: number): Uint8Array {
    if (this.encoded.byteLength < bytes) this.encoded = new Uint8Array(roundUp(bytes));
    return this.encoded.subarray(0, bytes);
  }
}

function dtypeError(input: PlanInput): MergeStudioError {
  const { info } = input;
  return new MergeStudioError('tensor-dtype', `${info.file}: tensor '${info.name}' of '${input.model}' is ${info.dtype}, which cannot be merged (expected a float type)`, { tensor: info.name, file: info.file });
}

/** An input taken whole as float32 values: `stored` (its bytes from InputReads) viewed or decoded. */
async function readInput(input: PlanInput, stored: Uint8Array | undefined, into: Float32Array, signal?: AbortSignal): Promise<Float32Array> {
  const { info, crop, permuted } = input;
  if (permuted) return permuted.read(input.model, 0, permuted.rows, into, signal);
  if (!canDecodeToF32(info.dtype)) throw dtypeError(input);
  if (stored) return viewOrDecode(stored, info.dtype, into);
  const [rows, cols] = crop!;
  const width = info.shape[1];
  const block = await readTensorF32(info, { rows: [0, rows] }, signal);
  for (let r = 0; r < rows; r++) into.set(block.subarray(r * width, r * width + cols), r * cols);
  return into;
}

/** Aligned F32 bytes are used as they are (a view of the read buffer, valid while it is), others decode into `into`. */
function viewOrDecode(bytes: Uint8Array, dtype: DType, into: Float32Array): Float32Array {
  if (dtype === 'F32' && bytes.byteOffset % 4 === 0 && bytes.buffer instanceof ArrayBuffer) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return decodeToF32(bytes, dtype, into);
}

const NO_VALUES = new Float32Array(0);

/** Whole, uncropped F32 or BF16 tensors go to a method's tile path as they are stored. */
function isTileable(input: PlanInput): boolean {
  return !input.crop && !input.permuted && (input.info.dtype === 'F32' || input.info.dtype === 'BF16');
}

/** Whether the step can merge straight from its stored inputs (the method's tile path). */
function canMergeTiles(plan: Plan, step: PlanStep): boolean {
  return plan.method.mergeTiles !== undefined && [...step.models, ...(step.base ? [step.base] : [])].every(isTileable);
}

/** Merges a step from the stored bytes of its inputs, tile by tile, into `out` (float32 values or
 * encoded bytes): no full-size float32 copy of any input, nor of the output when it is encoded. */
async function mergeStoredTiles(plan: Plan, step: PlanStep, out: TileSink, buffers: StepBuffers, signal?: AbortSignal, next?: ReadUnit): Promise<void> {
  const elements = step.shape.reduce((a, b) => a * b, 1);
  const stored = await buffers.reads.take({ step, start: 0, end: undefined }, signal, next);
  const source = (m: PlanInput, i: number): TileSource => ({ bytes: stored[i]!, dtype: m.info.dtype as 'F32' | 'BF16' });
  const models = step.models.map(source);
  const base = step.base ? source(step.base, step.models.length) : undefined;
  throwIfAborted(signal);
  const params = { tensorName: step.output, shape: step.shape, models: models.map(() => NO_VALUES), modelParams: step.modelParams, modelIndices: step.models.map((m) => m.index), global: step.global, seed: plan.seed, scratch: buffers.method };
  plan.method.mergeTiles!(params, models, base, elements, out);
}

/** Reads one step's inputs into scratch buffers and merges them; with `reuseOutput` the result
 * lives in a scratch buffer too and is only valid until the next step. */
async function mergeStep(plan: Plan, step: PlanStep, backend: MergeBackend, buffers: StepBuffers, reuseOutput: boolean, signal?: AbortSignal, next?: ReadUnit): Promise<Float32Array> {
  const elements = step.shape.reduce((a, b) => a * b, 1);
  const scratch = buffers.inputs;
  if (backend === cpuBackend && canMergeTiles(plan, step)) {
    const out = reuseOutput ? scratch.get('output', elements) : new Float32Array(elements);
    await mergeStoredTiles(plan, step, { values: out }, buffers, signal, next);
    return out;
  }
  const stored = await buffers.reads.take({ step, start: 0, end: undefined }, signal, next);
  const models: Float32Array[] = [];
  for (const [i, m] of step.models.entries()) models.push(await readInput(m, stored[i], scratch.get(`model${i}`, elements), signal));
  const base = step.base ? await readInput(step.base, stored[step.models.length], scratch.get('base', elements), signal) : undefined;
  const input: MergeTensorInput = {
    tensorName: step.output,
    shape: step.shape,
    models,
    modelParams: step.modelParams,
    modelIndices: step.models.map((m) => m.index),
    ...(base ? { base } : {}),
    global: step.global,
    seed: plan.seed,
    ...(reuseOutput ? { out: scratch.get('output', elements) } : {}),
    ...(backend.kind === 'cpu' ? { scratch: buffers.method } : {}),
  };
  const merged = await backend.merge(plan.method, input, signal);
  // A method may hand back one of its inputs (e.g. slerp at t = 0); never let a scratch buffer escape.
  return !reuseOutput && [...models, base].some((a) => a?.buffer === merged.buffer) ? merged.slice() : merged;
}

/** Merges steps of `plan` one at a time, each into an array of its own (a stage's tensors, read
 * by a later document of a multi-stage recipe). */
export function stepMerger(plan: Plan, backend: MergeBackend): (step: PlanStep, signal?: AbortSignal) => Promise<Float32Array> {
  const buffers = new StepBuffers();
  return (step, signal) => mergeStep(plan, step, backend, buffers, false, signal);
}

/** Default memory budget of one chunked step: float32 bytes of all its inputs and its output. */
export const DEFAULT_CHUNK_BYTES = 64 << 20;

function greatestCommonDivisor(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Rows per chunk when this step is larger than the budget (else 0: it merges whole). A chunk is
 * whole rows along dim 0 and a multiple of 8 elements (the kernels' reduction lanes and DARE's
 * keep flags come in groups of 8), so every chunked reduction adds in the whole tensor's order. */
export function chunkRows(step: PlanStep, budgetBytes: number): number {
  if (step.shape.length === 0) return 0;
  const rows = step.shape[0];
  const rowElements = step.shape.slice(1).reduce((a, b) => a * b, 1);
  const arrays = step.models.length + (step.base ? 1 : 0) + 1;
  const rowBytes = rowElements * 4 * arrays;
  if (rowElements === 0 || rows * rowBytes <= budgetBytes) return 0;
  const align = 8 / greatestCommonDivisor(rowElements, 8);
  const fit = Math.floor(budgetBytes / rowBytes);
  const chunk = Math.max(align, fit - (fit % align));
  return chunk >= rows ? 0 : chunk;
}

/** Rows per chunk of a step the engine merges in chunks (0: it merges whole): only the stock CPU
 * backend streams, and only methods that can (see MergeMethod.mergeChunks, or elementwise ones). */
function stepChunkRows(plan: Plan, step: PlanStep, backend: MergeBackend, budgetBytes: number): number {
  if (backend !== cpuBackend || !(plan.method.mergeChunks || plan.method.elementwise)) return 0;
  return chunkRows(step, budgetBytes);
}

/** The step's method as a chunked merge: its own, or for an elementwise method each chunk merged
 * on its own; undefined when the method's own declines this tensor (it then merges whole). */
function chunkedMerger(plan: Plan, step: PlanStep, buffers: StepBuffers): ChunkedMerge | undefined {
  const method = plan.method;
  const template = { tensorName: step.output, modelParams: step.modelParams, modelIndices: step.models.map((m) => m.index), global: step.global, seed: plan.seed, scratch: buffers.method };
  if (method.mergeChunks) return method.mergeChunks({ ...template, shape: step.shape, models: step.models.map(() => NO_VALUES), ...(step.base ? { base: NO_VALUES } : {}) });
  return {
    passes: 0,
    scan() {},
    endPass() {},
    emit(chunk, out) {
      const placeholders = { ...template, shape: [chunk.elements], models: chunk.models.map(() => NO_VALUES), ...(chunk.base ? { base: NO_VALUES } : {}) };
      if (method.mergeTiles) {
        method.mergeTiles(placeholders, chunk.models, chunk.base, chunk.elements, out);
        return;
      }
      const values = (source: TileSource, slot: string) => ('values' in source ? source.values : decodeToF32(source.bytes, source.dtype, buffers.inputs.get(slot, chunk.elements)));
      const merged = method.mergeCpu({
        ...placeholders,
        models: chunk.models.map((m, i) => values(m, `chunk-values${i}`)),
        ...(chunk.base ? { base: values(chunk.base, 'chunk-values-base') } : {}),
        out: 'values' in out ? out.values : buffers.inputs.get('chunk-merged', chunk.elements),
      });
      if (!('values' in out)) encodeFromF32(merged, out.dtype, out.bytes);
    },
  };
}

/** Rows [start, end) of an input: its stored F32/BF16 bytes (`stored`, from InputReads) as they
 * are, other dtypes and inputs cropped along their columns decoded to float32 into the scratch slot. */
async function readChunkSource(input: PlanInput, stored: Uint8Array | undefined, start: number, end: number, slot: string, buffers: StepBuffers, signal?: AbortSignal): Promise<TileSource> {
  const { info, permuted } = input;
  if (permuted) {
    // Rows in the merged vocabulary's order: as stored when they are all the model's own, else
    // decoded with the rule rows filled in (one block of this model at a time).
    const own = await permuted.readStored(input.model, start, end, signal);
    if (own && (info.dtype === 'F32' || info.dtype === 'BF16')) return { bytes: own, dtype: info.dtype };
    const into = buffers.inputs.get(slot, (end - start) * permuted.cols);
    if (own) return { values: decodeToF32(own, info.dtype, into) };
    return { values: await permuted.read(input.model, start, end, into, signal) };
  }
  if (!canDecodeToF32(info.dtype)) throw dtypeError(input);
  if (stored) {
    if (info.dtype === 'F32' || info.dtype === 'BF16') return { bytes: stored, dtype: info.dtype };
    return { values: decodeToF32(stored, info.dtype, buffers.inputs.get(slot, stored.byteLength / (dtypeBits(info.dtype) / 8))) };
  }
  const cols = input.crop![1];
  const width = info.shape[1];
  const block = await readTensorF32(info, { rows: [start, end] }, signal);
  const into = buffers.inputs.get(slot, (end - start) * cols);
  for (let r = 0; r < end - start; r++) into.set(block.subarray(r * width, r * width + cols), r * cols);
  return { values: into };
}

/** Merges a step in chunks of `rows` rows: the method's scans over every chunk first (inputs read
 * again each pass), then each chunk's output encoded into a buffer from `output` and handed to
 * `emit`. Each chunk's reads start while the chunk before it merges; `next` is the unit read after
 * this step's last chunk. */
async function mergeChunked(step: PlanStep, merger: ChunkedMerge, rows: number, outDType: DType, buffers: StepBuffers, output: (bytes: number) => Promise<Uint8Array>, emit: (bytes: Uint8Array) => void, check: boolean, next: ReadUnit | undefined, signal?: AbortSignal): Promise<void> {
  const total = step.shape[0];
  const rowElements = step.shape.slice(1).reduce((a, b) => a * b, 1);
  const outSize = dtypeBits(outDType) / 8;
  const inputs = [...step.models, ...(step.base ? [step.base] : [])];
  async function read(start: number, last: boolean): Promise<TensorChunk> {
    throwIfAborted(signal);
    const end = Math.min(total, start + rows);
    // While this chunk merges, the next is read: the next one of this pass, else this step's first
    // (the next pass or the output pass reads from the start again), else the next step's first.
    const stored = await buffers.reads.take({ step, start, end }, signal, end < total ? { step, start: end, end: Math.min(total, end + rows) } : last ? next : { step, start: 0, end: Math.min(total, rows) });
    const sources: TileSource[] = [];
    for (const [i, m] of inputs.entries()) sources.push(await readChunkSource(m, stored[i], start, end, i < step.models.length ? `chunk-model${i}` : 'chunk-base', buffers, signal));
    const models = sources.slice(0, step.models.length);
    const base = step.base ? sources[step.models.length] : undefined;
    return { start: start * rowElements, elements: (end - start) * rowElements, rows: end - start, models, ...(base ? { base } : {}) };
  }
  for (let pass = 0; pass < merger.passes; pass++) {
    for (let start = 0; start < total; start += rows) merger.scan(pass, await read(start, false));
    merger.endPass(pass);
  }
  for (let start = 0; start < total; start += rows) {
    const chunk = await read(start, true);
    const bytes = await output(chunk.elements * outSize);
    if (outDType === 'F32' || outDType === 'BF16') merger.emit(chunk, { bytes, dtype: outDType });
    else {
      const values = buffers.inputs.get('chunk-output', chunk.elements);
      merger.emit(chunk, { values });
      encodeFromF32(values, outDType, bytes);
    }
    if (check && !bytesAreFinite(bytes, outDType)) throw await nonFiniteError(step, outDType, undefined, signal);
    emit(bytes);
  }
}

/** The writer fed in the background: the engine hands over a tensor's encoded chunks and goes on
 * merging while the sink writes them (each chunk's write overlaps the next chunk's merge). Chunks
 * live in a pool of two buffers; one goes back to the pool when the writer asks for the chunk after
 * it (SafetensorsWriter.add awaits each sink write before it asks). */
class WriteBehind {
  private chain: Promise<void> = Promise.resolve();
  private failure: { error: unknown } | undefined;
  private readonly free: Uint8Array[] = [new Uint8Array(0), new Uint8Array(0)];
  private waiting: (() => void)[] = [];

  constructor(private readonly writer: SafetensorsWriter) {}

  /** A buffer for the next chunk (waits while both are being written). */
  async buffer(bytes: number): Promise<Uint8Array> {
    for (;;) {
      if (this.failure) throw this.failure.error;
      const buffer = this.free.pop();
      if (buffer) return (buffer.byteLength >= bytes ? buffer : new Uint8Array(roundUp(bytes))).subarray(0, bytes);
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  private release(chunk: Uint8Array): void {
    this.free.push(new Uint8Array(chunk.buffer as ArrayBuffer));
    this.wake();
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const w of waiting) w();
  }

  /** The feed of the next tensor: written after every tensor begun before it. */
  tensor(name: string, dtype: DType, shape: number[]): TensorFeed {
    const feed = new TensorFeed((chunk) => this.release(chunk));
    this.chain = this.chain.then(() => this.writer.add(name, dtype, shape, feed));
    this.chain.catch((error: unknown) => {
      this.failure ??= { error };
      this.wake();
    });
    return feed;
  }

  /** Resolves when everything handed over is written; rejects with the writer's error. */
  drain(): Promise<void> {
    return this.chain;
  }
}

/** One tensor's chunks, in order, as the async iterable SafetensorsWriter.add reads. */
class TensorFeed implements AsyncIterable<Uint8Array> {
  private readonly queue: Uint8Array[] = [];
  private ended = false;
  private failure: { error: unknown } | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly release: (chunk: Uint8Array) => void) {}

  push(chunk: Uint8Array): void {
    this.queue.push(chunk);
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  /** Stops the writer with `error` (it then discards what it wrote). */
  fail(error: unknown): void {
    this.failure = { error };
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    let last: Uint8Array | undefined;
    try {
      for (;;) {
        // Asked for the next chunk: the writer is done with the last one.
        if (last) this.release(last);
        last = undefined;
        while (!this.queue.length && !this.ended && !this.failure) await new Promise<void>((resolve) => (this.wake = resolve));
        if (this.failure) throw this.failure.error;
        if (!this.queue.length) return;
        last = this.queue.shift()!;
        yield last;
      }
    } finally {
      if (last) this.release(last);
      for (const chunk of this.queue.splice(0)) this.release(chunk);
    }
  }
}

/** An input of a step as a tensor read slice by slice (the backend's streamed merge): stored
 * F32/BF16/F16 bytes straight from the file's byte range, other dtypes and inputs cropped along
 * their columns or permuted to another vocabulary decoded to float32 from the rows that cover the
 * asked range. A slice lives in the `slot` scratch buffers until the next read of the same input. */
function streamedTensor(input: PlanInput, step: PlanStep, slot: string, buffers: StepBuffers): StreamedTensor {
  const { info, crop, permuted } = input;
  if (!canDecodeToF32(info.dtype)) {
    throw new MergeStudioError('tensor-dtype', `${info.file}: tensor '${info.name}' of '${input.model}' is ${info.dtype}, which cannot be merged (expected a float type)`, { tensor: info.name, file: info.file });
  }
  const elements = step.shape.reduce((a, b) => a * b, 1);
  const dtype = info.dtype;
  if (!permuted && !(crop && crop[1] !== info.shape[1]) && (dtype === 'F32' || dtype === 'BF16' || dtype === 'F16')) {
    const size = dtype === 'F32' ? 4 : 2;
    return {
      elements,
      dtype,
      async read(start, count, signal) {
        const bytes = await info.source.read(info.offset + start * size, count * size, signal);
        if (dtype !== 'F32') return bytes;
        if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, count);
        const aligned = buffers.inputs.get(slot, count);
        new Uint8Array(aligned.buffer, aligned.byteOffset, count * 4).set(bytes);
        return aligned;
      },
    };
  }
  if (step.shape.length === 0) {
    return { elements, dtype: 'F32', read: async (start, count, signal) => {
        const range = rawRange(input, 0, undefined);
        const stored = range ? await info.source.read(range[0], range[1], signal) : undefined;
        return readInput(input, stored, buffers.inputs.get(slot, elements), signal).then((v) => v.subarray(start, start + count));
      },
    };
  }
  const rowElements = step.shape.slice(1).reduce((a, b) => a * b, 1);
  return {
    elements,
    dtype: 'F32',
    async read(start, count, signal) {
      const first = Math.floor(start / rowElements);
      const end = Math.ceil((start + count) / rowElements);
      const range = rawRange(input, first, end);
      const stored = range ? await info.source.read(range[0], range[1], signal) : undefined;
      const source = await readChunkSource(input, stored, first, end, slot, buffers, signal);
      const values = 'values' in source ? source.values : decodeToF32(source.bytes, source.dtype, buffers.inputs.get(`${slot}-decoded`, (end - first) * rowElements));
      const offset = start - first * rowElements;
      return values.subarray(offset, offset + count);
    },
  };
}

/** A step's inputs for the backend's streamed merge. */
function streamedStepInput(plan: Plan, step: PlanStep, buffers: StepBuffers): StreamedMergeInput {
  return {
    tensorName: step.output,
    shape: step.shape,
    models: step.models.map((m, i) => streamedTensor(m, step, `stream-model${i}`, buffers)),
    modelParams: step.modelParams,
    modelIndices: step.models.map((m) => m.index),
    ...(step.base ? { base: streamedTensor(step.base, step, 'stream-base', buffers) } : {}),
    global: step.global,
    seed: plan.seed,
  };
}

const isStreamable = (dtype: DType): dtype is 'F32' | 'BF16' | 'F16' => dtype === 'F32' || dtype === 'BF16' || dtype === 'F16';

/** A backend's streamed output with the non-finite check on every slice. */
async function* checkedSlices(step: PlanStep, slices: AsyncIterable<Uint8Array>, outDType: DType, check: boolean, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  for await (const bytes of slices) {
    if (check && !bytesAreFinite(bytes, outDType)) throw await nonFiniteError(step, outDType, undefined, signal);
    yield bytes;
  }
}

/** Progress with rate and ETA over the bytes read so far. */
function progressReporter(plan: Plan, steps: PlanStep[], onProgress?: ProgressCallback) {
  const started = performance.now();
  const total = steps.reduce((s, p) => s + p.inputBytes, 0);
  let bytes = 0;
  return (done: number, step?: PlanStep) => {
    if (step) bytes += step.inputBytes;
    const seconds = (performance.now() - started) / 1000;
    const rate = seconds > 0 && bytes > 0 ? bytes / seconds : undefined;
    onProgress?.({ phase: 'merge', done, total: steps.length, bytes, rate, eta: rate ? (total - bytes) / rate : undefined, message: step?.output ?? plan.recipe.merge_method });
  };
}

export interface MemoryMergeOptions {
  backend?: MergeBackend;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  /** Merge only the outputs this accepts (e.g. those whose parameters changed). */
  only?: (output: string) => boolean;
  /** Keep NaN/Inf in merged tensors instead of failing with an error that names the tensor
   * and its cause (default false). */
  allowNonFinite?: boolean;
}

/** Merges into memory: output tensor name -> f32 values (for evaluation without writing files). */
export async function mergeToMemory(plan: Plan, options: MemoryMergeOptions = {}): Promise<Map<string, Float32Array>> {
  const backend = options.backend ?? cpuBackend;
  const steps = options.only ? plan.steps.filter((s) => options.only!(s.output)) : plan.steps;
  const report = progressReporter(plan, steps, options.onProgress);
  const out = new Map<string, Float32Array>();
  const buffers = new StepBuffers();
  report(0);
  for (const [i, step] of steps.entries()) {
    throwIfAborted(options.signal);
    const merged = await mergeStep(plan, step, backend, buffers, false, options.signal);
    if (!options.allowNonFinite && !valuesAreFinite(merged)) throw await nonFiniteError(step, 'F32', merged, options.signal);
    out.set(step.output, merged);
    report(i + 1, step);
  }
  return out;
}

/** A merged tensor as the export stores it: 16-bit steps as raw little-endian words, others f32. */
export type StoredMergedTensor = { dtype: 'F32'; shape: number[]; data: Float32Array } | { dtype: 'BF16' | 'F16'; shape: number[]; data: Uint16Array };

/** Merges into memory in each step's output dtype (what an export writes; 16-bit steps take two
 * bytes per value on the host, never a float32 copy of the whole model). Every merged value is
 * checked for NaN/Inf, after encoding too (a finite float32 can overflow float16). */
export async function mergeToStoredTensors(plan: Plan, options: MemoryMergeOptions = {}): Promise<Map<string, StoredMergedTensor>> {
  const backend = options.backend ?? cpuBackend;
  const steps = options.only ? plan.steps.filter((s) => options.only!(s.output)) : plan.steps;
  const report = progressReporter(plan, steps, options.onProgress);
  const out = new Map<string, StoredMergedTensor>();
  const buffers = new StepBuffers();
  report(0);
  for (const [i, step] of steps.entries()) {
    throwIfAborted(options.signal);
    const merged = await mergeStep(plan, step, backend, buffers, true, options.signal);
    if (!options.allowNonFinite && !valuesAreFinite(merged)) throw await nonFiniteError(step, 'F32', merged, options.signal);
    if (step.dtype === 'BF16' || step.dtype === 'F16') {
      const bytes = encodeFromF32(merged, step.dtype, new Uint8Array(merged.length * 2));
      if (!options.allowNonFinite && !bytesAreFinite(bytes, step.dtype)) throw await nonFiniteError(step, step.dtype, bytes, options.signal);
      out.set(step.output, { dtype: step.dtype, shape: step.shape, data: new Uint16Array(bytes.buffer, 0, merged.length) });
    } else out.set(step.output, { dtype: 'F32', shape: step.shape, data: merged.slice() });
    report(i + 1, step);
  }
  return out;
}

/** A step's inputs read slice by slice from their sources (cropped, permuted and stage inputs
 * included), for a GPU merge that streams them (the live loop's non-resident inputs). */
export function streamedMergeInput(plan: Plan, step: PlanStep): StreamedMergeInput {
  return streamedStepInput(plan, step, new StepBuffers());
}

export interface ExportOptions {
  /** Where the files go (a folder, an in-memory map, the File System Access API). */
  sinks: SinkFactory;
  backend?: MergeBackend;
  /** Output dtype of every tensor, overriding the plan's. */
  dtype?: DType;
  /** Maximum data bytes per shard (default 5e9, like Hugging Face). */
  shardSize?: number;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  /** Write NaN/Inf values instead of failing (default false: every merged chunk is checked and a
   * non-finite one stops the export with an error naming the tensor and its cause). */
  allowNonFinite?: boolean;
  /** How the model card and mergekit_config.yml name each input model (default: as in the
   * recipe): the studio writes its demo models as paths the CLI resolves instead of its own ids. */
  modelRef?: (ref: string) => string;
  /** CPU backend: a tensor whose float32 inputs and output together take more bytes than this
   * merges in chunks of whole rows within it (default DEFAULT_CHUNK_BYTES), by every method that
   * can stream (see MergeMethod.mergeChunks): memory ~ this budget, not the largest tensor.
   * A backend with a streamed merge (WebGPU) gets it as the size of one stacked GPU chunk. */
  chunkBytes?: number;
}

export interface ExportResult {
  files: string[];
  tensors: number;
  /** Tensor data bytes written. */
  bytesWritten: number;
  /** Tensor data bytes read. */
  bytesRead: number;
  /** Tensors merged in chunks (larger than `chunkBytes`). */
  chunked: number;
  seconds: number;
}

const TORCH_DTYPE: Partial<Record<DType, string>> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/** The recipe an export records: the plan's, saying `tokenizer_source: union` where differing
 * vocabularies were merged as a union without the recipe asking (so mergekit does the same). */
export function exportedRecipe(plan: Plan): Recipe {
  const implicitStages = new Set((plan.stages ?? []).filter((s) => s.plan.vocabulary?.implicit).map((s) => s.name));
  const recipe = implicitStages.size && plan.recipe.stages
    ? { ...plan.recipe, stages: plan.recipe.stages.map((st) => (st.name !== undefined && implicitStages.has(st.name) ? { ...st, tokenizer_source: 'union' } : st)) }
    : plan.recipe;
  return plan.vocabulary?.implicit ? { ...recipe, tokenizer_source: 'union' } : recipe;
}

/** What a caller knows beyond the plan: which inputs are Hub models (and their licenses), measured
 * scores, and the recipe as it should be shown (default: `exportedRecipe(plan)`). */
export type CardExtra = Partial<Pick<CardInfo, 'inputs' | 'scores'>> & { recipe?: Recipe };

/** The model card: what was merged, how, and the recipe to reproduce it (Hub metadata in the
 * front matter; see src/core/hub/model-card.ts). */
export function modelCard(plan: Plan, extra: CardExtra = {}): string {
  return renderModelCard(cardInfoFromPlan(plan, extra));
}

/** What the card says about a plan; `extra.inputs` (Hub ids, licenses) and scores come from the caller. */
export function cardInfoFromPlan(plan: Plan, extra: CardExtra = {}): CardInfo {
  const r = extra.recipe ?? exportedRecipe(plan);
  const stages = plan.stages ?? [];
  // Without better knowledge, an input named like `org/name` (not a path) is taken for a Hub id.
  const inputs = extra.inputs ?? referencedModels(r).map((ref) => ({ ref, ...(looksLikeHubRef(ref) && !/^[./~]|\\/.test(ref) ? { hubId: ref.split('@')[0] } : {}) }));
  return {
    title: r.name ?? 'Merged model',
    method: r.merge_method,
    methodDescription: plan.method.description,
    inputs,
    baseModel: r.base_model,
    recipeYaml: recipeToYaml(r),
    scores: extra.scores,
    notes: [
      ...(stages.length ? [`The final merge reads ${stages.length} stage(s), merged on the way and never written: ${stages.map((st) => `\`${st.name}\` (\`${st.plan.recipe.merge_method}\`)`).join(', ')}. The recipe has one YAML document per stage (mergekit-multi's format).`] : []),
      `Layers: ${plan.numLayers}; tensors: ${plan.steps.length}.`,
    ],
  };
}

async function writeFile(sinks: SinkFactory, name: string, bytes: Uint8Array, open: { sink: ByteSink | null }): Promise<void> {
  const sink = await sinks.create(name, bytes.byteLength);
  open.sink = sink;
  await sink.write(bytes);
  await sink.close();
  open.sink = null;
}

/** Streams the merge into a model folder. */
export async function execute(plan: Plan, options: ExportOptions): Promise<ExportResult> {
  const started = performance.now();
  const backend = options.backend ?? cpuBackend;
  const { sinks, signal } = options;
  const dtypeOf = (step: PlanStep) => options.dtype ?? step.dtype;
  const check = !options.allowNonFinite;
  for (const step of plan.steps) {
    if (!canEncodeFromF32(dtypeOf(step))) {
      throw new MergeStudioError('export-dtype', `tensor '${step.output}': cannot write ${dtypeOf(step)}; use float32, float16 or bfloat16`, { tensor: step.output });
    }
  }
  throwIfAborted(signal);
  const specs = plan.steps.map((s) => ({ name: s.output, dtype: dtypeOf(s), shape: s.shape }));
  const writer = new SafetensorsWriter(sinks, specs, { maxShardBytes: options.shardSize ?? DEFAULT_MAX_SHARD_BYTES, metadata: { format: 'pt' }, signal });
  const written: string[] = [];
  const open: { sink: ByteSink | null } = { sink: null };
  const report = progressReporter(plan, plan.steps, options.onProgress);
  let writes: WriteBehind | undefined;
  try {
    report(0);
    let bytesWritten = 0;
    let chunked = 0;
    const buffers = new StepBuffers();
    const budget = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    const rowsOf = plan.steps.map((step) => stepChunkRows(plan, step, backend, budget));
    const streams = (step: PlanStep) => rowsOf[plan.steps.indexOf(step)] === 0 && backend.mergeStreamed !== undefined && isStreamable(dtypeOf(step));
    const firstUnit = (i: number): ReadUnit | undefined => {
      const step = plan.steps[i];
      // A streamed step reads its own slices: nothing whole is read ahead for it.
      return step && !streams(step) ? { step, start: 0, end: rowsOf[i] > 0 ? Math.min(step.shape[0], rowsOf[i]) : undefined } : undefined;
    };
    // Reads run one unit ahead of the merge, writes one chunk behind it (on Node both are done by
    // libuv's threads, so the second core copies bytes while this one merges).
    const behind = new WriteBehind(writer);
    writes = behind;
    for (const [i, step] of plan.steps.entries()) {
      throwIfAborted(signal);
      const outDType = dtypeOf(step);
      const elements = step.shape.reduce((a, b) => a * b, 1);
      const outBytes = elements * (dtypeBits(outDType) / 8);
      const rows = rowsOf[i];
      const next = firstUnit(i + 1);
      const feed = behind.tensor(step.output, outDType, step.shape);
      try {
        const merger = rows > 0 ? chunkedMerger(plan, step, buffers) : undefined;
        if (merger) {
          await mergeChunked(step, merger, rows, outDType, buffers, (n) => behind.buffer(n), (bytes) => feed.push(bytes), check, next, signal);
          chunked++;
        } else if (streams(step) && isStreamable(outDType)) {
          // A backend with a streamed merge (WebGPU) takes the tensor slice by slice; each slice is
          // copied into a write-behind buffer (the backend reuses its own for the next slice).
          const slices = backend.mergeStreamed!(plan.method, streamedStepInput(plan, step, buffers), outDType, { chunkBytes: budget, signal });
          for await (const slice of checkedSlices(step, slices, outDType, check, signal)) {
            const bytes = await behind.buffer(slice.byteLength);
            bytes.set(slice);
            feed.push(bytes);
          }
          if (chunkRows(step, budget) > 0) chunked++;
        } else if (backend === cpuBackend && outDType === 'BF16' && canMergeTiles(plan, step)) {
          // Encoded tile by tile as it is merged.
          const bytes = await behind.buffer(outBytes);
          await mergeStoredTiles(plan, step, { bytes, dtype: 'BF16' }, buffers, signal, next);
          if (check && !bytesAreFinite(bytes, 'BF16')) throw await nonFiniteError(step, 'BF16', bytes, signal);
          feed.push(bytes);
        } else {
          const merged = await mergeStep(plan, step, backend, buffers, true, signal, next);
          if (check && !valuesAreFinite(merged)) throw await nonFiniteError(step, outDType, merged, signal);
          // Into a buffer of the writer's own: `merged` may be a scratch buffer or an input's.
          const bytes = await behind.buffer(outBytes);
          if (outDType === 'F32') bytes.set(new Uint8Array(merged.buffer, merged.byteOffset, merged.byteLength));
          else encodeFromF32(merged, outDType, bytes);
          // Finite float32 values can still overflow a 16-bit type's range when encoded.
          if (check && outDType !== 'F32' && !bytesAreFinite(bytes, outDType)) throw await nonFiniteError(step, outDType, bytes, signal);
          feed.push(bytes);
        }
        feed.end();
      } catch (err) {
        feed.fail(err);
        throw err;
      }
      bytesWritten += outBytes;
      report(i + 1, step);
    }
    await behind.drain();
    const shards = await writer.finish();
    written.push(...shards.files);

    const text = (s: string) => new TextEncoder().encode(s);
    for (const file of await tokenizerFiles(plan, signal)) {
      throwIfAborted(signal);
      await writeFile(sinks, file.name, file.bytes, open);
      written.push(file.name);
    }
    const recorded = exportedRecipe(plan);
    const shown = options.modelRef ? renameModels(recorded, options.modelRef) : recorded;
    await writeFile(sinks, 'README.md', text(modelCard(plan, { recipe: shown })), open);
    written.push('README.md');
    await writeFile(sinks, 'mergekit_config.yml', text(recipeToYaml(shown)), open);
    written.push('mergekit_config.yml');
    throwIfAborted(signal);
    const config = options.dtype && TORCH_DTYPE[options.dtype] ? { ...plan.config, torch_dtype: TORCH_DTYPE[options.dtype] } : plan.config;
    // Last: a folder with config.json is a finished model.
    await writeFile(sinks, 'config.json', text(JSON.stringify(config, null, 2) + '\n'), open);
    written.push('config.json');
    return { files: written, tensors: plan.steps.length, bytesWritten, bytesRead: plan.totalInputBytes, chunked, seconds: (performance.now() - started) / 1000 };
  } catch (err) {
    // No write may still be running when its files are removed.
    await writes?.drain().catch(() => undefined);
    await writer.abort();
    await open.sink?.abort().catch(() => undefined);
    for (const f of written) await sinks.remove?.(f).catch(() => undefined);
    throw err;
  }
}
