// Where downloaded Hub bytes are kept between runs. Two implementations: the Hugging Face cache
// layout on disk (node-cache.ts, CLI) and Cache Storage (browser-cache.ts, the studio).
import { MergeStudioError } from '../errors.ts';
import { escapeControl } from '../text.ts';
import type { ByteRange } from './ranges.ts';

/** One file of a repo at a commit, as the tree listing describes it. */
export interface HubFileEntry {
  path: string;
  size: number;
  /** Content id: the sha256 for LFS files, the git blob id otherwise (what the Hub sends as ETag). */
  etag: string;
  lfs: boolean;
  /** Set when the file is stored through Xet; the library then reads it by reconstruction. */
  xetHash?: string;
}

/** The cached part of one file. Bytes are written as they arrive; `flush` makes the record of
 * which ranges are present durable, so a later run resumes where this one stopped. */
export interface CachedFile {
  /** Parts of [start, end) not cached yet. */
  missing(start: number, end: number): Promise<ByteRange[]>;
  /** Reads bytes that `missing` reported as present. If they are gone (cache cleared or damaged
   * underneath), forgets them and rejects with code 'hub-cache-damaged', so the caller refetches. */
  read(offset: number, length: number): Promise<Uint8Array>;
  write(offset: number, bytes: Uint8Array): Promise<void>;
  flush(): Promise<void>;
}

export interface HubCache {
  /** Where the bytes are kept, for messages ("~/.cache/huggingface/hub", "browser Cache Storage 'merge-studio-hub'"). */
  readonly location: string;
  getCommit(repo: string, revision: string): Promise<string | null>;
  putCommit(repo: string, revision: string, commit: string): Promise<void>;
  getListing(repo: string, commit: string): Promise<HubFileEntry[] | null>;
  putListing(repo: string, commit: string, files: HubFileEntry[]): Promise<void>;
  openFile(repo: string, commit: string, file: HubFileEntry): Promise<CachedFile>;
}

export const COMMIT_RE = /^[0-9a-f]{40}$/;
export const SHA256_RE = /^[0-9a-f]{64}$/;

// Every value a server sends that ends up in a cache path or key is checked here first (issue 18):
// content ids are hex of the right length for their kind, commits are 40-hex, file paths are
// relative paths with no empty, '.' or '..' segment, no backslash and no control character.
// Anything else is refused, never cleaned up, so a hostile listing cannot name a file outside.

/** Whether a repo file path is safe to join under a folder (the listing's `path`). */
export function isSafeRepoPath(path: string): boolean {
  return (
    path.length > 0 &&
    path.length <= 4096 &&
    !path.startsWith('/') &&
    // eslint-disable-next-line no-control-regex -- control characters are what is refused
    !/[\\\u0000-\u001f\u007f]/.test(path) &&
    !/^[A-Za-z]:/.test(path) &&
    path.split('/').every((s) => s !== '' && s !== '.' && s !== '..')
  );
}

/** Whether a branch or tag name may become `refs/<revision>` (slashes allowed, as in refs/pr/1). */
export function isSafeRevision(revision: string): boolean {
  return revision.length <= 256 && !/\s/.test(revision) && isSafeRepoPath(revision);
}

/** Refuses a listing entry whose path or content id could not safely name a cache file. */
export function checkFileEntry(file: HubFileEntry, label: string): void {
  if (!isSafeRepoPath(file.path)) {
    throw new MergeStudioError('hub-bad-listing', `${label}: the Hub listed an unsafe path '${escapeControl(file.path)}'`, { file: file.path });
  }
  const expected = file.lfs ? 'a 64-digit hex sha256 (LFS file)' : 'a 40-digit hex git blob id';
  if (contentHashKind(file) === null) {
    throw new MergeStudioError('hub-bad-listing', `${label}/${file.path}: the Hub listed the content id '${escapeControl(file.etag.slice(0, 100))}' where ${expected} was expected; nothing is downloaded for a file that cannot be verified`, { file: file.path, found: file.etag });
  }
  if (file.xetHash !== undefined && !SHA256_RE.test(file.xetHash)) {
    throw new MergeStudioError('hub-bad-listing', `${label}/${file.path}: the Hub listed the Xet hash '${escapeControl(file.xetHash.slice(0, 100))}' where a 64-digit hex hash was expected`, { file: file.path, found: file.xetHash });
  }
}

/** The error for completed bytes that do not hash to the listing's content id (CLI and tab alike). */
export function corruptDownloadError(file: HubFileEntry, kind: 'sha256' | 'git-sha1', found: string): MergeStudioError {
  return new MergeStudioError('hub-download-corrupt', `${file.path}: the downloaded bytes do not match the Hub's ${kind} (${file.etag.slice(0, 12)}..., got ${found.slice(0, 12)}...); the partial download was discarded, try again`, { file: file.path, expected: file.etag, found });
}

/** Strips the quotes and weak marker the Hub puts around ETags. */
export function normalizeEtag(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"|"$/g, '');
}

/** Parses a listing kept in a cache; anything unexpected means "not cached". */
export function parseListing(value: unknown): HubFileEntry[] | null {
  if (!Array.isArray(value)) return null;
  const out: HubFileEntry[] = [];
  for (const v of value) {
    if (typeof v !== 'object' || v === null) return null;
    const { path, size, etag, lfs, xetHash } = v as Record<string, unknown>;
    if (typeof path !== 'string' || !Number.isSafeInteger(size) || typeof etag !== 'string' || typeof lfs !== 'boolean') return null;
    const entry: HubFileEntry = { path, size: size as number, etag, lfs, ...(typeof xetHash === 'string' ? { xetHash } : {}) };
    // A listing edited on disk gets no more trust than one from a server.
    try {
      checkFileEntry(entry, 'cache');
    } catch {
      return null;
    }
    out.push(entry);
  }
  return out;
}

/** Which hash the file's etag is, so completed downloads can be checked against it. */
export function contentHashKind(file: HubFileEntry): 'sha256' | 'git-sha1' | null {
  if (file.lfs && SHA256_RE.test(file.etag)) return 'sha256';
  if (!file.lfs && COMMIT_RE.test(file.etag)) return 'git-sha1';
  return null;
}
