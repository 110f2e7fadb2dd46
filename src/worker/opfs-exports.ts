// Exports into the browser's origin-private file system (OPFS) go to a folder `merge-<time>`,
// written file by file; config.json is written last, so a folder without it is an export that did
// not finish. A failed or cancelled export removes its files and its folder; an export cut short
// by closing the tab (no code runs then) leaves its folder behind, and the next export removes it.
// Like the CLI's `OUT.partial-PID` folders of dead processes, a folder is stale only when nobody is
// writing it: each export holds a Web Lock named after its folder while it runs (another tab may be
// exporting), and a folder whose lock is held is left alone.

/** The parts of FileSystemDirectoryHandle used here (a fake in tests). */
export interface OpfsDirectory {
  entries(): AsyncIterable<[string, { kind: 'file' | 'directory' }]>;
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<OpfsDirectory>;
  getFileHandle(name: string): Promise<unknown>;
  removeEntry(name: string, options?: { recursive?: boolean }): Promise<void>;
}

/** Export folders the studio names (ExportPanel: `merge-` + an ISO time with - for : and .). */
export const OPFS_EXPORT_FOLDER = /^merge-\d{4}-\d{2}-\d{2}T[\d-]+Z$/;

export function exportLockName(folder: string): string {
  return `merge-studio-export:${folder}`;
}

async function hasFile(dir: OpfsDirectory, name: string): Promise<boolean> {
  try {
    await dir.getFileHandle(name);
    return true;
  } catch {
    return false;
  }
}

/** Removes export folders that have no config.json and whose lock nobody holds; returns their names. */
export async function removeStaleOpfsExports(root: OpfsDirectory, heldLocks: ReadonlySet<string>): Promise<string[]> {
  const stale: string[] = [];
  for await (const [name, entry] of root.entries()) {
    if (entry.kind !== 'directory' || !OPFS_EXPORT_FOLDER.test(name) || heldLocks.has(exportLockName(name))) continue;
    if (!(await hasFile(await root.getDirectoryHandle(name), 'config.json'))) stale.push(name);
  }
  for (const name of stale) await root.removeEntry(name, { recursive: true });
  return stale;
}

interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
  query(): Promise<{ held?: { name?: string }[] }>;
}

function lockManager(): LockManagerLike | undefined {
  return (globalThis.navigator as unknown as { locks?: LockManagerLike } | undefined)?.locks;
}

/** Runs an export into `folder` of `root`: stale folders are removed first, the folder's lock is
 * held while `write` runs, and the folder is removed when `write` fails. */
export async function withOpfsExportFolder<T>(root: OpfsDirectory, folder: string, write: (dir: OpfsDirectory) => Promise<T>): Promise<T> {
  const locks = lockManager();
  const held = new Set(((await locks?.query())?.held ?? []).map((l) => l.name ?? ''));
  await removeStaleOpfsExports(root, held).catch(() => undefined);
  const run = async () => {
    const dir = await root.getDirectoryHandle(folder, { create: true });
    try {
      return await write(dir);
    } catch (err) {
      await root.removeEntry(folder, { recursive: true }).catch(() => undefined);
      throw err;
    }
  };
  return locks ? locks.request(exportLockName(folder), run) : run();
}
