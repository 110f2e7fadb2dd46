// `merge-studio merge RECIPE.yml --out DIR`: runs a mergekit recipe and writes a model folder.
// The folder is built under a temporary sibling name and renamed into place only when complete,
// so an interrupted run (Ctrl-C, a crash, a kill) never leaves a folder that looks finished.
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { MergeStudioError } from '../core/errors.ts';
import { cpuBackend, execute, plan, type ExportResult, type MergeBackend } from '../core/engine/index.ts';
import { createWebGpuBackend } from '../core/engine/webgpu-backend.ts';
import { nodeFolderSinks } from '../core/io/node-file.ts';
import { openModel, type ModelHandle } from '../core/model/handle.ts';
import type { ProgressCallback } from '../core/progress.ts';
import { closestStage, parseRecipeYaml, referencedModels, stageHint } from '../core/recipe/index.ts';
import { loadVocabularies } from '../core/tokenizer/vocab.ts';
import { humanBytes } from './inspect.ts';
import { checkOutDir, makeFolders, publish, removeStalePartials } from './out-dir.ts';
import { pushMerge, takePushFlags, uploadPrinter, type MergePushResult, type PushOptions } from './push.ts';
import type { FileProgress } from '../core/hub/upload.ts';
import { downloadProgressPrinter, parseSourceFlags, resolveModelRef, SOURCE_FLAGS_HELP, type SourceOptions } from './sources.ts';
import { escapeControl } from '../core/text.ts';

const USAGE = `usage: merge-studio merge RECIPE.yml (--out DIR | --push NAMESPACE/NAME) [--backend cpu|gpu] [--seed N] [--shard-size 5GB] [--chunk-size 64MiB] [--allow-non-finite] [Hub options]
Models are local folders (relative to the recipe's folder, else to the current folder) or Hub ids (org/name[@revision]).
--chunk-size is the memory budget of one tensor's merge on the CPU (float32 of all inputs and the
output): larger tensors merge in chunks of rows within it, by every method (default 64MiB).
${SOURCE_FLAGS_HELP}
  --push REPO      merge straight to a Hub repo (one shard at a time through the temp folder, one commit at the end);
                   with --private, --revision BRANCH, --existing-ok, --scores EVAL.json, --message TEXT as for 'merge-studio push'`;

export interface MergeArgs {
  recipe: string;
  /** Output folder; empty when pushing. */
  out: string;
  /** Publish to the Hub instead of writing a folder. */
  push?: PushOptions;
  backend: 'cpu' | 'gpu';
  seed?: number;
  shardSize?: number;
  /** Write merged tensors that hold NaN/Inf instead of failing. */
  allowNonFinite?: boolean;
  /** Memory budget of one chunked step (ExportOptions.chunkBytes). */
  chunkSize?: number;
  /** Hub URL, token, cache and offline settings for models given as Hub ids. */
  sources: SourceOptions;
}

function usageError(message: string): never {
  throw new MergeStudioError('cli-usage', `${message}\n${USAGE}`);
}

const UNITS: Record<string, number> = { '': 1, B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40 };

/** '5GB' -> 5e9, '500MiB' -> 524288000, '4096' -> 4096. */
export function parseByteSize(text: string, flag = 'shard-size'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? UNITS[m[2].toUpperCase()] : undefined;
  if (!m || unit === undefined || Number(m[1]) * unit < 1) {
    usageError(`--${flag}: expected a size such as 5GB, 500MB or 2GiB, found '${text}'`);
  }
  return Math.floor(Number(m[1]) * unit);
}

export function parseMergeArgs(argv: string[]): MergeArgs {
  const { options: sources, rest: afterSources } = parseSourceFlags(argv);
  const { options: push, rest } = takePushFlags(afterSources, { repoFlag: '--push' });
  argv = rest;
  const positional: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    if (a === '--allow-non-finite') {
      flags.set('allow-non-finite', 'true');
      continue;
    }
    const [name, inline] = a.slice(2).split(/=(.*)/s, 2);
    if (!['out', 'backend', 'seed', 'shard-size', 'chunk-size'].includes(name)) usageError(`unknown option --${name}`);
    const value = inline ?? argv[++i];
    if (value === undefined) usageError(`--${name} needs a value`);
    flags.set(name, value);
  }
  if (positional.length !== 1) usageError(positional.length === 0 ? 'no recipe given' : `expected one recipe, found ${positional.length}: ${positional.join(' ')}`);
  const out = flags.get('out') ?? '';
  if (!out && !push.repo) usageError('--out DIR is required (or --push NAMESPACE/NAME to publish to the Hub)');
  if (out && push.repo) usageError('give either --out DIR or --push NAMESPACE/NAME, not both');
  if (!push.repo && Object.keys(push).length > 0) usageError(`${Object.keys(push).map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')}: only with --push`);
  const backend = flags.get('backend') ?? 'cpu';
  if (backend !== 'cpu' && backend !== 'gpu') usageError(`--backend: expected cpu or gpu, found '${backend}'`);
  const args: MergeArgs = { recipe: positional[0], out, backend, sources, ...(push.repo ? { push: { ...push, repo: push.repo, token: sources.token, hubUrl: sources.hubUrl } } : {}) };
  const seed = flags.get('seed');
  if (seed !== undefined) {
    if (!/^\d+$/.test(seed) || !Number.isSafeInteger(Number(seed))) usageError(`--seed: expected a non-negative integer, found '${seed}'`);
    args.seed = Number(seed);
  }
  if (flags.has('allow-non-finite')) args.allowNonFinite = true;
  const shard = flags.get('shard-size');
  if (shard !== undefined) args.shardSize = parseByteSize(shard);
  const chunk = flags.get('chunk-size');
  if (chunk !== undefined) args.chunkSize = parseByteSize(chunk, 'chunk-size');
  return args;
}

async function backendFor(kind: 'cpu' | 'gpu'): Promise<MergeBackend> {
  return kind === 'cpu' ? cpuBackend : createWebGpuBackend();
}

function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function stderrProgress(): ProgressCallback {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  return (p) => {
    const now = Date.now();
    const final = p.done === p.total;
    if (!final && now - last < (tty ? 250 : 5000)) return;
    last = now;
    const line = `[merge] ${p.done}/${p.total} tensors, ${humanBytes(p.bytes ?? 0)} read${p.rate ? `, ${humanBytes(p.rate)}/s` : ''}${p.eta !== undefined && !final ? `, ETA ${clock(p.eta)}` : ''}`;
    process.stderr.write(tty ? `\r${line}\x1b[K${final ? '\n' : ''}` : `${line}\n`);
  };
}

export interface MergeRunHooks {
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
}

/** The whole command without process concerns (tests call this). */
export async function runMerge(args: MergeArgs, hooks: MergeRunHooks & { onFiles?: (f: FileProgress[]) => void } = {}): Promise<ExportResult & Partial<MergePushResult>> {
  const recipePath = resolve(args.recipe);
  let text: string;
  try {
    text = await readFile(recipePath, 'utf8');
  } catch {
    throw new MergeStudioError('file-not-found', `${args.recipe}: cannot read the recipe file`, { file: args.recipe });
  }
  const recipe = parseRecipeYaml(text, { source: args.recipe });
  // Resolved and checked once, before any model is opened; every later step uses `out` (none when pushing).
  const out = args.push ? '' : await checkOutDir(args.out);
  const handles = new Map<string, ModelHandle>();
  for (const ref of referencedModels(recipe)) {
    // A misspelt stage name would otherwise be looked up on the Hub.
    if (closestStage(recipe, ref) !== undefined && !existsSync(resolve(dirname(recipePath), ref)) && !existsSync(resolve(ref))) {
      throw new MergeStudioError('recipe-unknown-stage', `${args.recipe}: '${ref}' is not a local model folder${stageHint(recipe, ref)}`, { file: args.recipe, model: ref });
    }
    try {
      const tree = await resolveModelRef(ref, { onProgress: downloadProgressPrinter(), ...args.sources, baseDir: dirname(recipePath), signal: hooks.signal });
      handles.set(ref, await openModel(tree, hooks.signal, ref));
    } catch (err) {
      // A misspelt stage name of a multi-document recipe reads as a model that is not there.
      const hint = stageHint(recipe, ref);
      if (hint && err instanceof MergeStudioError) throw new MergeStudioError(err.code, `${err.message}${hint}`, err.details);
      throw err;
    }
  }
  // The vocabularies decide how embed_tokens and lm_head merge (tokenizer_source, or a union when they differ).
  await loadVocabularies(handles.values(), hooks.signal);
  const backend = await backendFor(args.backend);
  let merge: ReturnType<typeof plan>;
  try {
    // The stages of a multi-document recipe merge on the same backend as the final merge.
    merge = plan(recipe, handles, { seed: args.seed, stageBackend: backend });
  } catch (err) {
    backend.dispose?.();
    throw err;
  }
  for (const n of merge.notices) process.stderr.write(`note: ${n}\n`);
  if (args.push) {
    try {
      return await pushMerge(merge, backend, handles, { ...args.push, shardSize: args.shardSize, chunkBytes: args.chunkSize, allowNonFinite: args.allowNonFinite, baseDir: dirname(recipePath), signal: hooks.signal, onProgress: hooks.onProgress, onFiles: hooks.onFiles });
    } finally {
      backend.dispose?.();
    }
  }

  // Staging folders of killed runs (their process is gone) would otherwise stay forever.
  for (const stale of await removeStalePartials(out)) process.stderr.write(`note: removed ${stale}, left by a run that no longer exists\n`);
  const staging = `${out}.partial-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await makeFolders(staging);
  try {
    const result = await execute(merge, { sinks: nodeFolderSinks(staging), backend, shardSize: args.shardSize, chunkBytes: args.chunkSize, allowNonFinite: args.allowNonFinite, signal: hooks.signal, onProgress: hooks.onProgress });
    await publish(staging, out, args.out);
    return result;
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  } finally {
    backend.dispose?.();
  }
}

export async function run(argv: string[]): Promise<number> {
  const controller = new AbortController();
  const onInterrupt = () => controller.abort(new MergeStudioError('cancelled', 'cancelled by the user (Ctrl-C); nothing was written'));
  process.once('SIGINT', onInterrupt);
  try {
    const args = parseMergeArgs(argv);
    const result = await runMerge(args, { signal: controller.signal, onProgress: stderrProgress(), onFiles: uploadPrinter() });
    if (args.push) {
      process.stderr.write(`pushed to ${result.url} (commit ${result.commit?.slice(0, 12)}): ${result.tensors} tensors, ${humanBytes(result.bytesWritten)} in ${result.files.filter((f) => f.endsWith('.safetensors')).length} shard(s), ${result.uploaded?.length ?? 0} uploaded, ${result.skipped?.length ?? 0} already on the Hub; at most ${humanBytes(result.peakSpoolBytes ?? 0)} on local disk at once, ${result.seconds.toFixed(1)} s\n`);
      return 0;
    }
    process.stderr.write(`wrote ${args.out}: ${result.tensors} tensors, ${humanBytes(result.bytesWritten)} in ${result.files.filter((f) => f.endsWith('.safetensors')).length} shard(s), ${result.seconds.toFixed(1)} s\n`);
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const [first, ...rest] = message.split('\n');
    process.stderr.write(`merge-studio merge: ${escapeControl(first)}\n${rest.map((l) => `${escapeControl(l)}\n`).join('')}`);
    return controller.signal.aborted ? 130 : 1;
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}
