// Model references on the command line: a local folder or .safetensors file if the path exists,
// otherwise a Hub id (org/name[@revision]) read lazily through the Hub source with the disk cache.
// Shared by inspect, merge and eval so every command takes the same flags:
//   --hub-url URL   Hub or mirror (default: $HF_ENDPOINT, else https://huggingface.co)
//   --token TOKEN   access token for private/gated repos (default: $HF_TOKEN; prefer the variable,
//                   a command-line token is visible to other local users in the process list)
//   --cache-dir DIR Hugging Face cache folder (default: $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub)
//   --offline       use the cache only (also $HF_HUB_OFFLINE=1)
//   --no-cache      keep nothing on disk
//   --hub-timeout S seconds a Hub request may wait for an answer or a stalled body before it is retried
//                   (default: $MERGE_STUDIO_HUB_TIMEOUT, else connect 30 + first byte 60, stall 60)
//   --hub-retries N retries per Hub request after the first attempt (default 5, with backoff)
import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, isAbsolute, resolve } from 'node:path';
import { MergeStudioError } from '../core/errors.ts';
import { checkLocalModelFiles } from '../core/hub/model-files.ts';
import { nodeHubCache } from '../core/hub/node-cache.ts';
import { looksLikeHubRef } from '../core/hub/repo-id.ts';
import type { HubTimeouts } from '../core/hub/hub-fetch.ts';
import { DEFAULT_HUB_URL, hubTree } from '../core/hub/tree.ts';
import { nodeFileSource, nodeFolderTree } from '../core/io/node-file.ts';
import type { FileTree } from '../core/io/types.ts';
import type { Progress, ProgressCallback } from '../core/progress.ts';
import { escapeControl } from '../core/text.ts';

export interface SourceOptions {
  /** Relative paths are resolved against this folder (a recipe's folder); default: the cwd. */
  baseDir?: string;
  hubUrl?: string;
  token?: string;
  cacheDir?: string;
  offline?: boolean;
  noCache?: boolean;
  /** Seconds for each of connect, first byte and stall (--hub-timeout). */
  hubTimeoutS?: number;
  /** Retries per request (--hub-retries). */
  hubRetries?: number;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

export const SOURCE_FLAGS_HELP = [
  '  --hub-url URL    Hub or mirror to read org/name ids from (default: $HF_ENDPOINT or https://huggingface.co)',
  '  --token TOKEN    token for private or gated repos (default: $HF_TOKEN, which is safer than this flag)',
  '  --cache-dir DIR  download cache (default: the Hugging Face cache, $HF_HUB_CACHE or ~/.cache/huggingface/hub)',
  '  --offline        read Hub models from the cache only ($HF_HUB_OFFLINE=1 does the same)',
  '  --no-cache       do not keep downloaded bytes on disk',
  '  --hub-timeout S  seconds a Hub request may wait to connect, for its first byte, or on a stalled body,',
  '                   before it is retried (default: $MERGE_STUDIO_HUB_TIMEOUT, else 30 + 60 s to answer, 60 s stall)',
  '  --hub-retries N  retries per Hub request, with backoff (default 5)',
].join('\n');

function positiveSeconds(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 86_400) throw new MergeStudioError('cli-usage', `${name} needs a number of seconds between 0 and 86400, got '${v}'`, { option: name, found: v });
  return n;
}

function retryCount(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 100) throw new MergeStudioError('cli-usage', `${name} needs a whole number from 0 to 100, got '${v}'`, { option: name, found: v });
  return n;
}

/** One number of seconds for each of the three limits, or the defaults. */
function hubTimeouts(seconds: number | undefined): Partial<HubTimeouts> | undefined {
  if (seconds === undefined) return undefined;
  const ms = Math.round(seconds * 1000);
  return { connectMs: ms, firstByteMs: ms, stallMs: ms };
}

/** Takes the source flags out of an argument list; the rest is returned in order. */
export function parseSourceFlags(argv: readonly string[]): { options: SourceOptions; rest: string[] } {
  const options: SourceOptions = {};
  const rest: string[] = [];
  const valued: Record<string, (v: string) => void> = {
    '--hub-url': (v) => (options.hubUrl = v),
    '--token': (v) => (options.token = v),
    '--cache-dir': (v) => (options.cacheDir = v),
    '--hub-timeout': (v) => (options.hubTimeoutS = positiveSeconds('--hub-timeout', v)),
    '--hub-retries': (v) => (options.hubRetries = retryCount('--hub-retries', v)),
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (Object.hasOwn(valued, name)) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined || value === '') throw new MergeStudioError('cli-usage', `${name} needs a value`, { option: name });
      valued[name](value);
    } else if (arg === '--offline') options.offline = true;
    else if (arg === '--no-cache') options.noCache = true;
    else rest.push(arg);
  }
  return { options, rest };
}

function singleFileTree(path: string): FileTree {
  const name = basename(path);
  return {
    name: path,
    async list() {
      return [name];
    },
    async open(p: string) {
      if (p !== name) throw new MergeStudioError('file-not-found', `${path}: a single file has no '${p}' next to it; give the model folder instead`, { file: p, tree: path });
      return nodeFileSource(path);
    },
  };
}

const PATH_LIKE = /^(\.{1,2}[\\/]|[\\/]|~|[A-Za-z]:[\\/])|\.safetensors$|\.json$/;

/** Where a relative reference points: the recipe's folder first, then the current folder (where
 * mergekit resolves them, and where a recipe exported by the studio finds `public/zoo/...`). */
export async function localPath(ref: string, baseDir?: string): Promise<{ path: string; st: Stats | null }> {
  const candidates = isAbsolute(ref) ? [ref] : [...new Set([resolve(baseDir ?? process.cwd(), ref), resolve(process.cwd(), ref)])];
  for (const path of candidates) {
    const st = await stat(path).catch(() => null);
    if (st) return { path, st };
  }
  return { path: candidates[0], st: null };
}

/** A local folder or file if `ref` names one, else a Hub repo. */
export async function resolveModelRef(ref: string, opts: SourceOptions = {}): Promise<FileTree> {
  const { path, st } = await localPath(ref, opts.baseDir);
  if (st?.isDirectory()) {
    const tree = nodeFolderTree(path);
    await checkLocalModelFiles(tree, opts.signal);
    return tree;
  }
  if (st?.isFile()) {
    if (/\.safetensors$/i.test(path)) return singleFileTree(path);
    throw new MergeStudioError('not-a-folder', `${ref}: is a file, not a model folder (give the folder that holds config.json and the .safetensors files)`, { file: ref });
  }
  if (st && !st.isDirectory()) throw new MergeStudioError('not-a-folder', `${ref}: is neither a file nor a folder`, { file: ref });
  if (PATH_LIKE.test(ref) || !looksLikeHubRef(ref)) {
    throw new MergeStudioError('file-not-found', `${ref}: no such file or folder${looksLikeHubRef(ref) ? '' : ' (and not a Hub id such as org/name or org/name@revision)'}`, { file: ref });
  }
  const env = process.env;
  return hubTree({
    repo: ref,
    hubUrl: opts.hubUrl ?? env.HF_ENDPOINT ?? DEFAULT_HUB_URL,
    accessToken: opts.token ?? (env.HF_TOKEN || undefined),
    cache: opts.noCache ? undefined : nodeHubCache(opts.cacheDir ?? undefined),
    offline: opts.offline ?? (env.HF_HUB_OFFLINE === '1' || env.HF_HUB_OFFLINE === 'true'),
    timeouts: hubTimeouts(opts.hubTimeoutS ?? (env.MERGE_STUDIO_HUB_TIMEOUT ? positiveSeconds('MERGE_STUDIO_HUB_TIMEOUT', env.MERGE_STUDIO_HUB_TIMEOUT) : undefined)),
    retries: opts.hubRetries,
    onProgress: opts.onProgress,
    signal: opts.signal,
  });
}

function humanRate(bytesPerSecond: number): string {
  const units = ['B/s', 'KB/s', 'MB/s', 'GB/s'];
  let v = bytesPerSecond;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v.toFixed(v >= 100 || u === 0 ? 0 : 1)} ${units[u]}`;
}

/** Downloads shorter than this are not worth a line of their own once finished (headers, configs,
 * single tensors of a small model); longer ones are reported when they end. */
const QUIET_BELOW_BYTES = 1 << 20;

/** Prints download progress (bytes, rate, ETA) on stderr: one updating line on a terminal, at most
 * one line every 2 s otherwise, and a final line for each download of 1 MiB or more. */
export function downloadProgressPrinter(stream: NodeJS.WriteStream = process.stderr): ProgressCallback {
  let last = 0;
  let lineOpen = false;
  return (p: Progress) => {
    if (p.phase === 'hub-retry') {
      // A failed or stalled request about to be retried: its own line, so a stall is never hidden
      // behind a progress line that keeps counting down.
      stream.write(`${lineOpen ? '\r\x1b[K' : ''}${escapeControl(p.message ?? '')}\n`);
      lineOpen = false;
      return;
    }
    if (p.phase !== 'download') return;
    const finished = p.done >= p.total;
    const now = Date.now();
    if (finished && p.total < QUIET_BELOW_BYTES) {
      if (lineOpen) stream.write('\r\x1b[K');
      lineOpen = false;
      return;
    }
    if (!finished && now - last < (stream.isTTY ? 200 : 2000)) return;
    last = now;
    lineOpen = !!stream.isTTY && !finished;
    const pct = p.total > 0 ? Math.floor((100 * p.done) / p.total) : 100;
    const eta = p.eta !== undefined && Number.isFinite(p.eta) && !finished ? `, ETA ${Math.ceil(p.eta)} s` : '';
    const line = `download ${escapeControl(p.message ?? '')}: ${pct}% of ${p.total} bytes${p.rate ? `, ${humanRate(p.rate)}` : ''}${eta}`;
    if (stream.isTTY) stream.write(`\r\x1b[K${line}${finished ? '\n' : ''}`);
    else stream.write(`${line}\n`);
  };
}
