// Where downloaded Hub bytes are kept between runs. Two implementations: the Hugging Face cache
// layout on disk (node-cache.ts, CLI) and Cache Storage (browser-cache.ts, the studio).
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
    out.push({ path, size: size as number, etag, lfs, ...(typeof xetHash === 'string' ? { xetHash } : {}) });
  }
  return out;
}

/** Which hash the file's etag is, so completed downloads can be checked against it. */
export function contentHashKind(file: HubFileEntry): 'sha256' | 'git-sha1' | null {
  if (file.lfs && /^[0-9a-f]{64}$/.test(file.etag)) return 'sha256';
  if (!file.lfs && /^[0-9a-f]{40}$/.test(file.etag)) return 'git-sha1';
  return null;
}
