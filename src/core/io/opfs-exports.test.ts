// Exports in browser storage (OPFS) against an in-memory stand-in for its directory handles: an
// export is written under `NAME.partial-ID/` and appears as `NAME/` only once committed; the next
// export removes what an interrupted one left (partial folders whose export's Web Lock is free, and
// a commit cut short, recognisable by its missing config.json) and never touches finished exports or
// the folders of exports running in another tab. The browser itself is exercised by
// e2e/studio-export.spec.ts (reload mid-export, then the next export cleans up).
import { describe, expect, it } from 'vitest';
import { exportLockName, partialName, removeStalePartials, type DirectoryHandleLike, type FileHandleLike } from './fs-access.ts';
import { beginOpfsExport, removeStaleOpfsExports } from './opfs-exports.ts';

function notFound(name: string): DOMException {
  return new DOMException(`${name} not found`, 'NotFoundError');
}

class FakeFile implements FileHandleLike {
  readonly kind = 'file' as const;
  bytes = new Uint8Array(0);
  constructor(public name: string, public parent: FakeDir) {}
  async createWritable() {
    const parts: Uint8Array[] = [];
    return {
      write: async (data: BufferSource) => {
        const bytes = new Uint8Array(data as ArrayBuffer);
        // A storage that refuses writes past its limit, as Chromium's does (its words).
        if (storageLimit !== null && storedBytes + bytes.byteLength > storageLimit) throw new DOMException('Failed to write data to data pipe', 'InvalidStateError');
        storedBytes += bytes.byteLength;
        parts.push(bytes.slice());
      },
      close: async () => {
        this.bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
        let at = 0;
        for (const p of parts) this.bytes.set(p, (at += p.byteLength) - p.byteLength);
      },
      abort: async () => undefined,
    };
  }
  async getFile(): Promise<File> {
    return new File([this.bytes], this.name);
  }
  async move(to: string | DirectoryHandleLike, newName?: string): Promise<void> {
    const dest = typeof to === 'string' ? this.parent : (to as FakeDir);
    const name = typeof to === 'string' ? to : newName ?? this.name;
    this.parent.children.delete(this.name);
    this.name = name;
    this.parent = dest;
    dest.children.set(name, this);
  }
}

class FakeDir implements DirectoryHandleLike {
  readonly kind = 'directory' as const;
  readonly children = new Map<string, FakeDir | FakeFile>();
  constructor(readonly name: string) {}
  async getFileHandle(name: string, options?: { create?: boolean }): Promise<FakeFile> {
    const c = this.children.get(name);
    if (c instanceof FakeFile) return c;
    if (c) throw new DOMException(name, 'TypeMismatchError');
    if (!options?.create) throw notFound(name);
    const f = new FakeFile(name, this);
    this.children.set(name, f);
    return f;
  }
  async getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<FakeDir> {
    const c = this.children.get(name);
    if (c instanceof FakeDir) return c;
    if (c) throw new DOMException(name, 'TypeMismatchError');
    if (!options?.create) throw notFound(name);
    const d = new FakeDir(name);
    this.children.set(name, d);
    return d;
  }
  async removeEntry(name: string): Promise<void> {
    if (!this.children.delete(name)) throw notFound(name);
  }
  async *values(): AsyncIterable<FakeDir | FakeFile> {
    yield* [...this.children.values()];
  }
  /** Adds `path` (a/b/c) as an empty file, creating folders on the way. */
  add(path: string): void {
    const [head, ...rest] = path.split('/');
    if (rest.length === 0) this.children.set(head, new FakeFile(head, this));
    else {
      if (!(this.children.get(head) instanceof FakeDir)) this.children.set(head, new FakeDir(head));
      (this.children.get(head) as FakeDir).add(rest.join('/'));
    }
  }
}

/** Bytes written through the fakes, and a limit past which their writes fail (null: none). */
let storedBytes = 0;
let storageLimit: number | null = null;

const names = (dir: FakeDir) => [...dir.children.keys()].sort();

describe('exports in browser storage', () => {
  it('the next export removes what interrupted ones left, and only that', async () => {
    const root = new FakeDir('exports');
    root.add('done/model.safetensors');
    root.add('done/config.json');
    root.add(`${partialName('cut', 'aaaaaaaa')}/model-00001-of-00002.safetensors`); // reloaded mid-write
    root.add('half/model.safetensors'); // reloaded mid-commit: config.json moves in last
    root.add(`${partialName('half', 'bbbbbbbb')}/config.json`);
    root.add(`${partialName('busy', 'cccccccc')}/model.safetensors`); // another tab is writing it
    root.add(`${partialName('moving', 'dddddddd')}/config.json`); // another tab is committing it
    root.add('moving/model.safetensors');
    const held = new Set([exportLockName('cccccccc'), exportLockName('dddddddd')]);
    expect((await removeStaleOpfsExports(root, held)).sort()).toEqual([partialName('cut', 'aaaaaaaa'), 'half', partialName('half', 'bbbbbbbb')].sort());
    expect(names(root)).toEqual(['busy.partial-cccccccc', 'done', 'moving', 'moving.partial-dddddddd']);
  });

  it('in a picked folder, partial files and the swap files Chromium leaves beside them are removed; finished files and running exports are not', async () => {
    const picked = new FakeDir('picked');
    picked.add('config.json'); // an earlier finished export
    picked.add('model.safetensors');
    picked.add(partialName('model-00001-of-00002.safetensors', 'aaaaaaaa')); // reloaded mid-export
    picked.add(`${partialName('model-00002-of-00002.safetensors', 'aaaaaaaa')}.crswap`); // Chromium's swap file of the write cut off
    picked.add(partialName('model.safetensors', 'cccccccc')); // another tab is writing it
    picked.add(`${partialName('model.safetensors', 'cccccccc')}.crswap`);
    picked.add('notes.crswap'); // not ours
    const removed = await removeStalePartials(picked, new Set([exportLockName('cccccccc')]));
    expect(removed.sort()).toEqual([partialName('model-00001-of-00002.safetensors', 'aaaaaaaa'), `${partialName('model-00002-of-00002.safetensors', 'aaaaaaaa')}.crswap`].sort());
    expect(names(picked)).toEqual(['config.json', 'model.safetensors', 'model.safetensors.partial-cccccccc', 'model.safetensors.partial-cccccccc.crswap', 'notes.crswap']);
  });

  it('an export is invisible until committed, then holds every file; a name is not reused', async () => {
    const root = new FakeDir('exports');
    root.add(`${partialName('old', 'eeeeeeee')}/model.safetensors`);
    const w = await beginOpfsExport('merged', 'ffffffff', root);
    expect(w.removed).toEqual([partialName('old', 'eeeeeeee')]);
    for (const [name, text] of [['model.safetensors', 'tensors'], ['config.json', '{}']]) {
      const sink = await w.sinks.create(name);
      await sink.write(new TextEncoder().encode(text));
      await sink.close();
    }
    expect(names(root)).toEqual([partialName('merged', 'ffffffff')]);
    await w.commit();
    expect(names(root)).toEqual(['merged']);
    const merged = root.children.get('merged') as FakeDir;
    expect(names(merged)).toEqual(['config.json', 'model.safetensors']);
    expect(new TextDecoder().decode((merged.children.get('model.safetensors') as FakeFile).bytes)).toBe('tensors');
    await expect(beginOpfsExport('merged', '99999999', root)).rejects.toThrow(/already holds an export named 'merged'/);
    await expect(beginOpfsExport('a/b', '99999999', root)).rejects.toThrow(/export name 'a\/b'/);
  });

  it('a failed export discards its partial folder', async () => {
    const root = new FakeDir('exports');
    const w = await beginOpfsExport('failed', '12345678', root);
    const sink = await w.sinks.create('model.safetensors');
    await sink.write(new Uint8Array(8));
    await sink.close();
    await w.discard();
    expect(names(root)).toEqual([]);
  });

  it('a file that cannot fit the storage quota is refused before it is written; a refused write says how full the storage is', async () => {
    storedBytes = 0;
    storageLimit = 1000;
    try {
      const estimate = async () => ({ usage: storedBytes, quota: storageLimit! });
      const root = new FakeDir('exports');
      const w = await beginOpfsExport('big', 'abcdefgh', root, estimate);
      const small = await w.sinks.create('config.json', 600);
      await small.write(new Uint8Array(600));
      await small.close();
      // 600 of 1000 used: a 500-byte shard does not fit and is refused before a file is made.
      const refused = await w.sinks.create('model.safetensors', 500).catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: 'opfs-quota' });
      expect(String((refused as Error).message)).toMatch(/model\.safetensors needs .* but browser storage has .* free .*export to a folder or as a streamed download/);
      expect(names(root.children.get(partialName('big', 'abcdefgh')) as FakeDir)).toEqual(['config.json']);
      // A size the writer did not announce (or a quota that shrank) fails in the browser's own
      // words; the error adds how full the storage is and where to export instead.
      const unannounced = await w.sinks.create('extra.bin');
      const failed = await unannounced.write(new Uint8Array(500)).catch((e: unknown) => e);
      expect(failed).toMatchObject({ code: 'opfs-write-failed' });
      expect(String((failed as Error).message)).toMatch(/data pipe.*browser storage holds 0\.00 GB of its 0\.00 GB quota: export to a folder/);
      await unannounced.abort();
      await w.discard();
      expect(names(root)).toEqual([]);
    } finally {
      storageLimit = null;
    }
  });
});
