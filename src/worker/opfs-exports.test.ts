// Stale OPFS exports: folders of exports cut short (no config.json) are removed by the next export
// unless another export holds their lock; finished exports and other folders stay; a failing
// export removes its own folder.
import { describe, expect, it } from 'vitest';
import { exportLockName, removeStaleOpfsExports, withOpfsExportFolder, type OpfsDirectory } from './opfs-exports.ts';

/** An in-memory directory tree with the OPFS handle methods the module uses. */
class FakeDir implements OpfsDirectory {
  readonly children = new Map<string, FakeDir | 'file'>();
  async *entries(): AsyncIterable<[string, { kind: 'file' | 'directory' }]> {
    for (const [name, c] of this.children) yield [name, { kind: c === 'file' ? 'file' : 'directory' }];
  }
  async getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<FakeDir> {
    const c = this.children.get(name);
    if (c instanceof FakeDir) return c;
    if (c || !options?.create) throw new DOMException(name, 'NotFoundError');
    const d = new FakeDir();
    this.children.set(name, d);
    return d;
  }
  async getFileHandle(name: string): Promise<unknown> {
    if (this.children.get(name) !== 'file') throw new DOMException(name, 'NotFoundError');
    return {};
  }
  async removeEntry(name: string): Promise<void> {
    if (!this.children.delete(name)) throw new DOMException(name, 'NotFoundError');
  }
  add(path: string[]): void {
    const [head, ...rest] = path;
    if (rest.length === 0) this.children.set(head, 'file');
    else {
      if (!(this.children.get(head) instanceof FakeDir)) this.children.set(head, new FakeDir());
      (this.children.get(head) as FakeDir).add(rest);
    }
  }
}

const CUT = 'merge-2026-12-01T10-00-00-000Z';
const DONE = 'merge-2026-12-01T11-00-00-000Z';
const BUSY = 'merge-2026-12-01T12-00-00-000Z';

function opfs(): FakeDir {
  const root = new FakeDir();
  root.add([CUT, 'model-00001-of-00002.safetensors']);
  root.add([DONE, 'model.safetensors']);
  root.add([DONE, 'config.json']);
  root.add([BUSY, 'model-00001-of-00002.safetensors']);
  root.add(['merge-notes', 'x.txt']);
  root.add(['my-own-folder', 'model.safetensors']);
  return root;
}

describe('stale OPFS exports', () => {
  it('removes unfinished export folders whose lock is free, only those', async () => {
    const root = opfs();
    expect(await removeStaleOpfsExports(root, new Set([exportLockName(BUSY)]))).toEqual([CUT]);
    expect([...root.children.keys()].sort()).toEqual([BUSY, DONE, 'merge-notes', 'my-own-folder'].sort());
  });

  it('an export cleans up before it starts and removes its own folder when it fails', async () => {
    const root = opfs();
    const NEW = 'merge-2026-12-05T09-00-00-000Z';
    await expect(withOpfsExportFolder(root, NEW, async (dir) => {
      (dir as FakeDir).add(['model-00001-of-00002.safetensors']);
      throw new Error('tensor x: non-finite');
    })).rejects.toThrow('tensor x: non-finite');
    // No Web Locks in Node: every unfinished folder counts as stale.
    expect([...root.children.keys()].sort()).toEqual([DONE, 'merge-notes', 'my-own-folder'].sort());
    expect(await withOpfsExportFolder(root, NEW, async (dir) => {
      (dir as FakeDir).add(['config.json']);
      return 'ok';
    })).toBe('ok');
    expect(root.children.has(NEW)).toBe(true);
  });
});
