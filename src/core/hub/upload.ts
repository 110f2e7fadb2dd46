// Publishing to the Hub with @huggingface/hub (runs in the browser and in Node): create the repo
// (and branch), upload the LFS files through the Hub's Git LFS batch API (basic or multipart
// transfer) and make ONE commit at the end, so a failed or cancelled push never leaves a
// half-published model. A retried push skips the files whose sha256 the Hub already stores (the
// LFS batch answers such objects without an upload action; see commitIter in
// @huggingface/hub src/lib/commit.ts).
//
// Xet: @huggingface/hub 2.17.5 offers the "xet" transfer by default and uses it only when the
// batch answer says `transfer: "xet"`; we pass useXet: false, so uploads always take the LFS path
// (the same path the mock Hub implements).
import { commitIter, createBranch, createRepo, HubApiError, type CommitProgressEvent } from '@huggingface/hub';
import { MergeStudioError } from '../errors.ts';
import { bytesToBase64 } from '../text.ts';
import type { ProgressCallback } from '../progress.ts';
import { throwIfAborted } from '../progress.ts';

export interface PublishTarget {
  /** `namespace/name`. */
  repo: string;
  hubUrl: string;
  accessToken?: string;
  private?: boolean;
  /** Branch to commit to (created from main when absent); default main. */
  revision?: string;
  /** Push into a repo that already exists (otherwise 409 is an error naming the choice). */
  existingOk?: boolean;
  /** How the user passes options, for messages: 'cli' names flags, 'studio' names fields. */
  surface?: 'cli' | 'studio';
  fetch?: typeof fetch;
}

export interface PublishFile {
  path: string;
  content: Blob;
}

export type FileState = 'waiting' | 'hashing' | 'uploading' | 'done' | 'skipped' | 'in-commit';

/** One file's upload, for per-file progress (bytes, rate, ETA). */
export interface FileProgress {
  path: string;
  size: number;
  state: FileState;
  /** Bytes of this file sent (hashing counts as 0). */
  bytes: number;
  /** Bytes per second since this file's upload started. */
  rate?: number;
  /** Seconds left for this file. */
  eta?: number;
}

export interface PublishHooks {
  signal?: AbortSignal;
  /** Overall progress: phase 'publish', done/total = files finished, bytes sent, rate, ETA. */
  onProgress?: ProgressCallback;
  /** Every file's progress after each change. */
  onFiles?: (files: FileProgress[]) => void;
}

export interface PublishResult {
  repo: string;
  /** Browsable URL of the repo at the branch. */
  url: string;
  commit: string;
  /** LFS files sent in this push. */
  uploaded: string[];
  /** LFS files the Hub already had (same sha256), not sent again. */
  skipped: string[];
  /** Small files, sent inside the commit itself. */
  inline: string[];
  bytesUploaded: number;
}

const repoRe = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;

export function checkRepoName(repo: string): void {
  if (!repoRe.test(repo) || repo.includes('..') || repo.length > 96 + 40) {
    throw new MergeStudioError('hub-bad-repo-id', `'${repo}' is not a repo id: expected namespace/name (letters, digits, '-', '_', '.')`, { repo });
  }
}

function hostOf(hubUrl: string): string {
  try {
    return new URL(hubUrl).host;
  } catch {
    throw new MergeStudioError('hub-bad-url', `'${hubUrl}' is not a URL (the Hub URL should look like https://huggingface.co)`, { hubUrl });
  }
}

function isAbort(err: unknown, signal?: AbortSignal): boolean {
  return signal?.aborted === true || (err instanceof Error && err.name === 'AbortError');
}

function isNetwork(err: unknown): boolean {
  if (err instanceof HubApiError) return false;
  return err instanceof TypeError || (err instanceof Error && /fetch failed|terminated|socket|network|ECONNRESET|ECONNREFUSED|other side closed|^$/i.test(err.message));
}

/** Turns whatever a Hub call threw into a MergeStudioError that says what to do. */
export function publishError(err: unknown, target: PublishTarget, context: { phase: string; files?: string[]; signal?: AbortSignal }): MergeStudioError {
  if (err instanceof MergeStudioError) return err;
  const host = hostOf(target.hubUrl);
  const ns = target.repo.split('/')[0];
  const cli = target.surface !== 'studio';
  const tokenHow = cli ? 'pass one with --token or HF_TOKEN' : 'sign in again';
  const retry = cli ? 'run the same push again' : 'press Publish again';
  const nothing = context.phase === 'create' ? '' : ' Nothing was committed.';
  const details = { repo: target.repo, phase: context.phase, files: context.files };
  if (isAbort(err, context.signal)) {
    return new MergeStudioError('cancelled', `publishing ${target.repo} was cancelled.${nothing} Files already uploaded stay on the Hub and are skipped next time.`, details);
  }
  if (isNetwork(err)) {
    const which = context.files?.length ? ` while uploading ${context.files.join(', ')}` : '';
    return new MergeStudioError('hub-connection-lost', `the connection to ${host} was lost${which} (${(err as Error).message || 'network error'}).${nothing} ${retry[0].toUpperCase()}${retry.slice(1)}: files the Hub already has are skipped.`, { ...details, retryable: true });
  }
  if (err instanceof HubApiError) {
    const said = err.message.replace(/\. URL: .*$/s, '');
    const status = err.statusCode;
    if (status === 401) return new MergeStudioError('hub-unauthorized', `${host} refused the credentials (401): ${target.accessToken ? 'the token is not valid or has expired' : 'publishing needs a token with write access'}; ${tokenHow}.${nothing}`, { ...details, status });
    if (status === 403) return new MergeStudioError('hub-forbidden', `no write access to ${target.repo} on ${host} (403): the token cannot write to the namespace '${ns}' (a token with the "write" role that belongs to '${ns}' is needed, or publish under your own name).${nothing} The Hub said: ${said}`, { ...details, status });
    if (status === 409 && context.phase === 'create') {
      const how = cli ? 'pass --existing-ok to push into it, or choose another --repo name' : "tick 'push into the existing repo', or choose another name";
      return new MergeStudioError('hub-repo-exists', `${target.repo} already exists on ${host}: ${how}.`, { ...details, status });
    }
    if (status === 413) return new MergeStudioError('hub-quota', `${host} refused the upload of ${target.repo} (413): ${said}. Free space in '${ns}' or publish a smaller model.${nothing}`, { ...details, status });
    if (status === 404) return new MergeStudioError('hub-not-found', `${target.repo} was not found on ${host} (404) during ${context.phase}: ${said}`, { ...details, status });
    return new MergeStudioError('hub-publish-failed', `${host} answered ${status} during ${context.phase} of ${target.repo}: ${said}.${nothing}${status >= 500 ? ` ${retry[0].toUpperCase()}${retry.slice(1)}.` : ''}`, { ...details, status, retryable: status >= 500 || status === 429 });
  }
  return new MergeStudioError('hub-publish-failed', `publishing ${target.repo} failed during ${context.phase}: ${err instanceof Error ? err.message : String(err)}.${nothing}`, details);
}

/** Creates the repo (or accepts it with existingOk) and the branch. */
export async function ensureRepo(target: PublishTarget, signal?: AbortSignal): Promise<{ created: boolean }> {
  checkRepoName(target.repo);
  hostOf(target.hubUrl);
  throwIfAborted(signal);
  let created = true;
  try {
    await createRepo({ repo: target.repo, hubUrl: target.hubUrl, accessToken: target.accessToken as string, private: target.private ?? false, fetch: target.fetch });
  } catch (err) {
    if (!(err instanceof HubApiError && err.statusCode === 409 && target.existingOk)) throw publishError(err, target, { phase: 'create', signal });
    created = false;
  }
  const branch = target.revision ?? 'main';
  if (branch !== 'main') {
    try {
      await createBranch({ repo: target.repo, branch, hubUrl: target.hubUrl, accessToken: target.accessToken, fetch: target.fetch });
    } catch (err) {
      if (!(err instanceof HubApiError && err.statusCode === 409)) throw publishError(err, target, { phase: 'branch', signal });
    }
  }
  return { created };
}

interface ProgressHint {
  progressCallback: (progress: number) => void;
  part?: number;
  numParts?: number;
}

const partsDone = new WeakMap<(p: number) => void, Map<number, number>>();

/** Upload fetch: the client passes a `progressHint` on LFS PUTs. In a browser the PUT goes through
 * XMLHttpRequest for byte-level upload progress; elsewhere through fetch, with progress reported as
 * parts complete (a presigned PUT needs a Content-Length, so the body cannot be a counted stream). */
function progressFetch(base: typeof fetch): typeof fetch {
  return async (input, init) => {
    const hint = (init as { progressHint?: ProgressHint } | undefined)?.progressHint;
    const body = init?.body;
    const report = (fraction: number) => {
      if (!hint) return;
      if (hint.part === undefined || !hint.numParts) return hint.progressCallback(Math.min(fraction, 0.999999));
      let m = partsDone.get(hint.progressCallback);
      if (!m) partsDone.set(hint.progressCallback, (m = new Map()));
      m.set(hint.part, fraction);
      hint.progressCallback(Math.min([...m.values()].reduce((a, b) => a + b, 0) / hint.numParts, 0.999999));
    };
    if (hint && init?.method === 'PUT' && typeof XMLHttpRequest !== 'undefined' && typeof input === 'string' && (body instanceof Blob || body instanceof ArrayBuffer)) {
      return xhrPut(input, init, body, report);
    }
    const res = await base(input, init);
    if (hint && res.ok && init?.method === 'PUT') report(1);
    return res;
  };
}

function xhrPut(url: string, init: RequestInit, body: Blob | ArrayBuffer, report: (f: number) => void): Promise<Response> {
  return new Promise((resolve, reject) => {
    const signal = init.signal;
    if (signal?.aborted) return reject(new DOMException('Aborted', 'AbortError'));
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', url, true);
    new Headers(init.headers).forEach((v, k) => xhr.setRequestHeader(k, v));
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) report(e.loaded / e.total);
    };
    xhr.onload = () => {
      const headers = new Headers();
      for (const line of xhr.getAllResponseHeaders().trim().split(/\r?\n/)) {
        const i = line.indexOf(':');
        if (i > 0) headers.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
      }
      resolve(new Response(xhr.status === 204 ? null : xhr.responseText, { status: xhr.status, statusText: xhr.statusText, headers }));
    };
    xhr.onerror = () => reject(new TypeError(`network error on PUT ${new URL(url).host}`));
    xhr.onabort = () => reject(new DOMException('Aborted', 'AbortError'));
    signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(body);
  });
}

/** Tracks per-file progress from the client's events. */
class FileTracker {
  readonly files = new Map<string, FileProgress & { started?: number; announced?: boolean }>();
  private readonly t0 = Date.now();
  constructor(files: PublishFile[], private readonly hooks: PublishHooks) {
    for (const f of files) this.files.set(f.path, { path: f.path, size: f.content.size, state: 'waiting', bytes: 0 });
  }

  event(e: CommitProgressEvent): void {
    if (e.event !== 'fileProgress') {
      if (e.phase === 'committing') for (const f of this.files.values()) if (f.state === 'waiting') f.state = 'in-commit';
      this.emit();
      return;
    }
    const f = this.files.get(e.path);
    if (!f) return;
    const now = Date.now();
    if (e.state === 'hashing') f.state = 'hashing';
    else if (e.state === 'uploading') {
      // A file the Hub already has gets progress 1 without a 0 first (no upload action).
      if (!f.announced && e.progress >= 1 && f.state !== 'in-commit') {
        f.state = 'skipped';
      } else if (f.state === 'in-commit') {
        f.bytes = Math.round(f.size * e.progress);
      } else {
        f.announced = true;
        f.started ??= now;
        f.bytes = Math.round(f.size * e.progress);
        f.state = e.progress >= 1 ? 'done' : 'uploading';
        const secs = (now - f.started) / 1000;
        f.rate = secs > 0 ? f.bytes / secs : undefined;
        f.eta = f.rate ? (f.size - f.bytes) / f.rate : undefined;
      }
    }
    this.emit();
  }

  uploadingNow(): string[] {
    return [...this.files.values()].filter((f) => f.state === 'uploading' || f.state === 'hashing').map((f) => f.path);
  }

  emit(): void {
    const list = [...this.files.values()].map(({ started: _s, announced: _a, ...f }) => f);
    this.hooks.onFiles?.(list);
    const sent = list.reduce((s, f) => s + (f.state === 'skipped' ? 0 : f.bytes), 0);
    const todo = list.reduce((s, f) => s + (f.state === 'skipped' ? 0 : f.size), 0);
    const secs = (Date.now() - this.t0) / 1000;
    const rate = secs > 0 ? sent / secs : undefined;
    this.hooks.onProgress?.({ phase: 'publish', done: list.filter((f) => f.state === 'done' || f.state === 'skipped').length, total: list.length, bytes: sent, rate, eta: rate ? (todo - sent) / rate : undefined });
  }
}

function repoUrl(target: PublishTarget): string {
  const branch = target.revision && target.revision !== 'main' ? `/tree/${encodeURIComponent(target.revision)}` : '';
  return `${target.hubUrl.replace(/\/$/, '')}/${target.repo}${branch}`;
}

/** Uploads `files` and commits them in one commit (after ensureRepo). */
export async function publishFiles(files: PublishFile[], target: PublishTarget, hooks: PublishHooks = {}, title = 'Upload merged model with Merge Studio'): Promise<PublishResult> {
  const tracker = new FileTracker(files, hooks);
  const it = commitIter({
    repo: target.repo,
    hubUrl: target.hubUrl,
    accessToken: target.accessToken,
    branch: target.revision ?? 'main',
    title,
    operations: files.map((f) => ({ operation: 'addOrUpdate' as const, path: f.path, content: f.content })),
    useXet: false,
    abortSignal: hooks.signal,
    fetch: progressFetch(target.fetch ?? fetch),
  });
  let phase = 'preupload';
  try {
    let r = await it.next();
    while (!r.done) {
      if (r.value.event === 'phase') phase = r.value.phase === 'committing' ? 'commit' : r.value.phase === 'uploadingLargeFiles' ? 'upload' : 'preupload';
      tracker.event(r.value);
      r = await it.next();
    }
    throwIfAborted(hooks.signal);
    const list = [...tracker.files.values()];
    for (const f of list) if (f.state === 'in-commit' || f.state === 'waiting') f.state = 'done';
    tracker.emit();
    return {
      repo: target.repo,
      url: repoUrl(target),
      commit: r.value?.commit.oid ?? '',
      uploaded: list.filter((f) => f.announced).map((f) => f.path),
      skipped: list.filter((f) => f.state === 'skipped').map((f) => f.path),
      inline: list.filter((f) => !f.announced && f.state !== 'skipped').map((f) => f.path),
      bytesUploaded: list.reduce((s, f) => s + (f.announced ? f.size : 0), 0),
    };
  } catch (err) {
    throw publishError(err, target, { phase, files: tracker.uploadingNow(), signal: hooks.signal });
  }
}

/** One LFS object uploaded ahead of the commit (the streaming push). */
export interface UploadedObject {
  path: string;
  oid: string;
  size: number;
  skipped: boolean;
}

/** Uploads one LFS file to the repo's storage WITHOUT committing it: the client's commit pipeline
 * is run through its upload phase and stopped when it announces the commit phase (before the commit
 * request is sent). `oid` is the sha256 the caller computed while producing the file. */
export async function uploadObject(file: PublishFile, oid: string, target: PublishTarget, hooks: PublishHooks = {}): Promise<UploadedObject> {
  const tracker = new FileTracker([file], hooks);
  const it = commitIter({
    repo: target.repo,
    hubUrl: target.hubUrl,
    accessToken: target.accessToken,
    branch: target.revision ?? 'main',
    title: 'upload',
    operations: [{ operation: 'addOrUpdate', path: file.path, content: file.content }],
    useXet: false,
    abortSignal: hooks.signal,
    fetch: progressFetch(target.fetch ?? fetch),
  });
  try {
    for (;;) {
      const r = await it.next();
      if (r.done) throw new Error('the upload finished without reaching the commit phase');
      if (r.value.event === 'phase' && r.value.phase === 'committing') {
        await it.return(undefined);
        break;
      }
      tracker.event(r.value);
    }
  } catch (err) {
    throw publishError(err, target, { phase: 'upload', files: [file.path], signal: hooks.signal });
  }
  const f = tracker.files.get(file.path)!;
  if (f.state !== 'skipped' && f.state !== 'done') {
    throw new MergeStudioError('hub-publish-failed', `${file.path}: the Hub did not store it as an LFS file (preupload said it is a regular file); it will go into the commit instead`, { file: file.path });
  }
  return { path: file.path, oid, size: file.content.size, skipped: f.state === 'skipped' };
}

/** Commits LFS objects uploaded earlier (by oid) plus small files, in one commit, through the
 * Hub's NDJSON commit endpoint (the request the client's commit makes; it cannot take an
 * already-uploaded object by oid without re-reading its bytes). */
export async function commitUploaded(objects: UploadedObject[], small: { path: string; bytes: Uint8Array }[], target: PublishTarget, title: string, signal?: AbortSignal): Promise<string> {
  const lines = [
    { key: 'header', value: { summary: title } },
    ...objects.map((o) => ({ key: 'lfsFile', value: { path: o.path, algo: 'sha256', size: o.size, oid: o.oid } })),
    ...small.map((f) => ({ key: 'file', value: { path: f.path, content: bytesToBase64(f.bytes), encoding: 'base64' } })),
  ];
  const branch = encodeURIComponent(target.revision ?? 'main');
  try {
    const res = await (target.fetch ?? fetch)(`${target.hubUrl.replace(/\/$/, '')}/api/models/${target.repo}/commit/${branch}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-ndjson', ...(target.accessToken ? { Authorization: `Bearer ${target.accessToken}` } : {}) },
      body: lines.map((l) => JSON.stringify(l)).join('\n'),
      signal,
    });
    if (!res.ok) {
      let said = '';
      try {
        said = ((await res.json()) as { error?: string }).error ?? '';
      } catch { /* not JSON */ }
      throw Object.assign(new HubApiError(res.url, res.status, res.headers.get('X-Request-Id') ?? undefined, said || `status ${res.status}`));
    }
    return ((await res.json()) as { commitOid: string }).commitOid;
  } catch (err) {
    throw publishError(err, target, { phase: 'commit', signal });
  }
}

export { repoUrl as publishedUrl };
