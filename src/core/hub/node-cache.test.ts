// The disk cache on its own: partial files survive a restart, a completed file is checked against
// its etag, files other tools completed are reused; and the range arithmetic against a bitmap.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MergeStudioError } from '../errors.ts';
import type { HubFileEntry } from './cache.ts';
import { nodeHubCache } from './node-cache.ts';
import { addRange, missingRanges, type ByteRange } from './ranges.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ms-node-cache-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const content = new Uint8Array(5000).map((_, i) => (i * 31 + 7) & 0xff);
const entry: HubFileEntry = { path: 'sub/model.safetensors', size: content.byteLength, etag: createHash('sha256').update(content).digest('hex'), lfs: true };
const COMMIT = 'a'.repeat(40);

describe('nodeHubCache', () => {
  it('keeps partial ranges across instances and completes into a verified blob', async () => {
    const root = join(dir, 'resume');
    const first = await nodeHubCache(root).openFile('org/m', COMMIT, entry);
    await first.write(1000, content.subarray(1000, 3000));
    await first.flush();
    const again = await nodeHubCache(root).openFile('org/m', COMMIT, entry);
    expect(await again.missing(0, 5000)).toEqual([[0, 1000], [3000, 5000]]);
    expect(Buffer.from(await again.read(1500, 100)).equals(Buffer.from(content.subarray(1500, 1600)))).toBe(true);
    await again.write(0, content.subarray(0, 1000));
    await again.write(3000, content.subarray(3000));
    await again.flush();
    const blob = join(root, 'models--org--m', 'blobs', entry.etag);
    expect(Buffer.from(await readFile(blob)).equals(Buffer.from(content))).toBe(true);
    expect(Buffer.from(await readFile(join(root, 'models--org--m', 'snapshots', COMMIT, 'sub', 'model.safetensors'))).equals(Buffer.from(content))).toBe(true);
    await expect(stat(`${blob}.sparse`)).rejects.toThrow();
    expect(await (await nodeHubCache(root).openFile('org/m', COMMIT, entry)).missing(0, 5000)).toEqual([]);
  });

  it('discards a completed download whose bytes do not match the etag', async () => {
    const root = join(dir, 'corrupt');
    const file = await nodeHubCache(root).openFile('org/m', COMMIT, entry);
    const wrong = content.slice();
    wrong[4321] ^= 1;
    await file.write(0, wrong);
    const err = await file.flush().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(MergeStudioError);
    expect((err as MergeStudioError).code).toBe('hub-download-corrupt');
    expect((err as MergeStudioError).message).toContain('sub/model.safetensors');
    expect(await file.missing(0, 5000)).toEqual([[0, 5000]]);
    expect(await (await nodeHubCache(root).openFile('org/m', COMMIT, entry)).missing(0, 5000)).toEqual([[0, 5000]]);
  });

  it('reuses a snapshot file another tool completed, and ignores a damaged range record', async () => {
    const root = join(dir, 'foreign');
    const snap = join(root, 'models--org--m', 'snapshots', COMMIT, 'sub');
    await mkdir(snap, { recursive: true });
    await writeFile(join(snap, 'model.safetensors'), content);
    expect(await (await nodeHubCache(root).openFile('org/m', COMMIT, entry)).missing(0, 5000)).toEqual([]);

    const other: HubFileEntry = { ...entry, path: 'x.bin', etag: 'b'.repeat(64) };
    const blobs = join(root, 'models--org--m', 'blobs');
    await mkdir(blobs, { recursive: true });
    await writeFile(join(blobs, `${other.etag}.sparse`), new Uint8Array(10));
    await writeFile(join(blobs, `${other.etag}.sparse.json`), '{not json');
    expect(await (await nodeHubCache(root).openFile('org/m', COMMIT, other)).missing(0, 5000)).toEqual([[0, 5000]]);
  });

  it('stores refs and listings in the Hugging Face layout', async () => {
    const root = join(dir, 'refs');
    const cache = nodeHubCache(root);
    await cache.putCommit('org/m', 'main', COMMIT);
    expect((await readFile(join(root, 'models--org--m', 'refs', 'main'), 'utf8')).trim()).toBe(COMMIT);
    expect(await cache.getCommit('org/m', 'main')).toBe(COMMIT);
    expect(await cache.getCommit('org/m', 'dev')).toBeNull();
    await cache.putListing('org/m', COMMIT, [entry]);
    expect(await cache.getListing('org/m', COMMIT)).toEqual([entry]);
  });
});

describe('byte range sets', () => {
  it('addRange/missingRanges agree with a bitmap', () => {
    const size = 64;
    const range = fc.tuple(fc.nat(size), fc.nat(size)).map(([a, b]): ByteRange => [Math.min(a, b), Math.max(a, b)]);
    fc.assert(
      fc.property(fc.array(range, { maxLength: 12 }), range, (adds, [qs, qe]) => {
        const bitmap = new Array<boolean>(size).fill(false);
        let set: ByteRange[] = [];
        for (const [a, b] of adds) {
          set = addRange(set, a, b);
          for (let i = a; i < b; i++) bitmap[i] = true;
        }
        // Disjoint, sorted, non-touching, non-empty.
        for (let i = 0; i < set.length; i++) {
          expect(set[i][0]).toBeLessThan(set[i][1]);
          if (i > 0) expect(set[i - 1][1]).toBeLessThan(set[i][0]);
        }
        const missing = new Array<boolean>(size).fill(false);
        for (const [a, b] of missingRanges(set, qs, qe)) for (let i = a; i < b; i++) missing[i] = true;
        for (let i = 0; i < size; i++) expect(missing[i]).toBe(i >= qs && i < qe && !bitmap[i]);
      }),
      { numRuns: 500 },
    );
  });
});

describe('values from a server never name a path outside the cache', () => {
  it('refuses a content id, commit or revision that is not the strict form, before creating anything', async () => {
    const root = join(dir, 'strict');
    const cache = nodeHubCache(root);
    const traversal: HubFileEntry = { ...entry, etag: '../../../../escape' };
    const e1 = await cache.openFile('org/m', COMMIT, traversal).then(() => null, (e: unknown) => e as MergeStudioError);
    expect(e1?.message).toBe("org/m/sub/model.safetensors: the Hub listed the content id '../../../../escape' where a 64-digit hex sha256 (LFS file) was expected; nothing is downloaded for a file that cannot be verified");
    const e2 = await cache.openFile('org/m', '../../x', entry).then(() => null, (e: unknown) => e as MergeStudioError);
    expect(e2?.message).toBe("'../../x' is not a 40-digit hex commit id; it is not used as a cache path");
    const e3 = await cache.putCommit('org/m', '../../../escape', COMMIT).then(() => null, (e: unknown) => e as MergeStudioError);
    expect(e3?.message).toBe("the revision '../../../escape' is not a branch, tag or commit name that can be stored in the cache");
    const e4 = await cache.openFile('org/m', COMMIT, { ...entry, path: '../outside.bin' }).then(() => null, (e: unknown) => e as MergeStudioError);
    expect(e4?.message).toBe("org/m: the Hub listed an unsafe path '../outside.bin'");
    await expect(stat(root)).rejects.toThrow();
  });

  it('ignores a stored listing whose content ids were edited to walk out (it is fetched again)', async () => {
    const root = join(dir, 'tampered');
    const cache = nodeHubCache(root);
    await cache.putListing('org/m', COMMIT, [entry]);
    const file = join(root, 'models--org--m', '.merge-studio', `${COMMIT}.tree.json`);
    await writeFile(file, JSON.stringify([{ ...entry, etag: '../../../escape' }]));
    expect(await cache.getListing('org/m', COMMIT)).toBeNull();
  });
});

