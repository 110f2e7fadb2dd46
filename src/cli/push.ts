// `merge-studio push DIR --repo org/name`: publishes an exported model folder to the Hub, and the
// streaming publish behind `merge-studio merge RECIPE --push org/name`.
//
// Streaming publish: the Hub's LFS protocol names each file by its sha256 before any byte is sent,
// so a shard cannot go up while it is still being merged. Each shard is therefore merged into ONE
// temporary file in the OS temp folder while its sha256 is computed, uploaded to the repo's LFS
// storage as soon as it is complete, and deleted; then the next shard is merged. At most one shard
// (--shard-size, default 5 GB) is on local disk at a time, never the model. Small files (config,
// tokenizer, card, index) stay in memory. Nothing is committed until every shard is up: the last
// step is one commit naming them all.
import { createHash } from 'node:crypto';
import { existsSync, openAsBlob } from 'node:fs';
import { mkdtemp, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { cardInfoFromPlan, execute, type ExportResult, type MergeBackend, type Plan } from '../core/engine/index.ts';
import { MergeStudioError } from '../core/errors.ts';
import { readLicense, renderModelCard, scoresFromEvalJson, withScores, type CardInput, type CardScore } from '../core/hub/model-card.ts';
import { DEFAULT_HUB_URL } from '../core/hub/tree.ts';
import { commitUploaded, ensureRepo, publishFiles, publishedUrl, uploadObject, type FileProgress, type PublishResult, type PublishTarget, type UploadedObject } from '../core/hub/upload.ts';
import type { ByteSink, SinkFactory } from '../core/io/types.ts';
import type { ModelHandle } from '../core/model/handle.ts';
import { humanBytes } from './inspect.ts';

const USAGE = `usage: merge-studio push DIR --repo NAMESPACE/NAME [--private] [--revision BRANCH] [--existing-ok] [--scores EVAL.json] [--message TEXT] [--token T] [--hub-url URL]
  DIR           a model folder written by 'merge-studio merge' (or any folder with config.json)
  --repo        the repo to create (or, with --existing-ok, to push into)
  --private     create the repo private
  --revision    branch to commit to (created from main when it does not exist); default main
  --existing-ok push into the repo when it exists already (otherwise that is an error)
  --scores      output of 'merge-studio eval --json': added to the model card (model-index)
  --token       a token with write access (default: $HF_TOKEN, safer than this flag)
  --hub-url     the Hub (default: $HF_ENDPOINT or https://huggingface.co)`;

/** Options shared by `push` and `merge --push`. */
export interface PushOptions {
  repo: string;
  private?: boolean;
  revision?: string;
  existingOk?: boolean;
  scores?: string;
  message?: string;
  token?: string;
  hubUrl?: string;
}

export interface PushArgs extends PushOptions {
  dir: string;
}

function usageError(message: string): never {
  throw new MergeStudioError('cli-usage', `${message}\n${USAGE}`);
}

/** The push flags; unknown ones are left in `rest` for the caller. */
export function takePushFlags(argv: readonly string[], opts: { repoFlag: '--repo' | '--push' }): { options: Partial<PushOptions>; rest: string[] } {
  const options: Partial<PushOptions> = {};
  const rest: string[] = [];
  const valued: Record<string, (v: string) => void> = {
    [opts.repoFlag]: (v) => (options.repo = v),
    '--revision': (v) => (options.revision = v),
    '--scores': (v) => (options.scores = v),
    '--message': (v) => (options.message = v),
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (name in valued) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined || value === '') throw new MergeStudioError('cli-usage', `${name} needs a value`, { option: name });
      valued[name](value);
    } else if (arg === '--private') options.private = true;
    else if (arg === '--existing-ok') options.existingOk = true;
    else rest.push(arg);
  }
  return { options, rest };
}

export function parsePushArgs(argv: string[]): PushArgs {
  const { options, rest } = takePushFlags(argv, { repoFlag: '--repo' });
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    const [name, inline] = a.startsWith('--') ? a.slice(2).split(/=(.*)/s, 2) : [undefined, undefined];
    if (name === undefined) positional.push(a);
    else if (name === 'token' || name === 'hub-url') {
      const v = inline ?? rest[++i];
      if (!v) usageError(`--${name} needs a value`);
      if (name === 'token') options.token = v;
      else options.hubUrl = v;
    } else usageError(`unknown option --${name}`);
  }
  if (positional.length !== 1) usageError(positional.length === 0 ? 'no model folder given' : `expected one folder, found ${positional.length}: ${positional.join(' ')}`);
  if (!options.repo) usageError('--repo NAMESPACE/NAME is required');
  return { ...options, repo: options.repo, dir: positional[0] };
}

export function pushTarget(o: PushOptions, surface: 'cli' = 'cli'): PublishTarget {
  const env = process.env;
  return {
    repo: o.repo,
    hubUrl: (o.hubUrl ?? env.HF_ENDPOINT ?? DEFAULT_HUB_URL).replace(/\/+$/, ''),
    accessToken: o.token ?? (env.HF_TOKEN || undefined),
    private: o.private,
    revision: o.revision,
    existingOk: o.existingOk,
    surface,
  };
}

async function readScores(path: string | undefined): Promise<CardScore[] | undefined> {
  if (!path) return undefined;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new MergeStudioError('file-not-found', `--scores ${path}: cannot read the file`, { file: path });
  }
  try {
    return scoresFromEvalJson(JSON.parse(text));
  } catch (err) {
    throw new MergeStudioError('bad-scores', `--scores ${path}: ${err instanceof Error ? err.message : String(err)}`, { file: path });
  }
}

function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** One line per file on stderr: bytes, rate and ETA while it uploads, a final line when done. */
export function uploadPrinter(stream: NodeJS.WriteStream = process.stderr): (files: FileProgress[]) => void {
  const last = new Map<string, { state: string; at: number }>();
  return (files) => {
    const now = Date.now();
    for (const f of files) {
      const prev = last.get(f.path);
      const changed = prev?.state !== f.state;
      if (!changed && (f.state !== 'uploading' || now - (prev?.at ?? 0) < (stream.isTTY ? 500 : 3000))) continue;
      last.set(f.path, { state: f.state, at: now });
      if (f.state === 'waiting' || f.state === 'in-commit' || f.state === 'hashing') continue;
      const what = f.state === 'skipped' ? 'already on the Hub, skipped' : f.state === 'done' ? `uploaded ${humanBytes(f.size)}` : `${humanBytes(f.bytes)} of ${humanBytes(f.size)}${f.rate ? `, ${humanBytes(f.rate)}/s` : ''}${f.eta !== undefined && Number.isFinite(f.eta) ? `, ETA ${clock(f.eta)}` : ''}`;
      stream.write(`[push] ${f.path}: ${what}\n`);
    }
  };
}

async function listFolder(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string): Promise<void> {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.name.startsWith('.') || e.name.endsWith('.partial')) continue;
      const full = join(d, e.name);
      if (e.isDirectory()) await walk(full);
      else if (e.isFile()) out.push(relative(dir, full).split(sep).join('/'));
    }
  }
  await walk(dir);
  return out.sort();
}

/** `merge-studio push DIR`: every file of the folder in one commit. */
export async function runPush(args: PushArgs, hooks: { signal?: AbortSignal; onFiles?: (f: FileProgress[]) => void } = {}): Promise<PublishResult> {
  const dir = resolve(args.dir);
  const st = await stat(dir).catch(() => null);
  if (!st?.isDirectory()) throw new MergeStudioError('file-not-found', `${args.dir}: no such folder`, { file: args.dir });
  const names = await listFolder(dir);
  if (!names.includes('config.json')) {
    throw new MergeStudioError('push-not-a-model', `${args.dir}: no config.json, so this is not a finished model folder (an interrupted export?); nothing was pushed`, { file: args.dir });
  }
  if (!names.some((n) => n.endsWith('.safetensors'))) {
    throw new MergeStudioError('push-not-a-model', `${args.dir}: no .safetensors weights; nothing was pushed`, { file: args.dir });
  }
  const scores = await readScores(args.scores);
  const target = pushTarget(args);
  await ensureRepo(target, hooks.signal);
  const files = await Promise.all(names.map(async (path) => {
    if (path === 'README.md' && scores?.length) return { path, content: new Blob([withScores(await readFile(join(dir, path), 'utf8'), scores)]) };
    return { path, content: await openAsBlob(join(dir, path)) };
  }));
  return publishFiles(files, target, hooks, args.message ?? `Upload ${names.length} files with Merge Studio`);
}

export async function run(argv: string[]): Promise<number> {
  const controller = new AbortController();
  const onInterrupt = () => controller.abort(new MergeStudioError('cancelled', 'cancelled by the user (Ctrl-C)'));
  process.once('SIGINT', onInterrupt);
  try {
    const args = parsePushArgs(argv);
    const r = await runPush(args, { signal: controller.signal, onFiles: uploadPrinter() });
    process.stderr.write(`pushed ${args.dir} to ${r.url} (commit ${r.commit.slice(0, 12)}): ${r.uploaded.length} LFS file(s) uploaded (${humanBytes(r.bytesUploaded)}), ${r.skipped.length} already on the Hub, ${r.inline.length} small file(s)\n`);
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const [first, ...rest] = message.split('\n');
    process.stderr.write(`merge-studio push: ${first}\n${rest.map((l) => `${l}\n`).join('')}`);
    return controller.signal.aborted ? 130 : 1;
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}

// ------------------------------------------------------------- merge --push (streaming)

export interface MergePushResult extends ExportResult {
  url: string;
  commit: string;
  uploaded: string[];
  skipped: string[];
  /** Largest number of bytes the temporary spool held at once (one shard). */
  peakSpoolBytes: number;
}

/** Sinks that send shards to the Hub one by one (through a temp file each) and keep small files. */
function hubSinks(target: PublishTarget, spool: string, signal: AbortSignal | undefined, onFiles: ((f: FileProgress[]) => void) | undefined, state: { objects: UploadedObject[]; small: Map<string, Uint8Array>; peak: number }): SinkFactory {
  return {
    async create(fileName: string): Promise<ByteSink> {
      if (!fileName.endsWith('.safetensors')) {
        const chunks: Uint8Array[] = [];
        return {
          name: `${target.repo}/${fileName}`,
          async write(c) { chunks.push(c.slice()); },
          async close() {
            const n = chunks.reduce((s, c) => s + c.byteLength, 0);
            const b = new Uint8Array(n);
            let o = 0;
            for (const c of chunks) { b.set(c, o); o += c.byteLength; }
            state.small.set(fileName, b);
          },
          async abort() { chunks.length = 0; },
        };
      }
      const path = join(spool, fileName.replace(/[\\/]/g, '_'));
      const handle = await open(path, 'w');
      const hash = createHash('sha256');
      let size = 0;
      let closed = false;
      return {
        name: `${target.repo}/${fileName}`,
        async write(c) {
          hash.update(c);
          let done = 0;
          while (done < c.byteLength) done += (await handle.write(c, done, c.byteLength - done)).bytesWritten;
          size += c.byteLength;
        },
        async close() {
          if (closed) return;
          closed = true;
          await handle.close();
          state.peak = Math.max(state.peak, size);
          try {
            state.objects.push(await uploadObject({ path: fileName, content: await openAsBlob(path) }, hash.digest('hex'), target, { signal, onFiles }));
          } finally {
            await rm(path, { force: true });
          }
        },
        async abort() {
          if (!closed) await handle.close().catch(() => undefined);
          closed = true;
          await rm(path, { force: true });
        },
      };
    },
    async remove(fileName: string) {
      state.small.delete(fileName);
      // Uploaded LFS objects stay in the repo's storage (uncommitted) and are skipped by a retry.
      state.objects = state.objects.filter((o) => o.path !== fileName);
    },
  };
}

/** Merges `plan` straight to the Hub (see the header of this file). */
export async function pushMerge(plan: Plan, backend: MergeBackend, handles: Map<string, ModelHandle>, opts: PushOptions & { shardSize?: number; chunkBytes?: number; allowNonFinite?: boolean; baseDir: string; signal?: AbortSignal; onProgress?: Parameters<typeof execute>[1]['onProgress']; onFiles?: (f: FileProgress[]) => void }): Promise<MergePushResult> {
  const scores = await readScores(opts.scores);
  const target = pushTarget(opts);
  await ensureRepo(target, opts.signal);
  const spool = await mkdtemp(join(tmpdir(), 'merge-studio-push-'));
  const state = { objects: [] as UploadedObject[], small: new Map<string, Uint8Array>(), peak: 0 };
  try {
    const result = await execute(plan, { sinks: hubSinks(target, spool, opts.signal, opts.onFiles, state), backend, shardSize: opts.shardSize, chunkBytes: opts.chunkBytes, allowNonFinite: opts.allowNonFinite, signal: opts.signal, onProgress: opts.onProgress });
    // The card knows more here than in a plain export: which inputs are Hub models, their licenses, scores.
    const inputs: CardInput[] = [];
    for (const [ref, h] of handles) {
      const local = existsSync(resolve(opts.baseDir, ref));
      inputs.push({ ref, ...(local ? {} : { hubId: ref.split('@')[0] }), license: await readLicense(h.tree, opts.signal) });
    }
    state.small.set('README.md', new TextEncoder().encode(renderModelCard(cardInfoFromPlan(plan, { inputs, scores }))));
    const commit = await commitUploaded(state.objects, [...state.small].map(([path, bytes]) => ({ path, bytes })), target, opts.message ?? `Upload ${plan.recipe.name ?? 'merged model'} (${plan.recipe.merge_method}) with Merge Studio`, opts.signal);
    return { ...result, url: publishedUrl(target), commit, uploaded: state.objects.filter((o) => !o.skipped).map((o) => o.path), skipped: state.objects.filter((o) => o.skipped).map((o) => o.path), peakSpoolBytes: state.peak };
  } finally {
    await rm(spool, { recursive: true, force: true });
  }
}
