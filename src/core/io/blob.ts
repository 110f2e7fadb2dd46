// Browser-side sources: a File/Blob read by slices, dropped folders, and directory handles.
import { MergeStudioError } from '../errors.ts';
import { throwIfAborted } from '../progress.ts';
import { checkReadRange } from './memory.ts';
import type { ByteSource, FileTree } from './types.ts';

export function blobSource(blob: Blob, name: string): ByteSource {
  return {
    name,
    size: blob.size,
    async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
      throwIfAborted(signal);
      checkReadRange(name, blob.size, offset, length);
      let buffer: ArrayBuffer;
      try {
        buffer = await blob.slice(offset, offset + length).arrayBuffer();
      } catch (err) {
        throw new MergeStudioError('file-unreadable', `${name}: cannot read ${length} bytes at ${offset} (${err instanceof Error ? err.message : String(err)}); was the file changed or moved?`, { file: name });
      }
      throwIfAborted(signal);
      if (buffer.byteLength !== length) {
        throw new MergeStudioError('source-short-read', `${name}: read ${buffer.byteLength} bytes at ${offset}, expected ${length}`, { file: name });
      }
      return new Uint8Array(buffer);
    },
  };
}

function treeOver(name: string, files: Map<string, Blob>): FileTree {
  return {
    name,
    async list() {
      return [...files.keys()].sort();
    },
    async open(path: string) {
      const blob = files.get(path);
      if (!blob) throw new MergeStudioError('file-not-found', `${name}: no file '${path}'`, { file: path, tree: name });
      return blobSource(blob, `${name}/${path}`);
    },
  };
}

/** Files from `<input webkitdirectory>` or a drop. When every file sits under one top folder
 * (webkitRelativePath 'folder/...'), that folder becomes the tree's root and its name. */
export function fileListTree(files: ArrayLike<File>, name?: string): FileTree {
  const list = Array.from(files);
  const paths = list.map((f) => (f.webkitRelativePath || f.name).split('/').filter(Boolean));
  const top = paths[0]?.[0];
  const shared = paths.length > 0 && paths.every((p) => p.length > 1 && p[0] === top);
  const map = new Map<string, Blob>();
  list.forEach((f, i) => map.set((shared ? paths[i].slice(1) : paths[i]).join('/'), f));
  return treeOver(name ?? (shared ? top! : 'dropped files'), map);
}

// Only the members used here; lib.dom types directory iteration in a lib the project does not load.
interface DirectoryLike {
  readonly name: string;
  readonly kind: 'directory';
  entries(): AsyncIterableIterator<[string, DirectoryLike | FileLike]>;
}
interface FileLike {
  readonly kind: 'file';
  getFile(): Promise<File>;
}

/** A folder picked with showDirectoryPicker(). Files are listed once, when the tree is made. */
export async function directoryHandleTree(handle: FileSystemDirectoryHandle, signal?: AbortSignal): Promise<FileTree> {
  const map = new Map<string, Blob>();
  async function walk(dir: DirectoryLike, prefix: string): Promise<void> {
    for await (const [entryName, entry] of dir.entries()) {
      throwIfAborted(signal);
      if (entry.kind === 'directory') await walk(entry, `${prefix}${entryName}/`);
      else map.set(`${prefix}${entryName}`, await entry.getFile());
    }
  }
  await walk(handle as unknown as DirectoryLike, '');
  return treeOver(handle.name, map);
}
