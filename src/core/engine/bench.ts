// Memory bench of the streaming export (Node only): writes synthetic Llama-shaped bf16 models to a
// temporary folder, merges them with task_arithmetic into another folder, and reports peak RSS
// against the input size and the (inputs x largest tensor) bound of whole-tensor streaming; being
// elementwise, task_arithmetic streams in row blocks and should stay far below that bound.
// Run alone: `npx tsx src/core/engine/bench.ts [--gb 2.5]`; `npm run bench` can call benchStreamingMerge.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeFolderSinks, nodeFolderTree } from '../io/node-file.ts';
import { openModel, type ModelHandle } from '../model/handle.ts';
import { parseRecipeYaml } from '../recipe/yaml.ts';
import { SafetensorsWriter } from '../safetensors/writer.ts';
import { execute } from './execute.ts';
import { plan } from './plan.ts';

export interface StreamingBenchOptions {
  /** Approximate input size over all models, in GB (1e9 bytes). */
  inputGB?: number;
  /** Number of models merged (the first is the base). */
  models?: number;
  /** Model shape (defaults: a 1B-class Llama, hidden 2048). Smaller hidden sizes mean smaller
   * largest tensors, which is what bounds streaming memory. */
  hidden?: number;
  intermediate?: number;
  vocab?: number;
  log?: (line: string) => void;
}

export interface StreamingBenchResult {
  inputBytes: number;
  largestTensorBytesF32: number;
  /** models x largest tensor in f32, plus the output tensor: what whole-tensor streaming needs
   * (non-elementwise methods); row-block streaming stays well under it. */
  streamingBoundBytes: number;
  peakRssBytes: number;
  baselineRssBytes: number;
  seconds: number;
  inputGBps: number;
}

const MB = 1e6;

function llamaShapes(hidden: number, intermediate: number, vocab: number, layers: number): [string, number[]][] {
  const out: [string, number[]][] = [['model.embed_tokens.weight', [vocab, hidden]]];
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    out.push([`${p}input_layernorm.weight`, [hidden]]);
    for (const m of ['q', 'k', 'v', 'o']) out.push([`${p}self_attn.${m}_proj.weight`, [hidden, hidden]]);
    out.push([`${p}post_attention_layernorm.weight`, [hidden]]);
    out.push([`${p}mlp.gate_proj.weight`, [intermediate, hidden]], [`${p}mlp.up_proj.weight`, [intermediate, hidden]], [`${p}mlp.down_proj.weight`, [hidden, intermediate]]);
  }
  out.push(['model.norm.weight', [hidden]], ['lm_head.weight', [vocab, hidden]]);
  return out;
}

/** Writes one synthetic bf16 model, tensor by tensor, from a small pool of random values. */
async function writeSyntheticModel(dir: string, shapes: [string, number[]][], seed: number, layers: number): Promise<void> {
  const pool = new Uint16Array(1 << 22);
  let s = seed;
  for (let i = 0; i < pool.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    // bf16 values of magnitude ~[0.004, 0.06], either sign.
    pool[i] = (s >>> 31 ? 0x8000 : 0) | (0x3b80 + ((s >>> 8) & 0x3ff));
  }
  const sinks = nodeFolderSinks(dir);
  const writer = new SafetensorsWriter(sinks, shapes.map(([name, shape]) => ({ name, dtype: 'BF16', shape })), { maxShardBytes: 2e9 });
  for (const [k, [name, shape]] of shapes.entries()) {
    const n = shape.reduce((a, b) => a * b, 1);
    const chunks = function* () {
      for (let at = 0; at < n; at += pool.length) {
        const len = Math.min(pool.length, n - at);
        const start = (k * 7919) % (pool.length - len + 1);
        yield new Uint8Array(pool.buffer, start * 2, len * 2);
      }
    };
    await writer.add(name, 'BF16', shape, chunks());
  }
  await writer.finish();
  const config = { architectures: ['LlamaForCausalLM'], model_type: 'llama', num_hidden_layers: layers, vocab_size: shapes[0][1][0], hidden_size: shapes[0][1][1], torch_dtype: 'bfloat16' };
  const sink = await sinks.create('config.json');
  await sink.write(new TextEncoder().encode(JSON.stringify(config)));
  await sink.close();
}

export async function benchStreamingMerge(options: StreamingBenchOptions = {}): Promise<StreamingBenchResult> {
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const count = options.models ?? 3;
  const hidden = options.hidden ?? 2048;
  const intermediate = options.intermediate ?? 5632;
  const vocab = options.vocab ?? 32000;
  const perLayer = 4 * hidden * hidden + 3 * hidden * intermediate + 2 * hidden;
  const fixed = 2 * vocab * hidden + hidden;
  const targetPerModel = ((options.inputGB ?? 2.5) * 1e9) / count / 2;
  const layers = Math.max(1, Math.round((targetPerModel - fixed) / perLayer));
  const shapes = llamaShapes(hidden, intermediate, vocab, layers);
  const root = await mkdtemp(join(tmpdir(), 'merge-bench-'));
  try {
    log(`writing ${count} synthetic bf16 models (${layers} layers, hidden ${hidden}, vocab ${vocab}) under ${root} ...`);
    const names = Array.from({ length: count }, (_, i) => `m${i}`);
    for (const [i, name] of names.entries()) await writeSyntheticModel(join(root, name), shapes, 17 + i, layers);
    const handles = new Map<string, ModelHandle>();
    for (const name of names) handles.set(name, await openModel(nodeFolderTree(join(root, name)), undefined, name));
    const recipe = parseRecipeYaml(
      `models:\n${names.slice(1).map((n) => `  - model: ${n}\n    parameters: {weight: 0.5}\n`).join('')}base_model: m0\nmerge_method: task_arithmetic\ndtype: bfloat16\n`,
    );
    const merge = plan(recipe, handles);
    const largest = Math.max(...merge.steps.map((s) => s.shape.reduce((a, b) => a * b, 1))) * 4;
    global.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const started = performance.now();
    await execute(merge, {
      sinks: nodeFolderSinks(join(root, 'out')),
      onProgress: (p) => {
        peak = Math.max(peak, process.memoryUsage().rss);
        if (p.done % 20 === 0 || p.done === p.total) log(`  ${p.done}/${p.total} tensors, ${((p.bytes ?? 0) / MB).toFixed(0)} MB read, rss ${(process.memoryUsage().rss / MB).toFixed(0)} MB`);
      },
    });
    const seconds = (performance.now() - started) / 1000;
    peak = Math.max(peak, process.resourceUsage().maxRSS * 1024);
    const result: StreamingBenchResult = {
      inputBytes: merge.totalInputBytes,
      largestTensorBytesF32: largest,
      streamingBoundBytes: (count + 1) * largest,
      peakRssBytes: peak,
      baselineRssBytes: baseline,
      seconds,
      inputGBps: merge.totalInputBytes / 1e9 / seconds,
    };
    log(
      `streamed task_arithmetic of ${count} models: input ${(result.inputBytes / 1e9).toFixed(2)} GB in ${seconds.toFixed(1)} s (${result.inputGBps.toFixed(3)} GB/s); ` +
        `peak RSS ${(peak / MB).toFixed(0)} MB (baseline ${(baseline / MB).toFixed(0)} MB), largest tensor ${(largest / MB).toFixed(0)} MB as f32, (models+1) x largest = ${(result.streamingBoundBytes / MB).toFixed(0)} MB`,
    );
    return result;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const at = process.argv.indexOf('--gb');
  await benchStreamingMerge({ inputGB: at > 0 ? Number(process.argv[at + 1]) : undefined });
}
