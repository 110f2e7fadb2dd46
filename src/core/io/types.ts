/** Random-access bytes: a local file, a Blob, an HTTP resource read by ranges. */
export interface ByteSource {
  /** Human-readable name used in error messages (file path, URL, Hub path). */
  readonly name: string;
  readonly size: number;
  /** Reads exactly `length` bytes at `offset`; rejects if the source is shorter. */
  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;
  /** Optional: reads exactly `into.byteLength` bytes at `offset` into the caller's buffer (no fresh
   * allocation per read: the engine reuses its buffers from chunk to chunk) and returns `into`. */
  readInto?(offset: number, into: Uint8Array, signal?: AbortSignal): Promise<Uint8Array>;
}

/** `source.readInto` where the source has it, else a fresh `read` of the same bytes. */
export function readIntoOrFresh(source: ByteSource, offset: number, into: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
  return source.readInto ? source.readInto(offset, into, signal) : source.read(offset, into.byteLength, signal);
}

/** A streaming destination: chunks are appended in order; `close` commits, `abort` discards. */
export interface ByteSink {
  readonly name: string;
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}

/** Creates sinks for named files inside one output location (a folder, an in-memory map, ...). */
export interface SinkFactory {
  /** `size`, when the writer knows it up front (every export file's size is planned), lets an
   * archive sink write the entry header before the data; other sinks ignore it. */
  create(fileName: string, size?: number): Promise<ByteSink>;
  /** Removes a file written earlier (used to clean up a failed or cancelled export). */
  remove?(fileName: string): Promise<void>;
}

/** A read-only tree of named files: a local folder, dropped files, a Hub repo at a revision. */
export interface FileTree {
  /** Display name (folder path, `org/name@revision`). */
  readonly name: string;
  /** Paths of the files in the tree, '/'-separated and relative to its root. */
  list(signal?: AbortSignal): Promise<string[]>;
  /** Opens one file; rejects with a MergeStudioError (code 'file-not-found') if it is absent. */
  open(path: string, signal?: AbortSignal): Promise<ByteSource>;
}
