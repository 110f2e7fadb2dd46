// A Hugging Face Hub model repo at a revision as a lazy FileTree: the revision is resolved to a
// commit once, files are listed once, and each read is an HTTP range request (through
// @huggingface/hub's downloadFile blob), kept in a HubCache so nothing is downloaded twice.
// Dropped connections are retried with exponential backoff and resumed from the last byte.
import { datasetInfo, downloadFile, fileDownloadInfo, listFiles, modelInfo, type FileDownloadInfoOutput, type RepoDesignation } from '@huggingface/hub';
import { MergeStudioError } from '../errors.ts';
import { checkReadRange } from '../io/memory.ts';
import type { ByteSource, FileTree } from '../io/types.ts';
import { throwIfAborted, type ProgressCallback } from '../progress.ts';
import { escapeControl, redactUrl } from '../text.ts';
import { checkFileEntry, COMMIT_RE, contentHashKind, corruptDownloadError, isSafeRevision, normalizeEtag, type CachedFile, type HubCache, type HubFileEntry } from './cache.ts';
import { contentHasher, type IncrementalHash } from './hash.ts';
import { checkHubToken } from './credentials.ts';
import { createHubFetch, DEFAULT_HUB_TIMEOUTS, isRetryable, type HubFetchContext, type HubTimeouts } from './hub-fetch.ts';
import { checkHasSafetensors, checkShardIndex } from './model-files.ts';
import { addRange, coveredBytes, type ByteRange } from './ranges.ts';
import { parseHubRef } from './repo-id.ts';

export const DEFAULT_HUB_URL = 'https://huggingface.co';

/** Bytes an attempt must bring before its failure stops counting toward the retry limit. */
const MIN_PROGRESS_BYTES = 1 << 20;

export interface HubTreeOptions {
  /** `org/name` or `org/name@revision` (branch, tag or commit). */
  repo: string;
  /** Overrides a revision given in `repo`; default 'main'. */
  revision?: string;
  hubUrl?: string;
  accessToken?: string;
  fetch?: typeof fetch;
  cache?: HubCache;
  /** Use only the cache; fail if something is not in it. */
  offline?: boolean;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
  /** Attempts after the first, per request. Default 5. */
  retries?: number;
  /** First backoff delay; doubles per failed attempt up to 30 s. Default 500 ms. */
  retryDelayMs?: number;
  /** Connect, first-byte and stall limits per request (each retried as above); default DEFAULT_HUB_TIMEOUTS. */
  timeouts?: Partial<HubTimeouts>;
  /** Check up front that the repo has safetensors weights and no missing shard. Default true
   * (always off for datasets). */
  checkModelFiles?: boolean;
  /** A model repo (default) or a dataset repo (`/api/datasets/...`, `/datasets/.../resolve/...`). */
  repoType?: 'model' | 'dataset';
}

export interface HubTree extends FileTree {
  readonly repo: string;
  readonly revision: string;
  readonly commit: string;
  readonly hubUrl: string;
  readonly files: readonly HubFileEntry[];
  /** File-content bytes received from the network by this tree so far. */
  readonly bytesDownloaded: number;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

function either(a?: AbortSignal, b?: AbortSignal): AbortSignal | undefined {
  return a && b ? AbortSignal.any([a, b]) : (a ?? b);
}

function reasonOf(err: unknown): string {
  return escapeControl(err instanceof Error ? err.message : String(err));
}

/** Validates the token's shape here, because @huggingface/hub would throw a bare TypeError. */
function checkToken(token: string | undefined): void {
  if (token !== undefined) checkHubToken(token);
}

/** One listing item as a checked entry: a safe path, a content id that is the hex hash of its
 * kind (it names the cache file and verifies the bytes), a whole size. */
function toEntry(item: { type: string; path: string; size: number; oid?: string; lfs?: { oid: string }; xetHash?: string }, label: string): HubFileEntry | null {
  if (item.type !== 'file') return null;
  const path = typeof item.path === 'string' ? item.path : String(item.path);
  const lfs = item.lfs !== undefined && item.lfs !== null;
  const id = lfs ? item.lfs?.oid : item.oid;
  const entry: HubFileEntry = { path, size: item.size, etag: normalizeEtag(typeof id === 'string' ? id : ''), lfs, ...(item.xetHash ? { xetHash: String(item.xetHash) } : {}) };
  checkFileEntry(entry, label);
  if (!Number.isSafeInteger(entry.size) || entry.size < 0) {
    throw new MergeStudioError('hub-bad-listing', `${label}/${path}: the Hub listed the size '${escapeControl(String(item.size))}' where a whole number of bytes was expected`, { file: path, found: item.size });
  }
  return entry;
}

export async function hubTree(opts: HubTreeOptions): Promise<HubTree> {
  const ref = parseHubRef(opts.repo);
  const isDataset = opts.repoType === 'dataset';
  // Cache keys of datasets carry the type, as the Hub's URLs do; models keep their plain id.
  const repo = isDataset ? `datasets/${ref.repo}` : ref.repo;
  const designation: RepoDesignation = isDataset ? { type: 'dataset', name: ref.repo } : ref.repo;
  const revision = opts.revision ?? ref.revision ?? 'main';
  const hubUrl = (opts.hubUrl ?? DEFAULT_HUB_URL).replace(/\/+$/, '');
  if (!isSafeRevision(revision)) {
    throw new MergeStudioError('hub-bad-id', `${ref.repo}: the revision '${escapeControl(revision.slice(0, 100))}' is not a branch, tag or commit name`, { found: revision });
  }
  const label = `${isDataset ? 'dataset ' : ''}${ref.repo}@${revision}`;
  checkToken(opts.accessToken);
  let parsedUrl: URL;
  try {
    parsedUrl = new URL(hubUrl);
  } catch {
    throw new MergeStudioError('hub-bad-url', `the Hub URL '${redactUrl(hubUrl)}' is not a valid URL (expected e.g. https://huggingface.co)`, { found: redactUrl(hubUrl) });
  }
  if (parsedUrl.username || parsedUrl.password) {
    // fetch() refuses such URLs, and a password must never reach a message or a log.
    throw new MergeStudioError('hub-bad-url', `the Hub URL '${redactUrl(hubUrl)}' contains a user name or password, which is not sent; give the URL without them and pass an access token with --token or HF_TOKEN (in the studio: the Hub token field)`, { found: redactUrl(hubUrl) });
  }
  if (parsedUrl.protocol !== 'http:' && parsedUrl.protocol !== 'https:') {
    throw new MergeStudioError('hub-bad-url', `the Hub URL '${redactUrl(hubUrl)}' is not http(s) (expected e.g. https://huggingface.co)`, { found: redactUrl(hubUrl) });
  }
  const retries = opts.retries ?? 5;
  const retryDelayMs = opts.retryDelayMs ?? 500;
  const timeouts: HubTimeouts = { ...DEFAULT_HUB_TIMEOUTS, ...opts.timeouts };
  const { cache, signal, onProgress } = opts;
  const ctx: HubFetchContext = { label, hubUrl, accessToken: opts.accessToken, fetch: opts.fetch ?? globalThis.fetch.bind(globalThis), signal, timeouts };
  const hubFetch = createHubFetch(ctx);
  const host = new URL(hubUrl).host;
  let bytesDownloaded = 0;

  /** Tells the progress callback that a request failed and is retried: the studio shows it
   * (with its cancel button) while the CLI waits, so a stalled server is visible, not a frozen ETA. */
  function retrying(what: string, err: unknown, attempt: number, waitMs: number): void {
    const why = err instanceof MergeStudioError && err.code === 'hub-timeout' ? 'stalled' : 'failed';
    onProgress?.({ phase: 'hub-retry', done: attempt, total: retries + 1, message: `${what}: ${why} (${reasonOf(err)}); retry ${attempt} of ${retries} in ${Math.round(waitMs / 100) / 10} s` });
  }

  /** Runs a small API call, retrying network failures with backoff. */
  async function withRetry<T>(what: string, call: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(signal);
      try {
        return await call();
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (!isRetryable(err)) throw err;
        if (attempt >= retries) {
          if (err instanceof MergeStudioError) throw new MergeStudioError(err.code, `${err.message} (${attempt + 1} attempts)`, { ...err.details, retryable: false });
          throw new MergeStudioError('hub-unreachable', `${label}: cannot reach ${host} to ${what} after ${attempt + 1} attempts (${reasonOf(err)}); check the connection or the Hub URL`, { repo: label, retryable: true });
        }
        const wait = Math.min(30_000, retryDelayMs * 2 ** attempt);
        retrying(`${label}: ${what}`, err, attempt + 1, wait);
        await sleep(wait, signal);
      }
    }
  }

  /** From the model info; null when the commit came from the cache. */
  let gated: boolean | null = null;

  async function resolveCommit(): Promise<string> {
    if (COMMIT_RE.test(revision) && (opts.offline || (await cache?.getListing(repo, revision)))) return revision;
    if (opts.offline) {
      const cached = await cache?.getCommit(repo, revision);
      if (cached) return cached;
      throw new MergeStudioError('hub-offline-miss', `${label}: offline and this revision is not in the cache${cache ? ` (${cache.location})` : ''}; connect once to download it`, { repo: label });
    }
    try {
      const info = await withRetry('resolve the revision', () =>
        isDataset
          ? datasetInfo({ name: ref.repo, revision, hubUrl, accessToken: opts.accessToken, fetch: hubFetch, additionalFields: ['sha'] })
          : modelInfo({ name: ref.repo, revision, hubUrl, accessToken: opts.accessToken, fetch: hubFetch, additionalFields: ['sha'] }),
      );
      const sha = (info as { sha?: unknown }).sha;
      gated = info.gated !== false && info.gated !== undefined;
      if (typeof sha !== 'string' || !COMMIT_RE.test(sha)) {
        throw new MergeStudioError('hub-bad-response', `${label}: ${host} returned model info without a commit id`, { repo: label });
      }
      // A cache that cannot store (quota, read-only disk) costs a later download, never this one.
      await cache?.putCommit(repo, revision, sha).catch(() => undefined);
      return sha;
    } catch (err) {
      // Unreachable Hub: a revision seen before can still be used from the cache.
      const cached = err instanceof MergeStudioError && err.code === 'hub-unreachable' ? await cache?.getCommit(repo, revision) : null;
      if (cached && (await cache?.getListing(repo, cached))) {
        onProgress?.({ phase: 'resolve', done: 1, total: 1, message: `${label}: ${host} unreachable, using the cached commit ${cached.slice(0, 10)}` });
        return cached;
      }
      throw err;
    }
  }

  const commit = await resolveCommit();
  let files = await cache?.getListing(repo, commit);
  if (!files) {
    if (opts.offline) throw new MergeStudioError('hub-offline-miss', `${label}: offline and the file list of commit ${commit} is not in the cache`, { repo: label });
    files = await withRetry('list files', async () => {
      const out: HubFileEntry[] = [];
      for await (const item of listFiles({ repo: designation, revision: commit, recursive: true, hubUrl, accessToken: opts.accessToken, fetch: hubFetch })) {
        const entry = toEntry(item, label);
        if (entry) out.push(entry);
      }
      return out;
    });
    await cache?.putListing(repo, commit, files).catch(() => undefined);
  }
  const byPath = new Map(files.map((f) => [f.path, f]));
  /** Set when the cache refused bytes (browser quota): reads go on uncached and say so once. */
  let cacheOff: MergeStudioError | null = null;
  // Progress is per model: bytes of its weights read so far (downloaded or from the cache) against
  // their total, with the download rate since the first byte and the ETA that follows from it.
  const weightBytes = files.filter((f) => f.path.endsWith('.safetensors')).reduce((a, f) => a + f.size, 0);
  /** Byte ranges of each weights file read at least once (a second pass adds nothing). */
  const seen = new Map<string, ByteRange[]>();
  let bytesRead = 0;
  function markRead(path: string, start: number, end: number): void {
    const before = seen.get(path) ?? [];
    const after = addRange(before, start, end);
    bytesRead += coveredBytes(after) - coveredBytes(before);
    seen.set(path, after);
  }
  let firstDownloadAt = 0;
  let lastReport = 0;
  let reportedComplete = false;
  function reportProgress(): void {
    if (!onProgress || weightBytes === 0 || reportedComplete) return;
    const now = Date.now();
    const complete = bytesRead >= weightBytes;
    if (!complete && now - lastReport < 250) return;
    reportedComplete = complete;
    lastReport = now;
    const done = Math.min(bytesRead, weightBytes);
    const seconds = firstDownloadAt ? (now - firstDownloadAt) / 1000 : 0;
    const rate = seconds > 0 ? bytesDownloaded / seconds : undefined;
    onProgress({ phase: 'download', done, total: weightBytes, bytes: bytesDownloaded, rate, eta: rate ? (weightBytes - done) / rate : undefined, message: label });
  }
  const downloadInfos = new Map<string, Promise<FileDownloadInfoOutput>>();
  const cachedFiles = new Map<string, Promise<CachedFile>>();

  function downloadInfoFor(entry: HubFileEntry): Promise<FileDownloadInfoOutput> {
    let p = downloadInfos.get(entry.path);
    if (!p) {
      p = withRetry(`locate ${entry.path}`, async () => {
        const info = await fileDownloadInfo({ repo: designation, path: entry.path, revision: commit, hubUrl, accessToken: opts.accessToken, fetch: hubFetch });
        if (!info) throw new MergeStudioError('file-not-found', `${label}/${entry.path}: no such file on ${host}`, { file: entry.path });
        if (info.size !== entry.size) {
          throw new MergeStudioError('hub-bad-response', `${label}/${entry.path}: the listing says ${entry.size} bytes but the file has ${info.size}`, { file: entry.path, expected: entry.size, found: info.size });
        }
        return info;
      });
      p.catch(() => downloadInfos.delete(entry.path));
      downloadInfos.set(entry.path, p);
    }
    return p;
  }

  /** Streams [start, end) of a file into `sink`, resuming after failures from the last byte received. */
  async function download(entry: HubFileEntry, start: number, end: number, sink: (at: number, chunk: Uint8Array) => Promise<void>, report: (n: number) => void, readSignal?: AbortSignal): Promise<void> {
    const info = await downloadInfoFor(entry);
    const where = `${label}/${entry.path}`;
    let at = start;
    let failures = 0;
    while (at < end) {
      throwIfAborted(readSignal);
      const attemptStart = at;
      let typed: MergeStudioError | undefined;
      const attemptFetch = createHubFetch({ ...ctx, signal: readSignal }, (e) => (typed = e));
      let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
      try {
        const blob = await downloadFile({ repo: designation, path: entry.path, revision: commit, hubUrl, accessToken: opts.accessToken, fetch: attemptFetch, downloadInfo: info });
        if (!blob) throw new MergeStudioError('file-not-found', `${where}: no such file on ${host}`, { file: entry.path });
        reader = blob.slice(at, end).stream().getReader() as ReadableStreamDefaultReader<Uint8Array>;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          const chunk = value.subarray(0, end - at);
          if (chunk.byteLength === 0) continue;
          await sink(at, chunk);
          at += chunk.byteLength;
          bytesDownloaded += chunk.byteLength;
          report(chunk.byteLength);
        }
        reader = undefined;
        if (at < end) {
          throw new MergeStudioError('hub-truncated', `${where}: the download ended early, at byte ${at} of the range [${start}, ${end})`, { file: entry.path, retryable: true, expected: end, found: at });
        }
      } catch (thrown) {
        await reader?.cancel().catch(() => undefined);
        if (readSignal?.aborted) throw readSignal.reason;
        // The library's blob stream reports failures as bare strings; the typed error, when there
        // is one, was captured by the attempt's fetch. A bare string is a network failure.
        const err = typed ?? (thrown instanceof Error ? thrown : new TypeError(String(thrown)));
        if (!isRetryable(err)) {
          if (err instanceof MergeStudioError) throw err;
          throw new MergeStudioError('hub-download-failed', `${where}: cannot download bytes [${at}, ${end}): ${reasonOf(err)}`, { file: entry.path, found: at });
        }
        // An attempt that moved the download on by a real amount starts the count again; one that
        // got a few bytes before stalling does not, so a server that trickles cannot keep us forever.
        failures = at - attemptStart >= MIN_PROGRESS_BYTES ? 1 : failures + 1;
        if (failures > retries) {
          const code = err instanceof MergeStudioError && (err.code === 'hub-truncated' || err.code === 'hub-timeout') ? err.code : 'hub-download-failed';
          const resume = cache ? `; the ${at - start} bytes received are kept in ${cache.location}, run again to resume` : '';
          throw new MergeStudioError(code, `${where}: download failed ${failures} times in a row at byte ${at} of [${start}, ${end}) (${reasonOf(err)})${resume}`, { file: entry.path, found: at });
        }
        const wait = Math.min(30_000, retryDelayMs * 2 ** (failures - 1));
        retrying(where, err, failures, wait);
        await sleep(wait, readSignal);
      }
    }
  }

  function cachedFileFor(entry: HubFileEntry): Promise<CachedFile> | null {
    if (!cache || cacheOff) return null;
    let p = cachedFiles.get(entry.path);
    if (!p) {
      p = cache.openFile(repo, commit, entry);
      p.catch(() => cachedFiles.delete(entry.path));
      cachedFiles.set(entry.path, p);
    }
    return p;
  }

  /** Without a cache, bytes are hashed as they stream in file order; when a file has been read
   * from its first byte to its last in order, its hash is checked as the caches check it. Reads
   * out of order cannot be checked without keeping the bytes: use a cache (the default) for that. */
  const streamChecks = new Map<string, { hash: IncrementalHash; at: number }>();

  function checkInOrder(entry: HubFileEntry, offset: number, bytes: Uint8Array): void {
    const kind = contentHashKind(entry);
    if (!kind) return;
    let check = streamChecks.get(entry.path);
    if (!check) streamChecks.set(entry.path, (check = { hash: contentHasher(kind, entry.size), at: 0 }));
    const end = offset + bytes.byteLength;
    if (offset > check.at || end <= check.at) return;
    check.hash.update(bytes.subarray(check.at - offset));
    check.at = end;
    if (check.at < entry.size) return;
    streamChecks.delete(entry.path);
    const found = check.hash.digestHex();
    if (found !== entry.etag) throw corruptDownloadError(entry, kind, found);
  }

  function openEntry(entry: HubFileEntry): ByteSource {
    const name = `${label}/${entry.path}`;

    /** Downloads whatever part of the range the cache lacks, then reads it (from the cache if any). */
    async function readThrough(cached: CachedFile | null, offset: number, length: number, sig?: AbortSignal): Promise<Uint8Array> {
      const gaps = cached ? await cached.missing(offset, offset + length) : [[offset, offset + length] as [number, number]];
      const total = gaps.reduce((s, [a, b]) => s + (b - a), 0);
      const out = cached ? null : new Uint8Array(length);
      const weights = entry.path.endsWith('.safetensors');
      if (total > 0) {
        if (!firstDownloadAt) firstDownloadAt = Date.now();
        const report = () => reportProgress();
        const keep = cached ? (at: number, chunk: Uint8Array) => cached.write(at, chunk) : async (at: number, chunk: Uint8Array) => out!.set(chunk, at - offset);
        const sink = (at: number, chunk: Uint8Array) => {
          if (weights) markRead(entry.path, at, at + chunk.byteLength);
          return keep(at, chunk);
        };
        try {
          for (const [a, b] of gaps) await download(entry, a, b, sink, report, sig);
        } finally {
          await cached?.flush();
        }
      }
      if (weights) {
        markRead(entry.path, offset, offset + length);
        reportProgress();
      }
      if (cached) return cached.read(offset, length);
      checkInOrder(entry, offset, out!);
      return out!;
    }

    return {
      name,
      size: entry.size,
      async read(offset: number, length: number, readSignal?: AbortSignal): Promise<Uint8Array> {
        const sig = either(signal, readSignal);
        throwIfAborted(sig);
        checkReadRange(name, entry.size, offset, length);
        if (length === 0) return new Uint8Array();
        const cachedP = cachedFileFor(entry);
        const cached = cachedP ? await cachedP : null;
        try {
          return await readThrough(cached, offset, length, sig);
        } catch (err) {
          // The storage refused bytes (quota): say so once, then go on without the cache.
          if (cached && err instanceof MergeStudioError && (err.code === 'hub-cache-full' || err.code === 'hub-cache-unwritable')) {
            if (!cacheOff) {
              cacheOff = err;
              onProgress?.({ phase: 'hub-cache-off', done: 0, total: 0, message: err.message });
            }
            return readThrough(null, offset, length, sig);
          }
          // Cached bytes vanished underneath (cleared site data, a deleted blob): fetch them again, once.
          if (!(err instanceof MergeStudioError && err.code === 'hub-cache-damaged')) throw err;
          return readThrough(cached, offset, length, sig);
        }
      },
    };
  }

  const tree: HubTree = {
    name: label,
    repo,
    revision,
    commit,
    hubUrl,
    files,
    get bytesDownloaded() {
      return bytesDownloaded;
    },
    async list() {
      return files.map((f) => f.path).sort();
    },
    async open(path: string, openSignal?: AbortSignal) {
      throwIfAborted(either(signal, openSignal));
      const entry = byPath.get(path);
      if (!entry) {
        const some = files.slice(0, 8).map((f) => f.path).join(', ');
        throw new MergeStudioError('file-not-found', `${label}: no file '${path}' in the repo (it has ${files.length} files: ${some}${files.length > 8 ? ', ...' : ''})`, { file: path, tree: label });
      }
      return openEntry(entry);
    },
  };
  if (gated) {
    // Gated repos list their files to anyone; say why reading fails before a reader trips on it.
    if (!opts.accessToken) {
      throw new MergeStudioError('hub-unauthorized', `${label}: the ${isDataset ? 'dataset' : 'model'} is gated: accept its conditions on its Hub page, then pass a token with --token or the HF_TOKEN environment variable (in the studio: the Hub token field)`, { repo: label, hubCode: 'GatedRepo' });
    }
    const probe = byPath.get('config.json') ?? files[0];
    if (probe) await downloadInfoFor(probe);
  }
  if (opts.checkModelFiles !== false && !isDataset) {
    const paths = files.map((f) => f.path);
    checkHasSafetensors(label, paths, 'hub');
    await checkShardIndex(tree, paths, 'hub', signal);
  }
  return tree;
}
