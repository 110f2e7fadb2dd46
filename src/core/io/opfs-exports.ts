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

/** Starts an export into `exports/NAME.partial-ID/`, after removing stale partial folders.
 * `exportsRoot` is the `exports/` folder (tests pass a fake). */
export async function beginOpfsExport(name: string, exportId: string, exportsRoot?: DirectoryHandleLike): Promise<OpfsExportWriter> {
  const folderName = checkExportName(name);
  const root = exportsRoot ?? (await exportsFolder());
  const removed = await removeStaleOpfsExports(root);
  if (await exists(root, folderName)) throw new MergeStudioError('export-exists', `browser storage already holds an export named '${folderName}'; delete it or choose another name`, { file: folderName });
  const staging = partialName(folderName, exportId);
  const dir = await root.getDirectoryHandle(staging, { create: true });
  return {
    sinks: directoryHandleSinks(dir as unknown as FileSystemDirectoryHandle),
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
