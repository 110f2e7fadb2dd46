// `merge-studio dam SPEC.yml --out DIR`: Differentiable Adaptive Merging. Caches each expert's
// logits on its own data, trains per-channel merge coefficients, and writes the folded merge (a
// normal model folder) with dam/coefficients.safetensors and dam/training.json (settings, loss
// curve, wall time). Ctrl-C once stops training and writes what was learned so far; twice cancels.
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { coefficientMeans, DamRun, exportDamMerge, parseDamSpec, prepareDamProblem, type DamSpec, type DamStepRecord } from '../core/dam/index.ts';
import { createGpuCoefficientGradients } from '../core/dam/gpu.ts';
import type { ExportResult } from '../core/engine/index.ts';
import { MergeStudioError } from '../core/errors.ts';
import { openEvalModel } from '../core/eval/load.ts';
import { parseTaskJsonl, type EvalTask } from '../core/eval/tasks.ts';
import { nodeFolderSinks } from '../core/io/node-file.ts';
import { openModel } from '../core/model/handle.ts';
import { humanBytes } from './inspect.ts';
import { checkOutDir, makeFolders, publish, removeStalePartials } from './out-dir.ts';
import { downloadProgressPrinter, parseSourceFlags, resolveModelRef, SOURCE_FLAGS_HELP, type SourceOptions } from './sources.ts';
import { loadBenchmark } from '../core/benchmarks/load.ts';
import { expandBenchmark, splitOpener } from './benchmarks.ts';
import { escapeControl } from '../core/text.ts';

const USAGE = `usage: merge-studio dam SPEC.yml --out DIR [--steps N] [--seed N] [--backend cpu|gpu] [--quiet] [Hub options]
SPEC.yml lists the experts (model + its task files) and the training settings; paths are relative to it.
--backend gpu computes the experts' logits and the linear layers' gradients with WebGPU.
${SOURCE_FLAGS_HELP}`;

export interface DamArgs {
  spec: string;
  out: string;
  steps?: number;
  seed?: number;
  backend: 'cpu' | 'gpu';
  quiet: boolean;
  sources: SourceOptions;
}

function usageError(message: string): never {
  throw new MergeStudioError('cli-usage', `${message}\n${USAGE}`);
}

export function parseDamArgs(argv: string[]): DamArgs {
  const { options: sources, rest } = parseSourceFlags(argv);
  const positional: string[] = [];
  const flags = new Map<string, string>();
  let quiet = false;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const [name, inline] = a.slice(2).split(/=(.*)/s, 2);
    if (name === 'quiet') {
      quiet = true;
      continue;
    }
    if (!['out', 'steps', 'seed', 'backend'].includes(name)) usageError(`unknown option --${name}`);
    const value = inline ?? rest[++i];
    if (value === undefined) usageError(`--${name} needs a value`);
    flags.set(name, value);
  }
  if (positional.length !== 1) usageError(positional.length === 0 ? 'no SPEC.yml given' : `expected one spec, found ${positional.length}: ${positional.join(' ')}`);
  const out = flags.get('out');
  if (!out) usageError('--out DIR is required');
  const backend = flags.get('backend') ?? 'cpu';
  if (backend !== 'cpu' && backend !== 'gpu') usageError(`--backend: expected cpu or gpu, found '${backend}'`);
  const count = (name: string, min: number): number | undefined => {
    const v = flags.get(name);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v) || Number(v) < min || !Number.isSafeInteger(Number(v))) usageError(`--${name}: expected an integer >= ${min}, found '${v}'`);
    return Number(v);
  };
  return { spec: positional[0], out, steps: count('steps', 1), seed: count('seed', 0), backend, quiet, sources };
}

/** A benchmark as DAM data: `arc_easy` or `arc_easy:200` (the first N documents) of its training
 * (few-shot) split, never its evaluation split; each document as the text the model should produce:
 * the gold context + continuation. */
export async function benchmarkData(ref: string, sources: SourceOptions): Promise<EvalTask | null> {
  const m = /^([A-Za-z0-9_]+)(?::(\d+))?$/.exec(ref);
  const defs = m ? expandBenchmark(m[1]) : null;
  if (!m || !defs) return null;
  const texts: { text: string }[] = [];
  for (const def of defs) {
    const train = { ...def, evalSplit: def.fewshotSplit };
    const loaded = await loadBenchmark(train, { openSplit: splitOpener(sources), limit: m[2] ? Number(m[2]) : undefined, numFewshot: 0, signal: sources.signal });
    for (const r of loaded.requests) {
      if (r.kind === 'generate_until') texts.push({ text: `${r.context} ${r.target}` });
      else texts.push({ text: r.pairs[r.gold].context + r.pairs[r.gold].continuation });
    }
  }
  return { name: `${m[1]} (${defs[0].fewshotSplit} split)`, kind: 'perplexity', items: texts };
}

async function readTasks(paths: string[], baseDir: string, expert: string, sources: SourceOptions = {}): Promise<EvalTask[]> {
  const tasks: EvalTask[] = [];
  for (const p of paths) {
    const file = resolve(baseDir, p);
    if (!existsSync(file)) {
      const bench = await benchmarkData(p, { ...sources, baseDir });
      if (bench) {
        tasks.push(bench);
        continue;
      }
    }
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      throw new MergeStudioError('file-not-found', `${p}: cannot read the task file of expert '${expert}'`, { file: p, model: expert });
    }
    tasks.push(parseTaskJsonl(text, p));
  }
  return tasks;
}

export interface DamRunResult {
  export: ExportResult;
  spec: DamSpec;
  steps: number;
  history: DamStepRecord[];
  /** Seconds caching the experts' logits, and training. */
  teacherSeconds: number;
  trainingSeconds: number;
}

export interface DamHooks {
  /** Aborting this stops training early; what was learned is still written. */
  stopTraining?: AbortSignal;
  /** Aborting this cancels everything; nothing is written. */
  signal?: AbortSignal;
  log?: (line: string) => void;
}

/** The whole command without process concerns (tests call this). */
export async function runDam(args: DamArgs, hooks: DamHooks = {}): Promise<DamRunResult> {
  const log = hooks.log ?? (() => undefined);
  const specPath = resolve(args.spec);
  let text: string;
  try {
    text = await readFile(specPath, 'utf8');
  } catch {
    throw new MergeStudioError('file-not-found', `${args.spec}: cannot read the DAM spec`, { file: args.spec });
  }
  const spec = parseDamSpec(text, args.spec);
  if (args.steps !== undefined) spec.train.steps = args.steps;
  if (args.seed !== undefined) spec.train.seed = args.seed;
  const out = await checkOutDir(args.out);
  const baseDir = dirname(specPath);
  const sourceOpts = { onProgress: downloadProgressPrinter(), ...args.sources, baseDir, signal: hooks.signal };
  const experts = [];
  for (const e of spec.experts) {
    experts.push({ name: e.model, tree: await resolveModelRef(e.model, sourceOpts), tasks: await readTasks(e.data, baseDir, e.model, sourceOpts) });
  }
  const teacherStart = performance.now();
  let lastTeacher = 0;
  const problem = await prepareDamProblem(experts, {
    maxTokens: spec.maxTokens, maxSequences: spec.maxSequences, topK: spec.topK, scope: spec.scope,
    teacherBackend: args.backend === 'gpu' ? 'webgpu' : 'cpu', signal: hooks.signal,
    onProgress: (p) => {
      if (p.done === p.total || Date.now() - lastTeacher > 5000) {
        lastTeacher = Date.now();
        log(`[dam] expert logits ${p.done}/${p.total} sequences`);
      }
    },
  });
  if (spec.baseModel) {
    const base = await openEvalModel(await resolveModelRef(spec.baseModel, sourceOpts), hooks.signal);
    if (base.config.hiddenSize !== problem.config.hiddenSize || base.config.numLayers !== problem.config.numLayers || base.config.vocabSize !== problem.experts[0].config.vocabSize) {
      throw new MergeStudioError('dam-incompatible', `DAM: base_model '${spec.baseModel}' does not have the experts' architecture`, { model: spec.baseModel });
    }
  }
  const teacherSeconds = (performance.now() - teacherStart) / 1000;
  log(`[dam] ${problem.experts.length} experts, ${problem.tokens.join(' / ')} training tokens, ${problem.objective.layout.size} coefficients; expert logits cached in ${teacherSeconds.toFixed(1)} s`);

  const offload = args.backend === 'gpu' ? await createGpuCoefficientGradients(problem.objective) : undefined;
  const run = new DamRun(problem.objective, spec.train, { offload });
  const every = Math.max(1, Math.round(spec.train.steps / 20));
  run.subscribe((e) => {
    if (e.type === 'step' && (e.record.step % every === 0 || e.record.step === e.steps || e.record.step === 1)) {
      log(`[dam] step ${e.record.step}/${e.steps} loss ${e.record.loss.toFixed(5)} (KL ${e.record.distillation.map((d) => d.toFixed(4)).join(' / ')}, similarity ${e.record.similarity.toFixed(3)}) ${e.record.seconds.toFixed(1)} s`);
    }
  });
  const stop = new AbortController();
  const forward = () => stop.abort();
  hooks.stopTraining?.addEventListener('abort', forward);
  hooks.signal?.addEventListener('abort', forward);
  try {
    const status = await run.run({ signal: stop.signal });
    if (status === 'paused') log(`[dam] training stopped at step ${run.state.step}/${spec.train.steps}; writing the coefficients learned so far`);
  } finally {
    offload?.dispose();
    hooks.stopTraining?.removeEventListener('abort', forward);
    hooks.signal?.removeEventListener('abort', forward);
  }
  if (hooks.signal?.aborted) throw new MergeStudioError('cancelled', 'cancelled; nothing was written');

  const handles = [];
  for (const e of experts) handles.push(await openModel(e.tree, hooks.signal, e.name));
  const training = {
    spec: { ...spec, train: spec.train },
    steps: run.state.step,
    teacher_seconds: teacherSeconds,
    training_seconds: run.state.trainingSeconds,
    training_tokens: problem.tokens,
    coefficients: problem.objective.layout.size,
    history: run.state.history,
    coefficient_means: coefficientMeans(problem.objective.layout, run.state.coefficients),
  };
  for (const stale of await removeStalePartials(out)) process.stderr.write(`note: removed ${stale}, left by a run that no longer exists\n`);
  const staging = `${out}.partial-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await makeFolders(staging);
  try {
    const result = await exportDamMerge({
      experts: handles, layout: problem.objective.layout, coefficients: run.state.coefficients, sinks: nodeFolderSinks(staging),
      dtype: spec.dtype, name: spec.name, signal: hooks.signal,
      extraFiles: new Map([['dam/training.json', new TextEncoder().encode(JSON.stringify(training, null, 1) + '\n')]]),
    });
    await publish(staging, out, args.out);
    return { export: result, spec, steps: run.state.step, history: run.state.history, teacherSeconds, trainingSeconds: run.state.trainingSeconds };
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
}

export async function run(argv: string[]): Promise<number> {
  const stopTraining = new AbortController();
  const cancel = new AbortController();
  const onInterrupt = () => {
    if (!stopTraining.signal.aborted) {
      process.stderr.write('\n[dam] stopping after this step (Ctrl-C again cancels without writing)\n');
      stopTraining.abort();
    } else cancel.abort(new MergeStudioError('cancelled', 'cancelled by the user (Ctrl-C); nothing was written'));
  };
  process.on('SIGINT', onInterrupt);
  try {
    const args = parseDamArgs(argv);
    const result = await runDam(args, { stopTraining: stopTraining.signal, signal: cancel.signal, log: args.quiet ? undefined : (l) => process.stderr.write(`${l}\n`) });
    process.stderr.write(`wrote ${args.out}: ${result.export.tensors} tensors, ${humanBytes(result.export.bytesWritten)}, after ${result.steps} steps (${result.trainingSeconds.toFixed(1)} s training, ${result.teacherSeconds.toFixed(1)} s expert logits)\n`);
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const [first, ...rest] = message.split('\n');
    process.stderr.write(`merge-studio dam: ${escapeControl(first)}\n${rest.map((l) => `${escapeControl(l)}\n`).join('')}`);
    return cancel.signal.aborted ? 130 : 1;
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}
