// The Hugging Face cache layout on disk (Node only), shared with huggingface_hub and transformers:
//   <root>/models--org--name/refs/<revision>              the commit a branch/tag pointed to
//   <root>/models--org--name/blobs/<etag>                 a complete file
//   <root>/models--org--name/snapshots/<commit>/<path>    relative symlink to its blob
// Partial files are ours alone and named so no other tool mistakes them for a resumable prefix:
//   blobs/<etag>.sparse (bytes at their offsets) + blobs/<etag>.sparse.json (the ranges present)
//   .merge-studio/<commit>.tree.json (the file listing, so a pinned commit opens with no request)
// A complete file is checked against its etag (sha256 or git blob id) before it becomes a blob.
// Nothing from a server is trusted to name a path: etags, commits, revisions and file paths are
// checked against strict patterns (cache.ts), and every path is resolved and checked to lie under
// the cache root before anything is created, written, renamed or linked there.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, stat, symlink, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { getHFHubCachePath, getRepoFolderName } from '@huggingface/hub';
import { MergeStudioError } from '../errors.ts';
import { escapeControl } from '../text.ts';
import { checkFileEntry, COMMIT_RE, contentHashKind, corruptDownloadError, isSafeRevision, parseListing, type CachedFile, type HubCache, type HubFileEntry } from './cache.ts';
import { addRange, coveredBytes, missingRanges, parseRanges, type ByteRange } from './ranges.ts';

async function fileSize(path: string): Promise<number | null> {
  try {
    const st = await stat(path);
    return st.isFile() ? st.size : null;
  } catch {
    return null;
  }
}

async function writeAtomically(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

async function readAt(path: string, offset: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  const h = await open(path, 'r');
  try {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await h.read(out, done, length - done, offset + done);
      if (bytesRead === 0) throw new MergeStudioError('hub-cache-damaged', `${path}: cached file ends before byte ${offset + length}; delete it to download again`, { file: path });
      done += bytesRead;
    }
  } finally {
    await h.close();
  }
  return out;
}

async function hashFile(path: string, kind: 'sha256' | 'git-sha1', size: number): Promise<string> {
  const h = createHash(kind === 'sha256' ? 'sha256' : 'sha1');
  if (kind === 'git-sha1') h.update(`blob ${size}\0`);
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** `path` resolved, refused unless it lies strictly inside `root`. */
function inside(root: string, path: string): string {
  const base = resolve(root);
  const full = resolve(path);
  if (!full.startsWith(base + sep)) {
    throw new MergeStudioError('hub-cache-path', `refusing to write '${escapeControl(full)}': it is outside the Hub cache ${escapeControl(base)}`, { file: full, cache: base });
  }
  return full;
}

function checkCommit(commit: string): void {
  if (!COMMIT_RE.test(commit)) throw new MergeStudioError('hub-bad-response', `'${escapeControl(commit.slice(0, 100))}' is not a 40-digit hex commit id; it is not used as a cache path`, { found: commit });
}

class NodeCachedFile implements CachedFile {
  private ranges: ByteRange[];
  private handle: FileHandle | null = null;
  private dirty = false;
  /** Serializes writes and flushes on this file. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly file: HubFileEntry,
    private readonly blobPath: string,
    private readonly snapshotPath: string,
    private complete: boolean,
    ranges: ByteRange[],
  ) {
    this.ranges = complete ? [[0, file.size]] : ranges;
  }

  private get sparsePath(): string {
    return `${this.blobPath}.sparse`;
  }

  private serial<T>(job: () => Promise<T>): Promise<T> {
    const next = this.queue.then(job, job);
    this.queue = next.catch(() => undefined);
    return next;
  }

  async missing(start: number, end: number): Promise<ByteRange[]> {
    return missingRanges(this.ranges, start, end);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (length === 0) return new Uint8Array();
    try {
      return await readAt(this.complete ? this.blobPath : this.sparsePath, offset, length);
    } catch (err) {
      // Deleted or cut short underneath us: forget what we thought was there; the caller refetches.
      this.complete = false;
      this.ranges = [];
      throw err instanceof MergeStudioError ? err : new MergeStudioError('hub-cache-damaged', `${this.blobPath}: cached bytes are unreadable (${err instanceof Error ? err.message : String(err)})`, { file: this.file.path });
    }
  }

  write(offset: number, bytes: Uint8Array): Promise<void> {
    return this.serial(async () => {
      if (this.complete) return;
      if (!this.handle) {
        await mkdir(dirname(this.sparsePath), { recursive: true });
        this.handle = await open(this.sparsePath, (await fileSize(this.sparsePath)) === null ? 'w+' : 'r+');
      }
      let done = 0;
      while (done < bytes.byteLength) {
        const { bytesWritten } = await this.handle.write(bytes, done, bytes.byteLength - done, offset + done);
        done += bytesWritten;
      }
      this.ranges = addRange(this.ranges, offset, offset + bytes.byteLength);
      this.dirty = true;
    });
  }

  flush(): Promise<void> {
    return this.serial(async () => {
      if (this.complete || !this.dirty) return;
      await this.handle?.sync();
      await this.handle?.close();
      this.handle = null;
      this.dirty = false;
      if (coveredBytes(this.ranges) < this.file.size) {
        await writeAtomically(`${this.sparsePath}.json`, JSON.stringify(this.ranges));
        return;
      }
      // openFile refused entries without a checkable id; a file is never completed unverified.
      const kind = contentHashKind(this.file);
      const found = kind ? await hashFile(this.sparsePath, kind, this.file.size) : '';
      if (!kind || found !== this.file.etag) {
        this.ranges = [];
        await unlink(this.sparsePath).catch(() => undefined);
        await unlink(`${this.sparsePath}.json`).catch(() => undefined);
        if (!kind) throw new MergeStudioError('hub-bad-listing', `${this.file.path}: no sha256 or git blob id to check the download against; it is not kept`, { file: this.file.path });
        throw corruptDownloadError(this.file, kind, found);
      }
      await rename(this.sparsePath, this.blobPath);
      await unlink(`${this.sparsePath}.json`).catch(() => undefined);
      this.complete = true;
      await linkSnapshot(this.blobPath, this.snapshotPath);
    });
  }
}

async function linkSnapshot(blobPath: string, snapshotPath: string): Promise<void> {
  await mkdir(dirname(snapshotPath), { recursive: true });
  await unlink(snapshotPath).catch(() => undefined);
  // Relative, like huggingface_hub, so the cache folder can be moved; a platform without
  // symlinks still has the blob, found by etag.
  await symlink(relative(dirname(snapshotPath), blobPath), snapshotPath).catch(() => undefined);
}

/** A HubCache in the Hugging Face layout. `root` defaults to HF_HUB_CACHE, HF_HOME/hub or
 * ~/.cache/huggingface/hub, as huggingface_hub resolves it. */
export function nodeHubCache(root: string = getHFHubCachePath()): HubCache {
  // Dataset repos come as `datasets/org/name` (hubTree's cache key) and get the Hub layout's `datasets--org--name`.
  const repoDir = (repo: string) =>
    inside(root, join(root, repo.startsWith('datasets/') ? getRepoFolderName({ type: 'dataset', name: repo.slice('datasets/'.length) }) : getRepoFolderName({ type: 'model', name: repo })));
  const refPath = (repo: string, revision: string) => {
    if (!isSafeRevision(revision)) throw new MergeStudioError('hub-bad-revision', `the revision '${escapeControl(revision.slice(0, 100))}' is not a branch, tag or commit name that can be stored in the cache`, { found: revision });
    return inside(root, join(repoDir(repo), 'refs', revision));
  };
  const treePath = (repo: string, commit: string) => {
    checkCommit(commit);
    return inside(root, join(repoDir(repo), '.merge-studio', `${commit}.tree.json`));
  };
  return {
    location: root,
    async getCommit(repo, revision) {
      const text = await readFile(refPath(repo, revision), 'utf8').catch(() => null);
      const commit = text?.trim();
      return commit && /^[0-9a-f]{40}$/.test(commit) ? commit : null;
    },
    async putCommit(repo, revision, commit) {
      checkCommit(commit);
      await writeAtomically(refPath(repo, revision), commit);
    },
    async getListing(repo, commit) {
      const text = await readFile(treePath(repo, commit), 'utf8').catch(() => null);
      if (text === null) return null;
      try {
        return parseListing(JSON.parse(text));
      } catch {
        return null;
      }
    },
    async putListing(repo, commit, files) {
      for (const f of files) checkFileEntry(f, repo);
      await writeAtomically(treePath(repo, commit), JSON.stringify(files));
    },
    async openFile(repo, commit, file) {
      checkFileEntry(file, repo);
      checkCommit(commit);
      const dir = repoDir(repo);
      const blobPath = inside(root, join(dir, 'blobs', file.etag));
      const snapshotPath = inside(root, join(dir, 'snapshots', commit, ...file.path.split('/')));
      // A snapshot entry another tool completed counts as well as our own blob.
      if ((await fileSize(snapshotPath)) === file.size) return new NodeCachedFile(file, snapshotPath, snapshotPath, true, []);
      if ((await fileSize(blobPath)) === file.size) {
        await linkSnapshot(blobPath, snapshotPath);
        return new NodeCachedFile(file, blobPath, snapshotPath, true, []);
      }
      let ranges: ByteRange[] = [];
      const sparseSize = await fileSize(`${blobPath}.sparse`);
      if (sparseSize !== null && sparseSize <= file.size) {
        const text = await readFile(`${blobPath}.sparse.json`, 'utf8').catch(() => null);
        try {
          ranges = text ? parseRanges(JSON.parse(text), Math.min(sparseSize, file.size)) : [];
        } catch {
          ranges = [];
        }
      }
      return new NodeCachedFile(file, blobPath, snapshotPath, false, ranges);
    },
  };
}
