// The `--out` folder of merge, dam and search: resolved once and checked before any work starts
// (not a symbolic link, not a file, not a non-empty folder, on a regular writable file system), and
// created without `mkdir -p`, whose Node implementation spins forever on paths like /proc/self/x.
// Also removes the staging folders (`OUT.partial-PID`) that killed runs left next to --out.
import { constants, existsSync } from 'node:fs';
import { access, lstat, mkdir, readdir, readlink, rename, rm, rmdir, stat, statfs } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { MergeStudioError } from '../core/errors.ts';

/** statfs types of the kernel's pseudo file systems (linux/magic.h), where a model cannot live. */
const PSEUDO_FILE_SYSTEMS = new Map<number, string>([
  [0x9fa0, 'procfs'],
  [0x62656572, 'sysfs'],
  [0x1cd1, 'devpts'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0xcafe4a11, 'bpf'],
  [0x6165676c, 'pstore'],
  [0x62656570, 'configfs'],
  [0x42494e4d, 'binfmt_misc'],
]);

function outError(flag: string, given: string, message: string): MergeStudioError {
  return new MergeStudioError('out-invalid', `${flag} ${given}: ${message}`, { file: given });
}

/** The nearest existing folder at or above `path` (at most one stat per path component). */
async function nearestExisting(path: string): Promise<{ path: string; isDirectory: boolean }> {
  let at = path;
  for (;;) {
    const st = await stat(at).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? null : Promise.reject(err)));
    if (st) return { path: at, isDirectory: st.isDirectory() };
    const up = dirname(at);
    if (up === at) return { path: at, isDirectory: false };
    at = up;
  }
}

export interface OutCheckOptions {
  /** The flag's name in messages (default --out). */
  flag?: string;
  /** An existing non-empty folder is fine (search resumes into it). */
  allowNonEmpty?: boolean;
}

/** Resolves `given` once and checks that it can become the output folder; returns the absolute
 * path every later step must use. Nothing is created. */
export async function checkOutDir(given: string, options: OutCheckOptions = {}): Promise<string> {
  const flag = options.flag ?? '--out';
  const out = resolve(given);
  const link = await lstat(out).catch(() => null);
  if (link?.isSymbolicLink()) {
    const target = await readlink(out).catch(() => '?');
    throw outError(flag, given, `is a symbolic link (to ${target}); give the folder's own path or a new folder`);
  }
  if (link) {
    if (!link.isDirectory()) throw outError(flag, given, 'is a file, not a folder; choose a new folder');
    if (!options.allowNonEmpty && (await readdir(out)).length > 0) {
      throw new MergeStudioError('out-exists', `${flag} ${given} already exists and is not an empty folder; choose a new folder`, { file: given });
    }
  }
  const parent = await nearestExisting(link ? out : dirname(out));
  if (!parent.isDirectory) throw outError(flag, given, `${parent.path} is a file, so no folder can be created under it`);
  const fs = await statfs(parent.path).catch(() => null);
  const pseudo = fs ? PSEUDO_FILE_SYSTEMS.get(Number(fs.type)) : undefined;
  if (pseudo) throw outError(flag, given, `${parent.path} is on ${pseudo}, a kernel pseudo file system, not a regular one; choose a folder on a disk`);
  try {
    await access(parent.path, constants.W_OK | constants.X_OK);
  } catch {
    throw outError(flag, given, `cannot create anything in ${parent.path} (no write permission)`);
  }
  return out;
}

/** Creates `path` and its missing parents one at a time (bounded by the path's depth). */
export async function makeFolders(path: string): Promise<void> {
  const missing: string[] = [];
  let at = resolve(path);
  for (;;) {
    const st = await stat(at).catch(() => null);
    if (st) {
      if (!st.isDirectory()) throw new MergeStudioError('out-invalid', `${at} is a file, so ${path} cannot be created`, { file: path });
      break;
    }
    missing.push(at);
    const up = dirname(at);
    if (up === at) break;
    at = up;
  }
  for (const dir of missing.reverse()) {
    try {
      await mkdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && (await stat(dir)).isDirectory()) continue;
      throw new MergeStudioError('out-invalid', `cannot create the folder ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file: path });
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes `OUT.partial-PID` folders next to `out` whose process is gone (a killed run's staging
 * folder), never one of a live process; returns the paths removed. */
export async function removeStalePartials(out: string): Promise<string[]> {
  const dir = dirname(out);
  const prefix = `${basename(out)}.partial-`;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const removed: string[] = [];
  for (const e of entries) {
    if (!e.isDirectory() || !e.name.startsWith(prefix)) continue;
    const pidText = e.name.slice(prefix.length);
    if (!/^[1-9]\d{0,9}$/.test(pidText)) continue;
    const pid = Number(pidText);
    if (pid === process.pid || processAlive(pid)) continue;
    const path = join(dir, e.name);
    await rm(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}

/** Moves the finished staging folder to `out` (an empty folder there is replaced). */
export async function publish(staging: string, out: string, given: string): Promise<void> {
  try {
    if (existsSync(out)) await rmdir(out);
    await rename(staging, out);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new MergeStudioError('out-invalid', `--out ${given}: the finished model could not be moved there from ${staging} (${code}); was --out changed while the merge ran?`, { file: given });
  }
}
