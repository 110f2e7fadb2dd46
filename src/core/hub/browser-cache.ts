// The studio's Hub cache: Cache Storage (available in pages and workers, persistent across
// sessions, cleared with the site's data). Entries are keyed by synthetic URLs:
//   <base>/<models--org--name>/refs/<revision>        the commit id
//   <base>/<models--org--name>/tree/<commit>           the file listing
//   <base>/<models--org--name>/blob/<etag>/<a>-<b>     bytes [a, b) of the file with that etag
//   <base>/<models--org--name>/blob/<etag>/blocks      JSON list of the stored [a, b) blocks
// Keying bytes by etag means a file shared by two revisions is downloaded once.
import { MergeStudioError } from '../errors.ts';
import { parseListing, type CachedFile, type HubCache, type HubFileEntry } from './cache.ts';
import { addRange, missingRanges, type ByteRange } from './ranges.ts';

const BASE = 'https://merge-studio.invalid/hub-cache';

/** The part of the Cache Storage API used here (lets tests pass a stand-in). */
export interface CacheStorageLike {
  open(name: string): Promise<Pick<Cache, 'match' | 'put' | 'delete'>>;
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

class BrowserCachedFile implements CachedFile {
  private pending: { offset: number; bytes: Uint8Array }[] = [];
  /** Runs the storage refused (quota): kept in memory for this session instead. */
  private inMemory: { offset: number; bytes: Uint8Array }[] = [];
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly cache: Pick<Cache, 'match' | 'put' | 'delete'>,
    private readonly prefix: string,
    private blocks: ByteRange[],
  ) {}

  private covered(): ByteRange[] {
    let r: ByteRange[] = [];
    for (const [a, b] of this.blocks) r = addRange(r, a, b);
    for (const p of [...this.pending, ...this.inMemory]) r = addRange(r, p.offset, p.offset + p.bytes.byteLength);
    return r;
  }

  async missing(start: number, end: number): Promise<ByteRange[]> {
    return missingRanges(this.covered(), start, end);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    await this.queue;
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
    for (const m of this.inMemory) {
      const from = Math.max(m.offset, offset);
      const to = Math.min(m.offset + m.bytes.byteLength, end);
      if (from < to) out.set(m.bytes.subarray(from - m.offset, to - m.offset), from - offset);
    }
    let held: ByteRange[] = [];
    for (const [a, b] of this.blocks) held = addRange(held, a, b);
    for (const m of this.inMemory) held = addRange(held, m.offset, m.offset + m.bytes.byteLength);
    if (missingRanges(held, offset, end).length > 0) {
      throw new MergeStudioError('hub-cache-damaged', `browser cache: bytes ${offset}-${end} of ${this.prefix} were asked for before they were stored`, {});
    }
    return out;
  }

  async write(offset: number, bytes: Uint8Array): Promise<void> {
    this.pending.push({ offset, bytes: bytes.slice() });
  }

  /** Stores the pending writes as one block per contiguous run, then the block list. */
  flush(): Promise<void> {
    const job = async () => {
      const pending = this.pending.sort((x, y) => x.offset - y.offset);
      this.pending = [];
      let i = 0;
      while (i < pending.length) {
        let j = i;
        let end = pending[i].offset + pending[i].bytes.byteLength;
        while (j + 1 < pending.length && pending[j + 1].offset === end) end += pending[++j].bytes.byteLength;
        const start = pending[i].offset;
        const run = new Uint8Array(end - start);
        for (let k = i; k <= j; k++) run.set(pending[k].bytes, pending[k].offset - start);
        try {
          await this.cache.put(`${this.prefix}/${start}-${end}`, new Response(run));
          this.blocks.push([start, end]);
        } catch {
          // Storage full or refused: the bytes stay usable for this session, just not kept.
          this.inMemory.push({ offset: start, bytes: run });
        }
        i = j + 1;
      }
      await putJson(this.cache, `${this.prefix}/blocks`, this.blocks).catch(() => undefined);
    };
    const next = this.queue.then(job, job);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

export function browserHubCache(opts: { name?: string; storage?: CacheStorageLike } = {}): HubCache {
  const name = opts.name ?? 'merge-studio-hub';
  const storage = opts.storage ?? (globalThis as { caches?: CacheStorageLike }).caches;
  if (!storage) throw new MergeStudioError('hub-cache-unavailable', 'Cache Storage is not available here (it needs a secure context: https, localhost or 127.0.0.1); Hub downloads will not be kept', {});
  const cacheP = storage.open(name);
  return {
    location: `browser Cache Storage '${name}' (cleared with this site's data)`,
    async getCommit(repo, revision) {
      const v = await getJson(await cacheP, `${repoKey(repo)}/refs/${encodeURIComponent(revision)}`);
      return typeof v === 'string' && /^[0-9a-f]{40}$/.test(v) ? v : null;
    },
    async putCommit(repo, revision, commit) {
      await putJson(await cacheP, `${repoKey(repo)}/refs/${encodeURIComponent(revision)}`, commit);
    },
    async getListing(repo, commit) {
      return parseListing(await getJson(await cacheP, `${repoKey(repo)}/tree/${commit}`));
    },
    async putListing(repo, commit, files) {
      await putJson(await cacheP, `${repoKey(repo)}/tree/${commit}`, files);
    },
    async openFile(repo, _commit, file: HubFileEntry) {
      const cache = await cacheP;
      const prefix = `${repoKey(repo)}/blob/${encodeURIComponent(file.etag)}`;
      const stored = await getJson(cache, `${prefix}/blocks`);
      const blocks = Array.isArray(stored)
        ? stored.filter((r): r is ByteRange => Array.isArray(r) && r.length === 2 && Number.isSafeInteger(r[0]) && Number.isSafeInteger(r[1]) && r[0] >= 0 && r[0] < r[1] && r[1] <= file.size)
        : [];
      return new BrowserCachedFile(cache, prefix, blocks);
    },
  };
}
