// The Hugging Face cache layout on disk (Node only), shared with huggingface_hub and transformers:
//   <root>/models--org--name/refs/<revision>              the commit a branch/tag pointed to
//   <root>/models--org--name/blobs/<etag>                 a complete file
//   <root>/models--org--name/snapshots/<commit>/<path>    relative symlink to its blob
// Partial files are ours alone and named so no other tool mistakes them for a resumable prefix:
//   blobs/<etag>.sparse (bytes at their offsets) + blobs/<etag>.sparse.json (the ranges present)
//   .merge-studio/<commit>.tree.json (the file listing, so a pinned commit opens with no request)
// A complete file is checked against its etag (sha256 or git blob id) before it becomes a blob.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, stat, symlink, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { getHFHubCachePath, getRepoFolderName } from '@huggingface/hub';
import { MergeStudioError } from '../errors.ts';
import { contentHashKind, parseListing, type CachedFile, type HubCache, type HubFileEntry } from './cache.ts';
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
      const kind = contentHashKind(this.file);
      if (kind) {
        const found = await hashFile(this.sparsePath, kind, this.file.size);
        if (found !== this.file.etag) {
          this.ranges = [];
          await unlink(this.sparsePath).catch(() => undefined);
          await unlink(`${this.sparsePath}.json`).catch(() => undefined);
          throw new MergeStudioError('hub-download-corrupt', `${this.file.path}: the downloaded bytes do not match the Hub's ${kind} (${this.file.etag.slice(0, 12)}..., got ${found.slice(0, 12)}...); the partial download was discarded, try again`, { file: this.file.path, expected: this.file.etag, found });
        }
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
    join(root, repo.startsWith('datasets/') ? getRepoFolderName({ type: 'dataset', name: repo.slice('datasets/'.length) }) : getRepoFolderName({ type: 'model', name: repo }));
  return {
    location: root,
    async getCommit(repo, revision) {
      const text = await readFile(join(repoDir(repo), 'refs', revision), 'utf8').catch(() => null);
      const commit = text?.trim();
      return commit && /^[0-9a-f]{40}$/.test(commit) ? commit : null;
    },
    async putCommit(repo, revision, commit) {
      await writeAtomically(join(repoDir(repo), 'refs', revision), commit);
    },
    async getListing(repo, commit) {
      const text = await readFile(join(repoDir(repo), '.merge-studio', `${commit}.tree.json`), 'utf8').catch(() => null);
      if (text === null) return null;
      try {
        return parseListing(JSON.parse(text));
      } catch {
        return null;
      }
    },
    async putListing(repo, commit, files) {
      await writeAtomically(join(repoDir(repo), '.merge-studio', `${commit}.tree.json`), JSON.stringify(files));
    },
    async openFile(repo, commit, file) {
      const dir = repoDir(repo);
      const blobPath = join(dir, 'blobs', file.etag);
      const snapshotPath = join(dir, 'snapshots', commit, ...file.path.split('/'));
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
