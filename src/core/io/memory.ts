// In-memory sources and sinks: tests, small files, and the browser's merged-model preview.
import { MergeStudioError } from '../errors.ts';
import { throwIfAborted } from '../progress.ts';
import type { ByteSink, ByteSource, FileTree, SinkFactory } from './types.ts';

/** Checks a read request against the source size; shared by every ByteSource implementation. */
export function checkReadRange(name: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new MergeStudioError('source-out-of-range', `${name}: cannot read ${length} bytes at offset ${offset}; the source holds ${size} bytes`, { file: name, offset, length, size });
  }
}

export function memorySource(bytes: Uint8Array, name = 'memory'): ByteSource {
  return {
    name,
    size: bytes.byteLength,
    async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
      throwIfAborted(signal);
      checkReadRange(name, bytes.byteLength, offset, length);
      // A copy, so callers may keep or mutate what they read.
      return bytes.slice(offset, offset + length);
    },
    async readInto(offset: number, into: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
      throwIfAborted(signal);
      checkReadRange(name, bytes.byteLength, offset, into.byteLength);
      into.set(bytes.subarray(offset, offset + into.byteLength));
      return into;
    },
  };
}

/** Collects written files in a Map; a file appears there only once its sink is closed. */
export function memorySinks(): SinkFactory & { files: Map<string, Uint8Array> } {
  const files = new Map<string, Uint8Array>();
  return {
    files,
    async create(fileName: string): Promise<ByteSink> {
      let chunks: Uint8Array[] | null = [];
      return {
        name: fileName,
        async write(chunk: Uint8Array) {
          if (!chunks) throw new MergeStudioError('sink-closed', `${fileName}: write after close or abort`, { file: fileName });
          chunks.push(chunk.slice());
        },
        async close() {
          if (!chunks) return;
          const total = chunks.reduce((s, c) => s + c.byteLength, 0);
          const out = new Uint8Array(total);
          let at = 0;
          for (const c of chunks) {
            out.set(c, at);
            at += c.byteLength;
          }
          chunks = null;
          files.set(fileName, out);
        },
        async abort() {
          chunks = null;
        },
      };
    },
    async remove(fileName: string) {
      files.delete(fileName);
    },
  };
}

/** A FileTree over in-memory files (tests, dropped-and-buffered files). */
export function memoryTree(files: Map<string, Uint8Array>, name = 'memory'): FileTree {
  return {
    name,
    async list() {
      return [...files.keys()].sort();
    },
    async open(path: string) {
      const bytes = files.get(path);
      if (!bytes) throw new MergeStudioError('file-not-found', `${name}: no file '${path}'`, { file: path, tree: name });
      return memorySource(bytes, `${name}/${path}`);
    },
  };
}
