// Streaming execution of a plan: tensor by tensor, read inputs (decoded to f32) -> merge on the
// backend -> encode -> write, reusing the same buffers from tensor to tensor, so memory stays near
// (inputs x largest tensor) whatever the model size. Elementwise methods on the CPU go further:
// large tensors stream in row blocks (decoded, merged and encoded tile by tile in cache), so memory
// stays near (inputs x block) and embeddings/lm_head never exist as full float32 copies. Exports write shards, index, tokenizer files,
// the model card and mergekit_config.yml, and config.json LAST; a failed or cancelled export
// removes everything it wrote, so no folder ever looks like a complete model by accident.
import { canDecodeToF32, canEncodeFromF32, decodeToF32, dtypeBits, encodeFromF32, type DType } from '../dtype.ts';
import { MergeStudioError } from '../errors.ts';
import type { ByteSink, SinkFactory } from '../io/types.ts';
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
import { readTensorBytes, readTensorF32 } from '../safetensors/index.ts';
import { DEFAULT_MAX_SHARD_BYTES, SafetensorsWriter } from '../safetensors/writer.ts';
import { cpuBackend, type MergeBackend } from './backend.ts';
import { bytesAreFinite, nonFiniteError, valuesAreFinite } from './finite.ts';
import type { Plan, PlanInput, PlanStep } from './plan.ts';
import type { TileSource } from '../simd/tiles.ts';
import type { TileSink } from '../simd/merge-tiles.ts';

/** Buffers reused from tensor to tensor: the decoded inputs and the output (by slot), the method's
 * own work arrays, and the encoded bytes. Fresh full-size arrays per tensor cost more in page
 * faults than the merge arithmetic itself. */
class StepBuffers {
  readonly inputs = new ReusableArrays();
  readonly method = new ReusableArrays();
  private encoded = new Uint8Array(0);

  /** A byte buffer of at least `bytes` (8-byte aligned), valid until the next call. */
  bytes(bytes: number): Uint8Array {
    if (this.encoded.byteLength < bytes) this.encoded = new Uint8Array(bytes);
    return this.encoded.subarray(0, bytes);
  }
}

async function readInput(input: PlanInput, into: Float32Array, signal?: AbortSignal): Promise<Float32Array> {
  const { info, crop, permuted } = input;
  if (permuted) return permuted.read(input.model, 0, permuted.rows, into, signal);
  if (!canDecodeToF32(info.dtype)) {
    throw new MergeStudioError('tensor-dtype', `${info.file}: tensor '${info.name}' of '${input.model}' is ${info.dtype}, which cannot be merged (expected a float type)`, { tensor: info.name, file: info.file });
  }
  if (!crop) return viewOrDecode(await readTensorBytes(info, signal), info.dtype, into);
  const [rows, cols] = crop;
  const width = info.shape[1];
  if (width === cols) return viewOrDecode(await info.source.read(info.offset, (info.bytes / info.shape[0]) * rows, signal), info.dtype, into);
  const block = await readTensorF32(info, { rows: [0, rows] }, signal);
  for (let r = 0; r < rows; r++) into.set(block.subarray(r * width, r * width + cols), r * cols);
  return into;
}

/** Aligned F32 bytes are used as they are (the read gave us a buffer of our own), others decode into `into`. */
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
async function mergeStoredTiles(plan: Plan, step: PlanStep, out: TileSink, buffers: StepBuffers, signal?: AbortSignal): Promise<void> {
  const elements = step.shape.reduce((a, b) => a * b, 1);
  const read = async (m: PlanInput): Promise<TileSource> => ({ bytes: await readTensorBytes(m.info, signal), dtype: m.info.dtype as 'F32' | 'BF16' });
  const models: TileSource[] = [];
  for (const m of step.models) models.push(await read(m));
  const base = step.base ? await read(step.base) : undefined;
  throwIfAborted(signal);
  const params = { tensorName: step.output, shape: step.shape, models: models.map(() => NO_VALUES), modelParams: step.modelParams, modelIndices: step.models.map((m) => m.index), global: step.global, seed: plan.seed, scratch: buffers.method };
  plan.method.mergeTiles!(params, models, base, elements, out);
}

/** Reads one step's inputs into scratch buffers and merges them; with `reuseOutput` the result
 * lives in a scratch buffer too and is only valid until the next step. */
async function mergeStep(plan: Plan, step: PlanStep, backend: MergeBackend, buffers: StepBuffers, reuseOutput: boolean, signal?: AbortSignal): Promise<Float32Array> {
  const elements = step.shape.reduce((a, b) => a * b, 1);
  const scratch = buffers.inputs;
  if (backend === cpuBackend && canMergeTiles(plan, step)) {
    const out = reuseOutput ? scratch.get('output', elements) : new Float32Array(elements);
    await mergeStoredTiles(plan, step, { values: out }, buffers, signal);
    return out;
  }
  const models: Float32Array[] = [];
  for (const [i, m] of step.models.entries()) models.push(await readInput(m, scratch.get(`model${i}`, elements), signal));
  const base = step.base ? await readInput(step.base, scratch.get('base', elements), signal) : undefined;
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

/** The step's method as a chunked merge: its own, or for an elementwise method each chunk merged
 * on its own; undefined when the tensor must merge whole. */
function chunkedMerger(plan: Plan, step: PlanStep, buffers: StepBuffers): ChunkedMerge | undefined {
  const method = plan.method;
  const template = { tensorName: step.output, modelParams: step.modelParams, modelIndices: step.models.map((m) => m.index), global: step.global, seed: plan.seed, scratch: buffers.method };
  if (method.mergeChunks) return method.mergeChunks({ ...template, shape: step.shape, models: step.models.map(() => NO_VALUES), ...(step.base ? { base: NO_VALUES } : {}) });
  if (!method.elementwise) return undefined;
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

/** Rows [start, end) of an input: stored F32/BF16 bytes as they are, other dtypes and inputs
 * cropped along their columns decoded to float32 into the scratch slot. */
async function readChunkSource(input: PlanInput, start: number, end: number, slot: string, buffers: StepBuffers, signal?: AbortSignal): Promise<TileSource> {
  const { info, crop, permuted } = input;
  if (permuted) {
    // Rows in the merged vocabulary's order: as stored when they are all the model's own, else
    // decoded with the rule rows filled in (one block of this model at a time).
    const stored = await permuted.readStored(input.model, start, end, signal);
    if (stored && (info.dtype === 'F32' || info.dtype === 'BF16')) return { bytes: stored, dtype: info.dtype };
    const into = buffers.inputs.get(slot, (end - start) * permuted.cols);
    if (stored) return { values: decodeToF32(stored, info.dtype, into) };
    return { values: await permuted.read(input.model, start, end, into, signal) };
  }
  if (!canDecodeToF32(info.dtype)) {
    throw new MergeStudioError('tensor-dtype', `${info.file}: tensor '${info.name}' of '${input.model}' is ${info.dtype}, which cannot be merged (expected a float type)`, { tensor: info.name, file: info.file });
  }
  const croppedColumns = crop !== undefined && crop[1] !== info.shape[1];
  if (!croppedColumns) {
    const rowBytes = info.bytes / info.shape[0];
    const bytes = await info.source.read(info.offset + start * rowBytes, (end - start) * rowBytes, signal);
    if (info.dtype === 'F32' || info.dtype === 'BF16') return { bytes, dtype: info.dtype };
    return { values: decodeToF32(bytes, info.dtype, buffers.inputs.get(slot, bytes.byteLength / (dtypeBits(info.dtype) / 8))) };
  }
  const cols = crop[1];
  const width = info.shape[1];
  const block = await readTensorF32(info, { rows: [start, end] }, signal);
  const into = buffers.inputs.get(slot, (end - start) * cols);
  for (let r = 0; r < end - start; r++) into.set(block.subarray(r * width, r * width + cols), r * cols);
  return { values: into };
}

/** The encoded output of a step merged in chunks of `rows` rows: the method's scans over every
 * chunk first (inputs read again each pass), then each chunk's output; a yielded chunk is valid
 * until the next. */
async function* streamChunks(step: PlanStep, merger: ChunkedMerge, rows: number, outDType: DType, buffers: StepBuffers, check: boolean, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const total = step.shape[0];
  const rowElements = step.shape.slice(1).reduce((a, b) => a * b, 1);
  const outSize = dtypeBits(outDType) / 8;
  async function read(start: number): Promise<TensorChunk> {
    throwIfAborted(signal);
    const end = Math.min(total, start + rows);
    const models: TileSource[] = [];
    for (const [i, m] of step.models.entries()) models.push(await readChunkSource(m, start, end, `chunk-model${i}`, buffers, signal));
    const base = step.base ? await readChunkSource(step.base, start, end, 'chunk-base', buffers, signal) : undefined;
    return { start: start * rowElements, elements: (end - start) * rowElements, rows: end - start, models, ...(base ? { base } : {}) };
  }
  for (let pass = 0; pass < merger.passes; pass++) {
    for (let start = 0; start < total; start += rows) merger.scan(pass, await read(start));
    merger.endPass(pass);
  }
  for (let start = 0; start < total; start += rows) {
    const chunk = await read(start);
    const bytes = buffers.bytes(chunk.elements * outSize);
    if (outDType === 'F32' || outDType === 'BF16') merger.emit(chunk, { bytes, dtype: outDType });
    else {
      const values = buffers.inputs.get('chunk-output', chunk.elements);
      merger.emit(chunk, { values });
      encodeFromF32(values, outDType, bytes);
    }
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
   * can stream (see MergeMethod.mergeChunks): memory ~ this budget, not the largest tensor. */
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
  return plan.vocabulary?.implicit ? { ...plan.recipe, tokenizer_source: 'union' } : plan.recipe;
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
  try {
    report(0);
    let bytesWritten = 0;
    let chunked = 0;
    const buffers = new StepBuffers();
    for (const [i, step] of plan.steps.entries()) {
      throwIfAborted(signal);
      const outDType = dtypeOf(step);
      // Only the stock CPU backend streams in chunks (another backend gets whole tensors).
      const rows = backend === cpuBackend ? chunkRows(step, options.chunkBytes ?? DEFAULT_CHUNK_BYTES) : 0;
      const merger = rows > 0 ? chunkedMerger(plan, step, buffers) : undefined;
      let data: Uint8Array | AsyncIterable<Uint8Array>;
      if (merger) {
        data = streamChunks(step, merger, rows, outDType, buffers, check, signal);
        chunked++;
      }
      else if (backend === cpuBackend && outDType === 'BF16' && canMergeTiles(plan, step)) {
        // Encoded tile by tile as it is merged.
        const bytes = buffers.bytes(step.shape.reduce((a, b) => a * b, 1) * 2);
        await mergeStoredTiles(plan, step, { bytes, dtype: 'BF16' }, buffers, signal);
        if (check && !bytesAreFinite(bytes, 'BF16')) throw await nonFiniteError(step, 'BF16', bytes, signal);
        data = bytes;
      } else {
        const merged = await mergeStep(plan, step, backend, buffers, true, signal);
        // Sinks are done with a chunk when write() resolves, so one encode buffer serves every tensor.
        if (check && !valuesAreFinite(merged)) throw await nonFiniteError(step, outDType, merged, signal);
        data = outDType === 'F32' ? new Uint8Array(merged.buffer, merged.byteOffset, merged.byteLength) : encodeFromF32(merged, outDType, buffers.bytes(merged.length * (dtypeBits(outDType) / 8)));
        // Finite float32 values can still overflow a 16-bit type's range when encoded.
        if (check && outDType !== 'F32' && !bytesAreFinite(data, outDType)) throw await nonFiniteError(step, outDType, data, signal);
      }
      await writer.add(step.output, outDType, step.shape, data);
      bytesWritten += step.shape.reduce((a, b) => a * b, 1) * (dtypeBits(outDType) / 8);
      report(i + 1, step);
    }
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
    await writer.abort();
    await open.sink?.abort().catch(() => undefined);
    for (const f of written) await sinks.remove?.(f).catch(() => undefined);
    throw err;
  }
}
