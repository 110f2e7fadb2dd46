// `merge-studio eval MODEL_DIR_OR_RECIPE --task FILE.jsonl[,FILE...]`: evaluates a model folder, or a
// recipe merged in memory (nothing is written), on JSONL tasks and prints each metric.
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { plan } from '../core/engine/index.ts';
import { MergeStudioError } from '../core/errors.ts';
import { loadCausalLM } from '../core/eval/load.ts';
import { runtimeForPlan } from '../core/eval/merged.ts';
import { DEFAULT_MAX_NEW_TOKENS, evaluateTask, type TaskResult } from '../core/eval/metrics.ts';
import type { CausalLM, EvalBackend } from '../core/eval/runtime.ts';
import { parseTaskJsonl, type EvalTask } from '../core/eval/tasks.ts';
import { BENCHMARK_GROUPS, BENCHMARKS, type BenchmarkDef } from '../core/benchmarks/definitions.ts';
import { parseTaskYaml } from '../core/benchmarks/task-yaml.ts';
import { expandBenchmark, runBenchmark } from './benchmarks.ts';
import type { TextTokenizer } from '../core/eval/tokenizer.ts';
import { nodeFolderTree } from '../core/io/node-file.ts';
import { openModel, type ModelHandle } from '../core/model/handle.ts';
import { loadVocabularies } from '../core/tokenizer/vocab.ts';
import { parseRecipeYaml, referencedModels } from '../core/recipe/index.ts';
import { downloadProgressPrinter, parseSourceFlags, resolveModelRef, SOURCE_FLAGS_HELP, type SourceOptions } from './sources.ts';
import { escapeControl } from '../core/text.ts';

const BENCHMARK_LIST = [...BENCHMARKS.keys()].filter((n) => !n.startsWith('mmlu_')).concat(['mmlu', 'mmlu_<subject>']).join(', ');

const USAGE = `usage: merge-studio eval MODEL_OR_RECIPE --task TASK[,TASK...] [--limit N] [--seed N] [--num-fewshot N] [--apply-chat-template] [--max-new-tokens N] [--backend cpu|gpu] [--json] [--allow-non-finite]
  MODEL_OR_RECIPE: a model folder, a Hub id (org/name[@revision]) or a recipe YAML whose models are folders or Hub ids
  TASK: a JSONL task file, a benchmark (${BENCHMARK_LIST}) read from its Hub dataset,
        or a task YAML in lm-eval's shape; --limit takes the first N documents of a benchmark, as lm-eval does;
        --apply-chat-template feeds benchmark prompts through the model's chat template, as lm-eval's flag does
${SOURCE_FLAGS_HELP}`;

export interface EvalArgs {
  target: string;
  tasks: string[];
  limit?: number;
  /** Shots for benchmark tasks (default: each task's own). */
  numFewshot?: number;
  /** Benchmark prompts through the model's chat template. */
  chat?: boolean;
  seed: number;
  maxNewTokens?: number;
  backend: EvalBackend;
  json: boolean;
  /** Evaluate a recipe whose merged tensors hold NaN/Inf instead of refusing it. */
  allowNonFinite?: boolean;
  /** Where Hub ids are read from (--hub-url, --token, --cache-dir, --offline, --no-cache). */
  sources?: SourceOptions;
}

function usageError(message: string): never {
  throw new MergeStudioError('cli-usage', `${message}\n${USAGE}`);
}

function positiveInt(name: string, text: string, allowZero = false): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || (!allowZero && n < 1)) usageError(`--${name}: expected a ${allowZero ? 'non-negative' : 'positive'} integer, found '${text}'`);
  return n;
}

export function parseEvalArgs(argvWithSources: string[]): EvalArgs {
  const { options: sources, rest: argv } = parseSourceFlags(argvWithSources);
  const positional: string[] = [];
  const flags = new Map<string, string>();
  let json = false;
  let chat = false;
  let allowNonFinite = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) { positional.push(a); continue; }
    const [name, inline] = a.slice(2).split(/=(.*)/s, 2);
    if (name === 'json') { json = true; continue; }
    if (name === 'apply-chat-template') { chat = true; continue; }
    if (name === 'allow-non-finite') { allowNonFinite = true; continue; }
    if (!['task', 'limit', 'seed', 'max-new-tokens', 'backend', 'num-fewshot'].includes(name)) usageError(`unknown option --${name}`);
    const value = inline ?? argv[++i];
    if (value === undefined) usageError(`--${name} needs a value`);
    flags.set(name, value);
  }
  if (positional.length !== 1) usageError(positional.length === 0 ? 'no model folder or recipe given' : `expected one model or recipe, found ${positional.length}: ${positional.join(' ')}`);
  const tasks = (flags.get('task') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (tasks.length === 0) usageError('--task is required (a JSONL file, a benchmark name or a task YAML)');
  const backendFlag = flags.get('backend') ?? 'cpu';
  if (backendFlag !== 'cpu' && backendFlag !== 'gpu' && backendFlag !== 'webgpu') usageError(`--backend: expected cpu or gpu, found '${backendFlag}'`);
  const args: EvalArgs = { target: positional[0], tasks, seed: 0, backend: backendFlag === 'cpu' ? 'cpu' : 'webgpu', json, sources, ...(chat ? { chat } : {}) };
  if (allowNonFinite) args.allowNonFinite = true;
  if (flags.has('limit')) args.limit = positiveInt('limit', flags.get('limit')!);
  if (flags.has('seed')) args.seed = positiveInt('seed', flags.get('seed')!, true);
  if (flags.has('num-fewshot')) args.numFewshot = positiveInt('num-fewshot', flags.get('num-fewshot')!, true);
  if (flags.has('max-new-tokens')) args.maxNewTokens = positiveInt('max-new-tokens', flags.get('max-new-tokens')!);
  return args;
}

type TaskSpec = { kind: 'jsonl'; task: EvalTask } | { kind: 'benchmark'; name: string; defs: BenchmarkDef[] };

/** A JSONL file, a task YAML, or a benchmark name (a file of that name wins). */
async function readTaskSpec(name: string): Promise<TaskSpec> {
  if (/\.ya?ml$/i.test(name)) {
    let text: string;
    try {
      text = await readFile(name, 'utf8');
    } catch {
      throw new MergeStudioError('file-not-found', `${name}: cannot read the task file`, { file: name });
    }
    const def = parseTaskYaml(text, name);
    return { kind: 'benchmark', name: def.name, defs: [def] };
  }
  const defs = existsSync(name) ? null : expandBenchmark(name);
  if (defs) return { kind: 'benchmark', name, defs };
  if (!/\.jsonl$/i.test(name) && !existsSync(name)) {
    const known = [...BENCHMARKS.keys(), ...BENCHMARK_GROUPS.keys()];
    const close = known.filter((k) => k.startsWith(name.slice(0, 3))).slice(0, 5);
    throw new MergeStudioError('task-unknown', `'${name}' is neither a task file nor a benchmark${close.length ? ` (did you mean ${close.join(', ')}?)` : ''}; benchmarks: ${BENCHMARK_LIST}`, { found: name });
  }
  return { kind: 'jsonl', task: await readTask(name) };
}

async function readTask(path: string): Promise<EvalTask> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new MergeStudioError('file-not-found', `${path}: cannot read the task file`, { file: path });
  }
  return parseTaskJsonl(text, path);
}

/** A model folder or Hub repo, or a recipe merged in memory, as a runtime plus its tokenizer. */
async function openTarget(args: EvalArgs, signal?: AbortSignal): Promise<{ model: CausalLM; tokenizer: TextTokenizer; maxNewTokens?: number; label: string }> {
  const path = resolve(args.target);
  const isRecipeFile = existsSync(path) && (await stat(path)).isFile() && !/\.(safetensors|json)$/i.test(path);
  const sourceOptions = { onProgress: downloadProgressPrinter(), ...args.sources, signal };
  if (!isRecipeFile) {
    // A folder (read as it is, so the loader names what is wrong with it), else a Hub id
    // (resolveModelRef says clearly when it is neither).
    const isFolder = existsSync(path) && (await stat(path)).isDirectory();
    const tree = isFolder ? nodeFolderTree(path) : await resolveModelRef(args.target, sourceOptions);
    const { files, model } = await loadCausalLM(tree, { backend: args.backend, signal });
    return { model, tokenizer: files.tokenizer, maxNewTokens: files.maxNewTokens, label: args.target };
  }
  const recipe = parseRecipeYaml(await readFile(path, 'utf8'), { source: args.target });
  const handles = new Map<string, ModelHandle>();
  for (const ref of referencedModels(recipe)) {
    const tree = await resolveModelRef(ref, { ...sourceOptions, baseDir: dirname(path) });
    handles.set(ref, await openModel(tree, signal, ref));
  }
  await loadVocabularies(handles.values(), signal);
  const merged = await runtimeForPlan(plan(recipe, handles), { backend: args.backend, signal, allowNonFinite: args.allowNonFinite });
  return { ...merged, label: `${args.target} (merged in memory)` };
}

/** The whole command without process concerns (tests call this). */
export async function runEval(args: EvalArgs, signal?: AbortSignal): Promise<{ target: string; backend: EvalBackend; results: TaskResult[] }> {
  const tasks = await Promise.all(args.tasks.map(readTaskSpec));
  const { model, tokenizer, maxNewTokens, label } = await openTarget(args, signal);
  try {
    const results: TaskResult[] = [];
    for (const spec of tasks) {
      if (spec.kind === 'benchmark') {
        results.push(...(await runBenchmark(spec.name, spec.defs, model, tokenizer, { limit: args.limit, numFewshot: args.numFewshot, chat: args.chat, sources: args.sources, signal })));
        continue;
      }
      const task = spec.task;
      results.push(await evaluateTask(model, tokenizer, task, {
        limit: args.limit,
        seed: args.seed,
        maxNewTokens: args.maxNewTokens ?? maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS,
        signal,
      }));
    }
    return { target: label, backend: model.backend, results };
  } finally {
    model.dispose();
  }
}

function formatMetric(name: string, v: number): string {
  return name === 'tokens' || name === 'prompts_skipped' ? String(v) : v.toFixed(4);
}

export async function run(argv: string[]): Promise<number> {
  const controller = new AbortController();
  const onInterrupt = () => controller.abort(new MergeStudioError('cancelled', 'cancelled by the user (Ctrl-C)'));
  process.once('SIGINT', onInterrupt);
  try {
    const args = parseEvalArgs(argv);
    const out = await runEval(args, controller.signal);
    if (args.json) {
      process.stdout.write(`${JSON.stringify({ target: out.target, backend: out.backend, limit: args.limit ?? null, seed: args.seed, results: out.results.map(({ perItem: _p, ...r }) => r) }, null, 2)}\n`);
    } else {
      process.stdout.write(`${out.target} [${out.backend}]\n`);
      for (const r of out.results) {
        const metrics = Object.entries(r.metrics).map(([k, v]) => `${k}=${formatMetric(k, v)}`).join('  ');
        process.stdout.write(`  ${r.task.padEnd(18)} ${String(r.items).padStart(5)} items  ${metrics}  (${r.seconds.toFixed(2)} s)\n`);
      }
    }
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const [first, ...rest] = message.split('\n');
    process.stderr.write(`merge-studio eval: ${escapeControl(first)}\n${rest.map((l) => `${escapeControl(l)}\n`).join('')}`);
    return controller.signal.aborted ? 130 : 1;
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}
