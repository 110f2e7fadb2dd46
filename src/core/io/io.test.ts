import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MergeStudioError } from '../errors.ts';
import { blobSource, fileListTree } from './blob.ts';
import { directoryHandleSinks } from './fs-access.ts';
import { httpRangeSource } from './http.ts';
import { memorySinks, memorySource } from './memory.ts';
import { nodeFileSource, nodeFolderSinks, nodeFolderTree } from './node-file.ts';

const bytes = new Uint8Array(1000).map((_, i) => (i * 7 + 3) & 0xff);

describe('byte sources agree on the same bytes', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ms-io-'));
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'data.bin'), bytes);
    await writeFile(join(dir, 'sub', 'x.txt'), 'x');
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('memory, node file, blob and http ranges return identical slices and refuse out-of-range reads', async () => {
    const sources = [
      memorySource(bytes, 'mem'),
      await nodeFileSource(join(dir, 'data.bin')),
      blobSource(new Blob([bytes]), 'blob'),
      await httpRangeSource('https://example.test/data.bin', { fetch: rangeServer(bytes) }),
    ];
    for (const s of sources) {
      expect(s.size).toBe(1000);
      expect(await s.read(13, 100)).toEqual(bytes.slice(13, 113));
      expect(await s.read(999, 1)).toEqual(bytes.slice(999));
      expect((await s.read(5, 0)).byteLength).toBe(0);
      await expect(s.read(990, 20)).rejects.toMatchObject({ code: 'source-out-of-range' });
      const ctrl = new AbortController();
      ctrl.abort();
      await expect(s.read(0, 4, ctrl.signal)).rejects.toThrow();
    }
  });

  it('memory and node file sources read into the caller\'s buffer, and refuse out-of-range reads', async () => {
    for (const s of [memorySource(bytes, 'mem'), await nodeFileSource(join(dir, 'data.bin'))]) {
      const into = new Uint8Array(300).fill(0xee);
      const view = into.subarray(10, 110);
      const got = await s.readInto!(13, view);
      expect(got).toBe(view);
      expect(into.subarray(10, 110)).toEqual(bytes.slice(13, 113));
      expect(into[9]).toBe(0xee);
      expect(into[110]).toBe(0xee);
      await expect(s.readInto!(990, new Uint8Array(20))).rejects.toMatchObject({ code: 'source-out-of-range' });
    }
  });

  it('nodeFolderTree lists nested files with / paths and refuses paths outside the folder', async () => {
    const tree = nodeFolderTree(dir);
    expect(await tree.list()).toEqual(['data.bin', 'sub/x.txt']);
    expect((await tree.open('sub/x.txt')).size).toBe(1);
    await expect(tree.open('../etc/passwd')).rejects.toMatchObject({ code: 'file-not-found' });
    await expect(tree.open('missing.bin')).rejects.toMatchObject({ code: 'file-not-found' });
    await expect(nodeFolderTree(join(dir, 'nope')).list()).rejects.toMatchObject({ code: 'file-not-found' });
  });

  it('fileListTree strips the dropped folder name', async () => {
    const file = (path: string, content: string) => {
      const f = new File([content], path.split('/').pop()!);
      Object.defineProperty(f, 'webkitRelativePath', { value: path });
      return f;
    };
    const tree = fileListTree([file('my-model/config.json', '{}'), file('my-model/sub/a.bin', 'abc')]);
    expect(tree.name).toBe('my-model');
    expect(await tree.list()).toEqual(['config.json', 'sub/a.bin']);
    expect(new TextDecoder().decode(await (await tree.open('sub/a.bin')).read(1, 2))).toBe('bc');
  });
});

describe('nodeFolderSinks', () => {
  it('writes to <name>.partial, renames on close, deletes on abort', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ms-sink-'));
    try {
      const sinks = nodeFolderSinks(join(dir, 'out'));
      const a = await sinks.create('a.bin');
      await a.write(bytes.subarray(0, 10));
      expect(await readdir(join(dir, 'out'))).toEqual(['a.bin.partial']);
      await a.write(bytes.subarray(10, 20));
      await a.close();
      expect(await readdir(join(dir, 'out'))).toEqual(['a.bin']);
      expect(new Uint8Array(await readFile(join(dir, 'out', 'a.bin')))).toEqual(bytes.subarray(0, 20));
      const b = await sinks.create('b.bin');
      await b.write(bytes);
      await b.abort();
      expect(await readdir(join(dir, 'out'))).toEqual(['a.bin']);
      await expect(b.write(bytes)).rejects.toMatchObject({ code: 'sink-closed' });
      await sinks.remove!('a.bin');
      expect(await readdir(join(dir, 'out'))).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('memorySinks publishes a file only on close', async () => {
    const sinks = memorySinks();
    const s = await sinks.create('x');
    await s.write(new Uint8Array([1, 2]));
    expect(sinks.files.has('x')).toBe(false);
    await s.close();
    expect(sinks.files.get('x')).toEqual(new Uint8Array([1, 2]));
  });
});

/** A fake fetch that serves `data` with real Range semantics, or misbehaves on request. */
function rangeServer(data: Uint8Array, mode: 'ok' | 'ignore-range' | 'wrong-range' | 'status' | 'short' | 'throw' = 'ok', status = 404): typeof fetch {
  return (async (_url: string | URL | Request, init?: RequestInit) => {
    if (mode === 'throw') throw new TypeError('fetch failed');
    if (mode === 'status') return new Response('nope', { status, statusText: 'Not Found' });
    const range = new Headers(init?.headers).get('range') ?? '';
    const m = /^bytes=(\d+)-(\d+)$/.exec(range);
    if (mode === 'ignore-range' || !m) return new Response(data.slice(), { status: 200 });
    const start = Number(m[1]);
    const end = Math.min(Number(m[2]), data.length - 1);
    const body = data.slice(start, mode === 'short' ? end : end + 1);
    const reported = mode === 'wrong-range' ? `bytes ${start + 1}-${end + 1}/${data.length}` : `bytes ${start}-${end}/${data.length}`;
    return new Response(body, { status: 206, headers: { 'content-range': reported } });
  }) as typeof fetch;
}

describe('httpRangeSource errors', () => {
  const url = 'https://example.test/m.safetensors';
  it.each([
    ['ignore-range', 'http-no-range'],
    ['wrong-range', 'http-bad-range'],
    ['status', 'http-status'],
    ['short', 'source-short-read'],
    ['throw', 'http-network'],
  ] as const)('%s -> %s', async (mode, code) => {
    const err = await httpRangeSource(url, { fetch: rangeServer(bytes, mode) }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(MergeStudioError);
    expect((err as MergeStudioError).code).toBe(code);
    expect((err as MergeStudioError).message).toContain(url);
  });

  it('explains 401/403 as gated, sends custom headers, and skips the probe when the size is known', async () => {
    await expect(httpRangeSource(url, { fetch: rangeServer(bytes, 'status', 401) })).rejects.toThrow(/token/);
    const seen: string[] = [];
    const inner = rangeServer(bytes);
    const spy = (async (u: string | URL | Request, init?: RequestInit) => {
      seen.push(`${new Headers(init?.headers).get('authorization')} ${new Headers(init?.headers).get('range')}`);
      return inner(u, init);
    }) as typeof fetch;
    const src = await httpRangeSource(url, { fetch: spy, size: 1000, headers: { Authorization: 'Bearer t' } });
    expect(seen).toEqual([]);
    expect(await src.read(10, 3)).toEqual(bytes.slice(10, 13));
    expect(seen).toEqual(['Bearer t bytes=10-12']);
  });
});

describe('directoryHandleSinks (over an in-memory stand-in for the File System Access API)', () => {
  it('commits on close, and an aborted new file disappears', async () => {
    const { root, files } = fakeDirectory();
    const sinks = directoryHandleSinks(root as unknown as FileSystemDirectoryHandle);
    const a = await sinks.create('sub/a.bin');
    await a.write(new Uint8Array([1, 2, 3]));
    expect(files.get('sub/a.bin')).toEqual(new Uint8Array(0));
    await a.close();
    expect(files.get('sub/a.bin')).toEqual(new Uint8Array([1, 2, 3]));
    const b = await sinks.create('b.bin');
    await b.write(new Uint8Array([9]));
    await b.abort();
    expect(files.has('b.bin')).toBe(false);
    await sinks.remove!('sub/a.bin');
    expect(files.has('sub/a.bin')).toBe(false);
  });
});

/** Swap-file semantics of FileSystemWritableFileStream: content lands only on close(). */
function fakeDirectory() {
  const files = new Map<string, Uint8Array>();
  const notFound = () => Object.assign(new Error('not found'), { name: 'NotFoundError' });
  const dirAt = (prefix: string): unknown => ({
    name: prefix || 'root',
    async getDirectoryHandle(n: string) { return dirAt(`${prefix}${n}/`); },
    async getFileHandle(n: string, opts?: { create?: boolean }) {
      const path = `${prefix}${n}`;
      if (!files.has(path)) {
        if (!opts?.create) throw notFound();
        files.set(path, new Uint8Array(0));
      }
      return {
        async createWritable() {
          const parts: Uint8Array[] = [];
          return {
            async write(d: Uint8Array) { parts.push(d.slice()); },
            async close() { files.set(path, new Uint8Array(await new Blob(parts as BlobPart[]).arrayBuffer())); },
            async abort() { parts.length = 0; },
          };
        },
      };
    },
    async removeEntry(n: string) {
      if (!files.delete(`${prefix}${n}`)) throw notFound();
    },
  });
  return { root: dirAt(''), files };
}
