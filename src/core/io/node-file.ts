// Node file-system sources, folder trees and sinks (CLI, tests). Not imported by browser code.
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { MergeStudioError } from '../errors.ts';
import { throwIfAborted } from '../progress.ts';
import { checkReadRange } from './memory.ts';
import type { ByteSink, ByteSource, FileTree, SinkFactory } from './types.ts';

function fsError(code: string, path: string, err: unknown, what: string): MergeStudioError {
  const reason = err instanceof Error ? err.message : String(err);
  return new MergeStudioError(code, `${path}: ${what}: ${reason}`, { file: path });
}

/** Random access to a local file: each read opens, reads at a position and closes, so no
 * descriptor outlives a read. */
export async function nodeFileSource(path: string): Promise<ByteSource> {
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new Error('not a regular file');
    size = st.size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new MergeStudioError('file-not-found', `${path}: no such file`, { file: path });
    throw fsError('file-unreadable', path, err, 'cannot open');
  }
  return {
    name: path,
    size,
    async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
      throwIfAborted(signal);
      checkReadRange(path, size, offset, length);
      return readFileInto(path, offset, new Uint8Array(length), signal);
    },
    async readInto(offset: number, into: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
      throwIfAborted(signal);
      checkReadRange(path, size, offset, into.byteLength);
      return readFileInto(path, offset, into, signal);
    },
  };
}

/** Reads `out.byteLength` bytes of `path` at `offset` into `out`: one positioned read per GiB
 * (the whole request goes to the kernel at once, straight into the caller's buffer). */
async function readFileInto(path: string, offset: number, out: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
  throwIfAborted(signal);
  const length = out.byteLength;
  let handle;
  try {
    handle = await open(path, 'r');
    let done = 0;
    while (done < length) {
      throwIfAborted(signal);
      const { bytesRead } = await handle.read(out, done, Math.min(length - done, 1 << 30), offset + done);
      if (bytesRead === 0) {
        throw new MergeStudioError('source-short-read', `${path}: file ended after ${offset + done} bytes while reading ${length} bytes at ${offset} (was it changed while open?)`, { file: path });
      }
      done += bytesRead;
    }
  } catch (err) {
    if (err instanceof MergeStudioError || (err instanceof Error && err.name === 'AbortError')) throw err;
    throw fsError('file-unreadable', path, err, `cannot read ${length} bytes at ${offset}`);
  } finally {
    await handle?.close();
  }
  return out;
}

async function listFiles(root: string, dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    const full = join(dir, e.name);
    if (e.isDirectory()) await listFiles(root, full, out);
    else if (e.isFile()) out.push(relative(root, full).split(sep).join('/'));
  }
}

/** A local folder as a FileTree; paths are '/'-separated and relative to `dir`. */
export function nodeFolderTree(dir: string): FileTree {
  const root = resolve(dir);
  return {
    name: dir,
    async list(signal?: AbortSignal) {
      throwIfAborted(signal);
      const out: string[] = [];
      try {
        await listFiles(root, root, out);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new MergeStudioError('file-not-found', `${dir}: no such folder`, { file: dir });
        if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') throw new MergeStudioError('not-a-folder', `${dir}: is a file, not a folder`, { file: dir });
        throw fsError('file-unreadable', dir, err, 'cannot list folder');
      }
      return out.sort();
    },
    async open(path: string, signal?: AbortSignal) {
      throwIfAborted(signal);
      const full = resolve(root, path);
      if (full !== root && !full.startsWith(root + sep)) {
        throw new MergeStudioError('file-not-found', `${dir}: '${path}' lies outside the folder`, { file: path, tree: dir });
      }
      return nodeFileSource(full);
    },
  };
}

/** Writes files into a folder. Each file is written as `<name>.partial` and renamed on close,
 * so a cancelled or failed export never leaves a half-written file under the final name. */
export function nodeFolderSinks(dir: string): SinkFactory {
  return {
    async create(fileName: string): Promise<ByteSink> {
      const finalPath = join(dir, fileName);
      const partialPath = `${finalPath}.partial`;
      try {
        await mkdir(join(finalPath, '..'), { recursive: true });
      } catch (err) {
        throw fsError('sink-failed', finalPath, err, 'cannot create folder');
      }
      let handle: import('node:fs/promises').FileHandle | null;
      try {
        handle = await open(partialPath, 'w');
      } catch (err) {
        throw fsError('sink-failed', partialPath, err, 'cannot create file');
      }
      return {
        name: finalPath,
        async write(chunk: Uint8Array) {
          if (!handle) throw new MergeStudioError('sink-closed', `${finalPath}: write after close or abort`, { file: finalPath });
          try {
            let done = 0;
            while (done < chunk.byteLength) {
              const { bytesWritten } = await handle.write(chunk, done, chunk.byteLength - done);
              done += bytesWritten;
            }
          } catch (err) {
            throw fsError('sink-failed', partialPath, err, 'write failed');
          }
        },
        async close() {
          if (!handle) return;
          const h = handle;
          handle = null;
          try {
            await h.close();
            await rename(partialPath, finalPath);
          } catch (err) {
            throw fsError('sink-failed', finalPath, err, 'cannot finish file');
          }
        },
        async abort() {
          const h = handle;
          handle = null;
          await h?.close().catch(() => undefined);
          await unlink(partialPath).catch(() => undefined);
        },
      };
    },
    async remove(fileName: string) {
      const path = join(dir, fileName);
      for (const p of [path, `${path}.partial`]) {
        await unlink(p).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw fsError('sink-failed', p, err, 'cannot remove');
        });
      }
    },
  };
}
