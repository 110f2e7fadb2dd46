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
interface FileHandleLike {
  createWritable(options?: { keepExistingData?: boolean }): Promise<WritableLike>;
}
interface DirectoryHandleLike {
  readonly name: string;
  getFileHandle(name: string, options?: { create?: boolean }): Promise<FileHandleLike>;
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<DirectoryHandleLike>;
  removeEntry(name: string): Promise<void>;
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
