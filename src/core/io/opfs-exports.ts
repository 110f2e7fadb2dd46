// Exports kept in the origin private file system (OPFS): one folder per export under `exports/`.
// An export is written into `exports/NAME.partial-ID/` and its files move to `exports/NAME/` only when
// every file is in place, so a reload mid-way leaves a folder that does not look like an export
// (and that the next export removes). Files are read back through File objects, which are backed
// by the disk, to save them out of browser storage without holding them in memory.
import { MergeStudioError } from '../errors.ts';
import { blobSource } from './blob.ts';
import { directoryHandleSinks, exportLockName, heldLocks, partialIdOf, partialName, removeStalePartials, type DirectoryHandleLike, type FileHandleLike } from './fs-access.ts';
import type { FileTree, SinkFactory } from './types.ts';

export const EXPORTS_FOLDER = 'exports';

export interface StoredExport {
  name: string;
  files: { name: string; bytes: number }[];
  bytes: number;
  /** Newest file's modification time (ms since the epoch). */
  modified: number;
}

async function opfsRoot(): Promise<DirectoryHandleLike> {
  const storage = (globalThis.navigator as { storage?: { getDirectory?(): Promise<FileSystemDirectoryHandle> } } | undefined)?.storage;
  if (!storage?.getDirectory) throw new MergeStudioError('opfs-unavailable', 'this browser has no origin private file system (navigator.storage.getDirectory); pick a folder or use the streamed download');
  return (await storage.getDirectory()) as unknown as DirectoryHandleLike;
}

/** The folder holding the kept exports (created on first use). */
export async function exportsFolder(): Promise<DirectoryHandleLike> {
  return (await opfsRoot()).getDirectoryHandle(EXPORTS_FOLDER, { create: true });
}

/** A name typed by the user becomes one folder name, nothing else. */
export function checkExportName(name: string): string {
  const trimmed = name.trim();
  if (!trimmed || trimmed === '.' || trimmed === '..' || /[/\\\0:*?"<>|]/.test(trimmed) || trimmed.length > 120 || partialIdOf(trimmed)) {
    throw new MergeStudioError('export-name', `export name '${name}': use 1 to 120 characters without / \\ : * ? " < > | (it becomes a folder name)`, { found: name });
  }
  return trimmed;
}

async function exists(dir: DirectoryHandleLike, name: string): Promise<boolean> {
  try {
    await dir.getDirectoryHandle(name);
    return true;
  } catch (err) {
    if (err instanceof Error && err.name === 'NotFoundError') return false;
    if (err instanceof Error && err.name === 'TypeMismatchError') return true; // a file of that name
    throw err;
  }
}

export interface OpfsExportWriter {
  sinks: SinkFactory;
  /** Leftovers of interrupted exports removed before this one started. */
  removed: string[];
  /** Moves the finished files into `NAME/` (config.json last): only now does the export appear in the list. */
  commit(): Promise<void>;
  /** Removes the partial folder (after an error or a cancel). */
  discard(): Promise<void>;
}

async function hasFile(dir: DirectoryHandleLike, name: string): Promise<boolean> {
  try {
    await dir.getFileHandle(name);
    return true;
  } catch {
    return false;
  }
}

/** Removes what interrupted exports left in `exports/` and returns the names: partial folders whose
 * export no longer runs (its Web Lock is free), and folders without config.json (a commit cut short:
 * config.json moves in last) unless a running export's partial folder of that name is committing.
 * Finished exports and the folders of exports running in another tab are left alone. */
export async function removeStaleOpfsExports(root: DirectoryHandleLike, held?: ReadonlySet<string>): Promise<string[]> {
  const live = held ?? (await heldLocks());
  const committing = new Set<string>();
  const unfinished: string[] = [];
  for await (const entry of root.values()) {
    if (entry.kind !== 'directory') continue;
    const id = partialIdOf(entry.name);
    if (id) {
      if (live.has(exportLockName(id))) committing.add(entry.name.slice(0, entry.name.length - `.partial-${id}`.length));
    } else if (!(await hasFile(entry, 'config.json'))) unfinished.push(entry.name);
  }
  const removed = await removeStalePartials(root, live);
  for (const name of unfinished) {
    if (committing.has(name)) continue;
    await root.removeEntry(name, { recursive: true }).catch(() => undefined);
    removed.push(name);
  }
  return removed;
}

/** What navigator.storage.estimate() says (bytes), or null where the browser cannot tell. */
export type StorageEstimator = () => Promise<{ usage: number; quota: number } | null>;

const browserEstimate: StorageEstimator = async () => {
  const storage = (globalThis.navigator as { storage?: { estimate?(): Promise<{ usage?: number; quota?: number }> } } | undefined)?.storage;
  const e = await storage?.estimate?.().catch(() => undefined);
  return e && typeof e.usage === 'number' && typeof e.quota === 'number' ? { usage: e.usage, quota: e.quota } : null;
};

const gb = (n: number) => `${(n / 1e9).toFixed(2)} GB`;
const ELSEWHERE = 'export to a folder or as a streamed download instead, or delete kept exports';

/** Browser storage has a quota (and in a private window lives in memory, where it is small): a file
 * that cannot fit is refused before a byte of it is written, and a write the browser refuses half
 * way says how full the storage is and what to do, instead of a bare "data pipe" error. */
export function quotaCheckedSinks(inner: SinkFactory, estimate: StorageEstimator): SinkFactory {
  const state = async () => {
    const e = await estimate().catch(() => null);
    return e ? `browser storage holds ${gb(e.usage)} of its ${gb(e.quota)} quota` : 'browser storage may be full';
  };
  return {
    ...inner,
    async create(fileName: string, size?: number) {
      const e = size !== undefined && size > 0 ? await estimate().catch(() => null) : null;
      if (e && size! > e.quota - e.usage) {
        throw new MergeStudioError('opfs-quota', `${fileName} needs ${gb(size!)} but browser storage has ${gb(Math.max(0, e.quota - e.usage))} free (${gb(e.usage)} used of its ${gb(e.quota)} quota; a private window keeps it in memory, with a small quota): ${ELSEWHERE}`, { file: fileName, needed: size, usage: e.usage, quota: e.quota });
      }
      const sink = await inner.create(fileName, size);
      return {
        ...sink,
        async write(chunk: Uint8Array) {
          try {
            await sink.write(chunk);
          } catch (err) {
            if (!(err instanceof MergeStudioError) || err.code !== 'sink-failed') throw err;
            throw new MergeStudioError('opfs-write-failed', `${err.message}; ${await state()}: ${ELSEWHERE}`, { ...err.details });
          }
        },
      };
    },
  };
}

/** Starts an export into `exports/NAME.partial-ID/`, after removing stale partial folders.
 * `exportsRoot` is the `exports/` folder (tests pass a fake). */
export async function beginOpfsExport(name: string, exportId: string, exportsRoot?: DirectoryHandleLike, estimate: StorageEstimator = browserEstimate): Promise<OpfsExportWriter> {
  const folderName = checkExportName(name);
  const root = exportsRoot ?? (await exportsFolder());
  const removed = await removeStaleOpfsExports(root);
  if (await exists(root, folderName)) throw new MergeStudioError('export-exists', `browser storage already holds an export named '${folderName}'; delete it or choose another name`, { file: folderName });
  const staging = partialName(folderName, exportId);
  const dir = await root.getDirectoryHandle(staging, { create: true });
  return {
    sinks: quotaCheckedSinks(directoryHandleSinks(dir as unknown as FileSystemDirectoryHandle), estimate),
    removed,
    // Chromium renames files but not folders (FileSystemHandle.move on a directory is refused), so
    // the finished files move into `NAME/`, config.json last, and the partial folder goes.
    async commit() {
      if (await exists(root, folderName)) throw new MergeStudioError('export-exists', `browser storage already holds an export named '${folderName}' (made while this one ran)`, { file: folderName });
      const files: FileHandleLike[] = [];
      for await (const entry of dir.values()) if (entry.kind === 'file') files.push(entry);
      if (files.some((f) => !f.move)) throw new MergeStudioError('opfs-no-move', `this browser cannot move files in its storage (FileSystemHandle.move); the export stays in '${EXPORTS_FOLDER}/${staging}'`);
      files.sort((a, b) => Number(a.name === 'config.json') - Number(b.name === 'config.json'));
      const target = await root.getDirectoryHandle(folderName, { create: true });
      for (const f of files) await f.move!(target, f.name);
      await root.removeEntry(staging, { recursive: true });
    },
    async discard() {
      await root.removeEntry(staging, { recursive: true }).catch(() => undefined);
    },
  };
}

/** The finished exports in browser storage, newest first (partial folders are not listed). */
export async function listExports(): Promise<StoredExport[]> {
  const root = await exportsFolder();
  const out: StoredExport[] = [];
  for await (const entry of root.values()) {
    if (entry.kind !== 'directory' || partialIdOf(entry.name)) continue;
    const files: StoredExport['files'] = [];
    let modified = 0;
    for await (const f of entry.values()) {
      if (f.kind !== 'file') continue;
      const file = await f.getFile();
      files.push({ name: f.name, bytes: file.size });
      modified = Math.max(modified, file.lastModified);
    }
    // config.json moves in last: a folder without it is a commit cut short, not an export.
    if (!files.some((f) => f.name === 'config.json')) continue;
    files.sort((a, b) => (a.name < b.name ? -1 : 1));
    out.push({ name: entry.name, files, bytes: files.reduce((s, f) => s + f.bytes, 0), modified });
  }
  return out.sort((a, b) => b.modified - a.modified);
}

export async function deleteExport(name: string): Promise<void> {
  const root = await exportsFolder();
  await root.removeEntry(checkExportName(name), { recursive: true }).catch((err: unknown) => {
    if (err instanceof Error && err.name === 'NotFoundError') throw new MergeStudioError('export-not-found', `browser storage holds no export named '${name}'`, { file: name });
    throw err;
  });
}

/** A kept export as a FileTree whose files read from disk-backed File objects. */
export async function exportTree(name: string): Promise<FileTree> {
  const folderName = checkExportName(name);
  const root = await exportsFolder();
  let dir: DirectoryHandleLike;
  try {
    dir = await root.getDirectoryHandle(folderName);
  } catch {
    throw new MergeStudioError('export-not-found', `browser storage holds no export named '${name}'`, { file: name });
  }
  const label = `browser storage/${EXPORTS_FOLDER}/${folderName}`;
  return {
    name: label,
    async list() {
      const names: string[] = [];
      for await (const f of dir.values()) if (f.kind === 'file') names.push(f.name);
      return names.sort();
    },
    async open(path: string) {
      try {
        return blobSource(await (await dir.getFileHandle(path)).getFile(), `${label}/${path}`);
      } catch {
        throw new MergeStudioError('file-not-found', `${label}: no file '${path}'`, { file: path, tree: label });
      }
    },
  };
}
