// The studio's Hub cache: Cache Storage (available in pages and workers, persistent across
// sessions, cleared with the site's data). Entries are keyed by synthetic URLs:
//   <base>/<models--org--name>/refs/<revision>        the commit id
//   <base>/<models--org--name>/tree/<commit>           the file listing
//   <base>/<models--org--name>/blob/<etag>/<a>-<b>     bytes [a, b) of the file with that etag
//   <base>/<models--org--name>/blob/<etag>/blocks      JSON list of the stored [a, b) blocks
//   <base>/<models--org--name>/blob/<etag>/verified    present once the whole file hashed to <etag>
// Keying bytes by etag means a file shared by two revisions is downloaded once. As in the disk
// cache, every etag, commit and revision is checked (cache.ts) before it becomes part of a key, and
// a file whose blocks cover it whole is hashed (sha256 for LFS files, the git blob sha1 otherwise,
// incrementally, block by block: hash.ts) against its etag; a mismatch discards every block and
// fails with the same 'hub-download-corrupt' as the CLI.
// Bytes are put in blocks of at most BLOCK_BYTES as they arrive, so a download of any size holds
// one block in memory; when the storage refuses a block (quota), the write fails with
// 'hub-cache-full' and the tree goes on without the cache (tree.ts), instead of keeping refused
// bytes in memory.
import { MergeStudioError } from '../errors.ts';
import { escapeControl } from '../text.ts';
import { checkFileEntry, COMMIT_RE, contentHashKind, corruptDownloadError, isSafeRevision, parseListing, type CachedFile, type HubCache, type HubFileEntry } from './cache.ts';
import { contentHasher } from './hash.ts';
import { addRange, missingRanges, type ByteRange } from './ranges.ts';

const BASE = 'https://merge-studio.invalid/hub-cache';

/** The part of the Cache Storage API used here (lets tests pass a stand-in). */
export interface CacheStorageLike {
  open(name: string): Promise<Pick<Cache, 'match' | 'put' | 'delete'>>;
}

function checkCommit(commit: string): void {
  if (!COMMIT_RE.test(commit)) throw new MergeStudioError('hub-bad-response', `'${escapeControl(commit.slice(0, 100))}' is not a 40-digit hex commit id; it is not used as a cache key`, { found: commit });
}

function refKey(repo: string, revision: string): string {
  if (!isSafeRevision(revision)) throw new MergeStudioError('hub-bad-revision', `the revision '${escapeControl(revision.slice(0, 100))}' is not a branch, tag or commit name that can be stored in the cache`, { found: revision });
  return `${repoKey(repo)}/refs/${encodeURIComponent(revision)}`;
}

function repoKey(repo: string): string {
  return `${BASE}/models--${repo.split('/').map(encodeURIComponent).join('--')}`;
}

async function getJson(cache: Pick<Cache, 'match'>, url: string): Promise<unknown> {
  const resp = await cache.match(url);
  if (!resp) return null;
  try {
    return await resp.json();
  } catch {
    return null;
  }
}

function putJson(cache: Pick<Cache, 'put'>, url: string, value: unknown): Promise<void> {
  return cache.put(url, new Response(JSON.stringify(value), { headers: { 'Content-Type': 'application/json' } }));
}

/** Largest stored block: what one download or read holds beyond the caller's own range. */
export const BLOCK_BYTES = 8 << 20;

/** The typed error for a block the storage refused: full (quota) or otherwise unwritable. */
function refusedError(file: HubFileEntry, location: string, err: unknown): MergeStudioError {
  const name = err instanceof Error || err instanceof DOMException ? err.name : '';
  const reason = err instanceof Error || err instanceof DOMException ? err.message : String(err);
  const quota = name === 'QuotaExceededError' || /quota/i.test(reason);
  const why = quota ? 'the browser storage for this site is full (quota exceeded)' : `the browser refused to store it (${name || 'error'}: ${reason})`;
  return new MergeStudioError(
    quota ? 'hub-cache-full' : 'hub-cache-unwritable',
    `${file.path}: ${why}; continuing without the cache ${location}: downloads go on but are not kept for the next session. To cache again, free space (clear this site's data, or other sites', in the browser settings) and reload.`,
    { file: file.path, quota },
  );
}

class BrowserCachedFile implements CachedFile {
  /** Contiguous bytes written but not stored yet (less than one block, or a block being stored). */
  private run: { start: number; parts: Uint8Array[]; bytes: number } | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly cache: Pick<Cache, 'match' | 'put' | 'delete'>,
    private readonly prefix: string,
    private readonly file: HubFileEntry,
    private blocks: ByteRange[],
    private readonly location: string,
    private readonly blockBytes: number,
    private verified: boolean,
  ) {}

  private serial<T>(job: () => Promise<T>): Promise<T> {
    const next = this.queue.then(job, job);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Whether the stored and in-memory runs cover the whole file. */
  private whole(): boolean {
    return missingRanges(this.covered(), 0, this.file.size).length === 0;
  }

  /** Hashes the whole file, run by run in offset order, and checks it against the etag. On a
   * mismatch (or a block gone missing) every block is dropped, so the next read downloads again. */
  async verify(): Promise<void> {
    const kind = contentHashKind(this.file);
    let found = '';
    if (kind) {
      const h = contentHasher(kind, this.file.size);
      const runs = this.blocks.map(([a, b]) => ({ a, b, bytes: null as Uint8Array | null })).sort((x, y) => x.a - y.a);
      let at = 0;
      for (const r of runs) {
        if (r.b <= at) continue;
        let bytes = r.bytes;
        if (!bytes) {
          const resp = await this.cache.match(`${this.prefix}/${r.a}-${r.b}`);
          bytes = resp ? new Uint8Array(await resp.arrayBuffer()) : null;
          if (!bytes || bytes.byteLength !== r.b - r.a) {
            await this.discard();
            throw new MergeStudioError('hub-cache-damaged', `browser cache: a stored block of ${this.file.path} is gone (site data cleared?)`, { file: this.file.path });
          }
        }
        h.update(bytes.subarray(at - r.a));
        at = r.b;
      }
      found = h.digestHex();
    }
    if (!kind || found !== this.file.etag) {
      await this.discard();
      if (!kind) throw new MergeStudioError('hub-bad-listing', `${this.file.path}: no sha256 or git blob id to check the download against; it is not kept`, { file: this.file.path });
      throw corruptDownloadError(this.file, kind, found);
    }
    this.verified = true;
    await putJson(this.cache, `${this.prefix}/verified`, this.file.etag).catch(() => undefined);
  }

  private async discard(): Promise<void> {
    const gone = this.blocks;
    this.blocks = [];
    this.run = null;
    this.verified = false;
    await this.cache.delete(`${this.prefix}/blocks`).catch(() => undefined);
    await this.cache.delete(`${this.prefix}/verified`).catch(() => undefined);
    for (const [a, b] of gone) await this.cache.delete(`${this.prefix}/${a}-${b}`).catch(() => undefined);
  }

  private covered(): ByteRange[] {
    let r: ByteRange[] = [];
    for (const [a, b] of this.blocks) r = addRange(r, a, b);
    if (this.run) r = addRange(r, this.run.start, this.run.start + this.run.bytes);
    return r;
  }

  /** Stores up to `max` bytes from the start of the pending run as one block. */
  private async storeRun(max = Infinity): Promise<void> {
    const run = this.run;
    if (!run || run.bytes === 0) return;
    const all = run.parts.length === 1 ? run.parts[0] : new Uint8Array(run.bytes);
    if (run.parts.length > 1) {
      let at = 0;
      for (const p of run.parts) {
        all.set(p, at);
        at += p.byteLength;
      }
    }
    const n = Math.min(max, run.bytes);
    const rest = all.subarray(n);
    this.run = rest.byteLength > 0 ? { start: run.start + n, parts: [rest], bytes: rest.byteLength } : null;
    try {
      await this.cache.put(`${this.prefix}/${run.start}-${run.start + n}`, new Response(all.subarray(0, n) as Uint8Array<ArrayBuffer>));
    } catch (err) {
      this.run = null;
      throw refusedError(this.file, this.location, err);
    }
    this.blocks.push([run.start, run.start + n]);
  }

  async missing(start: number, end: number): Promise<ByteRange[]> {
    return missingRanges(this.covered(), start, end);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    await this.serial(() => this.storeRun());
    const out = new Uint8Array(length);
    const end = offset + length;
    const gone: ByteRange[] = [];
    for (const [a, b] of this.blocks) {
      if (b <= offset || a >= end) continue;
      const resp = await this.cache.match(`${this.prefix}/${a}-${b}`);
      const block = resp ? new Uint8Array(await resp.arrayBuffer()) : null;
      if (!block || block.byteLength !== b - a) {
        gone.push([a, b]);
        continue;
      }
      const from = Math.max(a, offset);
      const to = Math.min(b, end);
      out.set(block.subarray(from - a, to - a), from - offset);
    }
    if (gone.length > 0) {
      this.blocks = this.blocks.filter(([a, b]) => !gone.some(([x, y]) => x === a && y === b));
      throw new MergeStudioError('hub-cache-damaged', `browser cache: ${gone.length} stored block(s) of ${this.prefix} are gone (site data cleared?)`, { found: gone });
    }
    let held: ByteRange[] = [];
    for (const [a, b] of this.blocks) held = addRange(held, a, b);
    if (missingRanges(held, offset, end).length > 0) {
      throw new MergeStudioError('hub-cache-damaged', `browser cache: bytes ${offset}-${end} of ${this.prefix} were asked for before they were stored`, {});
    }
    return out;
  }

  /** Keeps the bytes in the pending run and stores every whole block of it at once. */
  write(offset: number, bytes: Uint8Array): Promise<void> {
    return this.serial(async () => {
      if (this.run && this.run.start + this.run.bytes !== offset) await this.storeRun();
      if (!this.run) this.run = { start: offset, parts: [], bytes: 0 };
      this.run.parts.push(bytes.slice());
      this.run.bytes += bytes.byteLength;
      while (this.run && this.run.bytes >= this.blockBytes) await this.storeRun(this.blockBytes);
    });
  }

  /** Stores the rest of the pending run, then the block list. */
  flush(): Promise<void> {
    return this.serial(async () => {
      try {
        await this.storeRun();
      } finally {
        await putJson(this.cache, `${this.prefix}/blocks`, this.blocks).catch(() => undefined);
      }
      if (!this.verified && this.whole()) await this.verify();
    });
  }
}

/** `blockBytes` (default BLOCK_BYTES) is the largest stored block; tests lower it. */
export function browserHubCache(opts: { name?: string; storage?: CacheStorageLike; blockBytes?: number } = {}): HubCache {
  const name = opts.name ?? 'merge-studio-hub';
  const storage = opts.storage ?? (globalThis as { caches?: CacheStorageLike }).caches;
  if (!storage) throw new MergeStudioError('hub-cache-unavailable', 'Cache Storage is not available here (it needs a secure context: https, localhost or 127.0.0.1); Hub downloads will not be kept', {});
  const cacheP = storage.open(name);
  const location = `browser Cache Storage '${name}' (cleared with this site's data)`;
  return {
    location,
    async getCommit(repo, revision) {
      const v = await getJson(await cacheP, refKey(repo, revision));
      return typeof v === 'string' && COMMIT_RE.test(v) ? v : null;
    },
    async putCommit(repo, revision, commit) {
      checkCommit(commit);
      await putJson(await cacheP, refKey(repo, revision), commit);
    },
    async getListing(repo, commit) {
      checkCommit(commit);
      return parseListing(await getJson(await cacheP, `${repoKey(repo)}/tree/${commit}`));
    },
    async putListing(repo, commit, files) {
      checkCommit(commit);
      for (const f of files) checkFileEntry(f, repo);
      await putJson(await cacheP, `${repoKey(repo)}/tree/${commit}`, files);
    },
    async openFile(repo, commit, file: HubFileEntry) {
      checkFileEntry(file, repo);
      checkCommit(commit);
      const cache = await cacheP;
      const prefix = `${repoKey(repo)}/blob/${file.etag}`;
      const stored = await getJson(cache, `${prefix}/blocks`);
      const blocks = Array.isArray(stored)
        ? stored.filter((r): r is ByteRange => Array.isArray(r) && r.length === 2 && Number.isSafeInteger(r[0]) && Number.isSafeInteger(r[1]) && r[0] >= 0 && r[0] < r[1] && r[1] <= file.size)
        : [];
      const verified = (await getJson(cache, `${prefix}/verified`)) === file.etag;
      const cached = new BrowserCachedFile(cache, prefix, file, blocks, location, opts.blockBytes ?? BLOCK_BYTES, verified);
      // Whole but never checked (the tab closed between the last block and the hash): check now;
      // a mismatch leaves the file empty, to be downloaded again.
      if (!verified && file.size > 0 && missingRanges(blocks.reduce<ByteRange[]>((r, [a, b]) => addRange(r, a, b), []), 0, file.size).length === 0) {
        await cached.verify().catch(() => undefined);
      }
      return cached;
    },
  };
}
