// Browser export sinks over the File System Access API. A FileSystemWritableFileStream writes to a
// swap file and only replaces the target on close(), so an aborted export leaves no partial file.
import { MergeStudioError } from '../errors.ts';
import type { ByteSink, SinkFactory } from './types.ts';

/** The members of FileSystemWritableFileStream used here (not every lib.dom has them). */
interface WritableLike {
  write(data: BufferSource): Promise<void>;
  close(): Promise<void>;
  abort(reason?: unknown): Promise<void>;
}
export interface FileHandleLike {
  readonly kind: 'file';
  readonly name: string;
  createWritable(options?: { keepExistingData?: boolean }): Promise<WritableLike>;
  getFile(): Promise<File>;
  /** FileSystemHandle.move (Chromium 110+ in OPFS, later in picked folders): a rename, in place or into another folder. */
  move?(newNameOrParent: string | DirectoryHandleLike, newName?: string): Promise<void>;
}
export interface DirectoryHandleLike {
  readonly kind: 'directory';
  readonly name: string;
  getFileHandle(name: string, options?: { create?: boolean }): Promise<FileHandleLike>;
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<DirectoryHandleLike>;
  removeEntry(name: string, options?: { recursive?: boolean }): Promise<void>;
  values(): AsyncIterable<FileHandleLike | DirectoryHandleLike>;
}

function sinkError(name: string, what: string, err: unknown): MergeStudioError {
  return new MergeStudioError('sink-failed', `${name}: ${what} (${err instanceof Error ? err.message : String(err)})`, { file: name });
}

/** A sink over one file handle (e.g. from showSaveFilePicker()). */
export async function fileHandleSink(handle: FileSystemFileHandle, name: string): Promise<ByteSink> {
  let stream: WritableLike | null;
  try {
    stream = await (handle as unknown as FileHandleLike).createWritable({ keepExistingData: false });
  } catch (err) {
    throw sinkError(name, 'cannot open for writing', err);
  }
  return {
    name,
    async write(chunk: Uint8Array) {
      if (!stream) throw new MergeStudioError('sink-closed', `${name}: write after close or abort`, { file: name });
      try {
        await stream.write(chunk as Uint8Array<ArrayBuffer>);
      } catch (err) {
        throw sinkError(name, 'write failed (disk full or permission revoked?)', err);
      }
    },
    async close() {
      const s = stream;
      stream = null;
      if (s) await s.close().catch((err: unknown) => { throw sinkError(name, 'cannot finish file', err); });
    },
    async abort() {
      const s = stream;
      stream = null;
      await s?.abort().catch(() => undefined);
    },
  };
}

async function parentOf(root: DirectoryHandleLike, path: string, create: boolean): Promise<{ dir: DirectoryHandleLike; leaf: string }> {
  const parts = path.split('/').filter(Boolean);
  let dir = root;
  for (const p of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(p, { create });
  return { dir, leaf: parts[parts.length - 1] };
}

/** Writes files into a folder picked with showDirectoryPicker({ mode: 'readwrite' }). */
export function directoryHandleSinks(handle: FileSystemDirectoryHandle): SinkFactory {
  const root = handle as unknown as DirectoryHandleLike;
  return {
    async create(fileName: string) {
      const name = `${root.name}/${fileName}`;
      let fileHandle: FileHandleLike;
      let dir: DirectoryHandleLike;
      let leaf: string;
      // getFileHandle({create}) makes an empty file at once; remember whether we did, to undo it on abort.
      let created = false;
      try {
        ({ dir, leaf } = await parentOf(root, fileName, true));
        fileHandle = await dir.getFileHandle(leaf).catch(async (err: unknown) => {
          if (!(err instanceof Error && err.name === 'NotFoundError')) throw err;
          created = true;
          return dir.getFileHandle(leaf, { create: true });
        });
      } catch (err) {
        throw sinkError(name, 'cannot create file', err);
      }
      const sink = await fileHandleSink(fileHandle as unknown as FileSystemFileHandle, name);
      return {
        ...sink,
        async abort() {
          await sink.abort();
          if (created) await dir.removeEntry(leaf).catch(() => undefined);
        },
      };
    },
    async remove(fileName: string) {
      try {
        const { dir, leaf } = await parentOf(root, fileName, false);
        await dir.removeEntry(leaf);
      } catch (err) {
        if (err instanceof Error && err.name === 'NotFoundError') return;
        throw sinkError(`${root.name}/${fileName}`, 'cannot remove', err);
      }
    },
  };
}

// ---------------------------------------------------------------- partial names and their cleanup

/** Files (picked folder) and folders (OPFS) of an export in progress are named `NAME.partial-ID`;
 * only the finished export is renamed to its real names, so a reload or a crash never leaves
 * anything that looks like a complete model. Chromium writes through a swap file named
 * `NAME.partial-ID.crswap` beside the file and may leave it behind when the page goes away
 * mid-write: that name is ours too, and is cleaned up with the rest. */
const PARTIAL = /\.partial-([0-9a-z]{8,32})(?:\.crswap)?$/;

export function partialName(name: string, exportId: string): string {
  return `${name}.partial-${exportId}`;
}

/** The export id of one of our partial names, or null. */
export function partialIdOf(name: string): string | null {
  return PARTIAL.exec(name)?.[1] ?? null;
}

/** A fresh export id (lower-case base 36, as partial names expect). */
export function newExportId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  return [...bytes].map((b) => b.toString(36).padStart(2, '0')).join('').slice(0, 16);
}

/** The Web Lock an export holds while it runs, so cleanup in another tab leaves its files alone. */
export function exportLockName(exportId: string): string {
  return `merge-studio-export-${exportId}`;
}

interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
  query(): Promise<{ held?: { name?: string }[] }>;
}
function locks(): LockManagerLike | null {
  return (globalThis.navigator as { locks?: LockManagerLike } | undefined)?.locks ?? null;
}

/** The names of the Web Locks held now, in any tab of this origin (none without the API). */
export async function heldLocks(): Promise<Set<string>> {
  const manager = locks();
  return new Set(manager ? ((await manager.query()).held ?? []).map((l) => l.name ?? '') : []);
}

/** Runs `work` holding the export's lock (where the Web Locks API exists). */
export async function withExportLock<T>(exportId: string, work: () => Promise<T>): Promise<T> {
  const manager = locks();
  return manager ? manager.request(exportLockName(exportId), work) : work();
}

/** Removes our partial files and folders left in `dir` by exports that no longer run (a reload, a
 * crash, a closed tab); returns their names. Exports still running elsewhere hold their lock. */
export async function removeStalePartials(dir: FileSystemDirectoryHandle | DirectoryHandleLike, held?: ReadonlySet<string>): Promise<string[]> {
  const root = dir as unknown as DirectoryHandleLike;
  const live = held ?? (await heldLocks());
  const removed: string[] = [];
  for await (const entry of root.values()) {
    const id = partialIdOf(entry.name);
    if (!id || live.has(exportLockName(id))) continue;
    try {
      await root.removeEntry(entry.name, { recursive: true });
      removed.push(entry.name);
    } catch (err) {
      if (!(err instanceof Error && err.name === 'NotFoundError')) throw sinkError(`${root.name}/${entry.name}`, 'cannot remove a leftover of an interrupted export', err);
    }
  }
  return removed;
}

export interface StagedSinks extends SinkFactory {
  /** Renames the finished files to their real names, in the order given (config.json last). */
  commit(files: string[]): Promise<void>;
}

/** Writes files into `handle` under partial names; `commit` gives them their real names. */
export function stagedDirectorySinks(handle: FileSystemDirectoryHandle | DirectoryHandleLike, exportId: string): StagedSinks {
  const root = handle as unknown as DirectoryHandleLike;
  const inner = directoryHandleSinks(handle as FileSystemDirectoryHandle);
  return {
    create: (fileName: string) => inner.create(partialName(fileName, exportId)),
    remove: (fileName: string) => inner.remove!(partialName(fileName, exportId)),
    async commit(files: string[]) {
      for (const file of files) {
        const { dir, leaf } = await parentOf(root, file, false);
        const staged = await dir.getFileHandle(partialName(leaf, exportId));
        if (!staged.move) throw sinkError(`${root.name}/${file}`, 'this browser cannot rename files (FileSystemHandle.move); the finished export keeps its .partial names', new Error('no move()'));
        // A file of the same name from an earlier export is replaced.
        await dir.removeEntry(leaf).catch((err: unknown) => {
          if (!(err instanceof Error && err.name === 'NotFoundError')) throw sinkError(`${root.name}/${file}`, 'cannot replace the existing file', err);
        });
        await staged.move(leaf).catch((err: unknown) => { throw sinkError(`${root.name}/${file}`, 'cannot rename the finished file', err); });
      }
    },
  };
}
