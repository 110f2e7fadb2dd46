// Streaming execution of a plan: tensor by tensor, read inputs (decoded to f32) -> merge on the
// backend -> encode -> write, dropping each tensor before the next, so memory stays near
// (inputs x largest tensor) whatever the model size. Exports write shards, index, tokenizer files,
// the model card and mergekit_config.yml, and config.json LAST; a failed or cancelled export
// removes everything it wrote, so no folder ever looks like a complete model by accident.
import { canDecodeToF32, canEncodeFromF32, decodeToF32, encodeFromF32, type DType } from '../dtype.ts';
import { MergeStudioError } from '../errors.ts';
import type { ByteSink, SinkFactory } from '../io/types.ts';
import type { MergeTensorInput } from '../methods/types.ts';
import { throwIfAborted, type ProgressCallback } from '../progress.ts';
import { recipeToYaml } from '../recipe/yaml.ts';
import { readTensorBytes, readTensorF32 } from '../safetensors/index.ts';
import { DEFAULT_MAX_SHARD_BYTES, SafetensorsWriter } from '../safetensors/writer.ts';
import { cpuBackend, type MergeBackend } from './backend.ts';
import type { Plan, PlanInput, PlanStep } from './plan.ts';

/** Float32 buffers reused from tensor to tensor (one per input slot and one for the output): fresh
 * full-size arrays per tensor cost more in page faults than the merge arithmetic itself. */
class ScratchBuffers {
  private readonly slots = new Map<string, Float32Array>();

  get(slot: string, elements: number): Float32Array {
    let buffer = this.slots.get(slot);
    if (!buffer || buffer.length < elements) this.slots.set(slot, (buffer = new Float32Array(elements)));
    return buffer.subarray(0, elements);
  }
}

async function readInput(input: PlanInput, into: Float32Array, signal?: AbortSignal): Promise<Float32Array> {
  const { info, crop } = input;
  if (!canDecodeToF32(info.dtype)) {
    throw new MergeStudioError('tensor-dtype', `${info.file}: tensor '${info.name}' of '${input.model}' is ${info.dtype}, which cannot be merged (expected a float type)`, { tensor: info.name, file: info.file });
  }
  if (!crop) return decodeToF32(await readTensorBytes(info, signal), info.dtype, into);
  const [rows, cols] = crop;
  const width = info.shape[1];
  if (width === cols) return decodeToF32(await info.source.read(info.offset, (info.bytes / info.shape[0]) * rows, signal), info.dtype, into);
  const block = await readTensorF32(info, { rows: [0, rows] }, signal);
  for (let r = 0; r < rows; r++) into.set(block.subarray(r * width, r * width + cols), r * cols);
  return into;
}

/** Reads one step's inputs into scratch buffers and merges them; with `reuseOutput` the result
 * lives in a scratch buffer too and is only valid until the next step. */
async function mergeStep(plan: Plan, step: PlanStep, backend: MergeBackend, scratch: ScratchBuffers, reuseOutput: boolean, signal?: AbortSignal): Promise<Float32Array> {
  const elements = step.shape.reduce((a, b) => a * b, 1);
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
  };
  const merged = await backend.merge(plan.method, input, signal);
  // A method may hand back one of its inputs (e.g. slerp at t = 0); never let a scratch buffer escape.
  return !reuseOutput && [...models, base].some((a) => a?.buffer === merged.buffer) ? merged.slice() : merged;
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
}

/** Merges into memory: output tensor name -> f32 values (for evaluation without writing files). */
export async function mergeToMemory(plan: Plan, options: MemoryMergeOptions = {}): Promise<Map<string, Float32Array>> {
  const backend = options.backend ?? cpuBackend;
  const steps = options.only ? plan.steps.filter((s) => options.only!(s.output)) : plan.steps;
  const report = progressReporter(plan, steps, options.onProgress);
  const out = new Map<string, Float32Array>();
  const scratch = new ScratchBuffers();
  report(0);
  for (const [i, step] of steps.entries()) {
    throwIfAborted(options.signal);
    out.set(step.output, await mergeStep(plan, step, backend, scratch, false, options.signal));
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
}

export interface ExportResult {
  files: string[];
  tensors: number;
  /** Tensor data bytes written. */
  bytesWritten: number;
  /** Tensor data bytes read. */
  bytesRead: number;
  seconds: number;
}

const TORCH_DTYPE: Partial<Record<DType, string>> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/** The model card: what was merged, how, and the recipe to reproduce it. */
export function modelCard(plan: Plan): string {
  const r = plan.recipe;
  const inputs = [...new Set([...(r.base_model ? [r.base_model] : []), ...(r.models ?? []).map((m) => m.model), ...(r.slices ?? []).flatMap((s) => s.sources.map((x) => x.model))])];
  return [
    '---',
    'library_name: transformers',
    'tags:',
    '- merge',
    '- merge-studio',
    '---',
    `# ${r.name ?? 'Merged model'}`,
    '',
    `Made with Merge Studio using the \`${r.merge_method}\` method. ${plan.method.description}`,
    '',
    r.base_model ? `Base model: \`${r.base_model}\`\n` : '',
    'Models merged:',
    ...inputs.map((m) => `- \`${m}\``),
    '',
    `Layers: ${plan.numLayers}; tensors: ${plan.steps.length}.`,
    '',
    'The recipe (mergekit YAML), also saved as `mergekit_config.yml`:',
    '',
    '```yaml',
    recipeToYaml(r).trimEnd(),
    '```',
    '',
  ].join('\n');
}

async function writeFile(sinks: SinkFactory, name: string, bytes: Uint8Array, open: { sink: ByteSink | null }): Promise<void> {
  const sink = await sinks.create(name);
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
    const scratch = new ScratchBuffers();
    for (const [i, step] of plan.steps.entries()) {
      throwIfAborted(signal);
      const merged = await mergeStep(plan, step, backend, scratch, true, signal);
      const bytes = encodeFromF32(merged, dtypeOf(step));
      await writer.add(step.output, dtypeOf(step), step.shape, bytes);
      bytesWritten += bytes.byteLength;
      report(i + 1, step);
    }
    const shards = await writer.finish();
    written.push(...shards.files);

    const text = (s: string) => new TextEncoder().encode(s);
    const tokenizer = plan.tokenizerModel;
    for (const file of tokenizer.tokenizerFiles) {
      throwIfAborted(signal);
      const source = await tokenizer.tree.open(file, signal);
      await writeFile(sinks, file, await source.read(0, source.size, signal), open);
      written.push(file);
    }
    await writeFile(sinks, 'README.md', text(modelCard(plan)), open);
    written.push('README.md');
    await writeFile(sinks, 'mergekit_config.yml', text(recipeToYaml(plan.recipe)), open);
    written.push('mergekit_config.yml');
    throwIfAborted(signal);
    const config = options.dtype && TORCH_DTYPE[options.dtype] ? { ...plan.config, torch_dtype: TORCH_DTYPE[options.dtype] } : plan.config;
    // Last: a folder with config.json is a finished model.
    await writeFile(sinks, 'config.json', text(JSON.stringify(config, null, 2) + '\n'), open);
    written.push('config.json');
    return { files: written, tensors: plan.steps.length, bytesWritten, bytesRead: plan.totalInputBytes, seconds: (performance.now() - started) / 1000 };
  } catch (err) {
    await writer.abort();
    await open.sink?.abort().catch(() => undefined);
    for (const f of written) await sinks.remove?.(f).catch(() => undefined);
    throw err;
  }
}
