// The Hub source against the mock Hub on 127.0.0.1: loading by id, headers-only reads (bytes
// counted by the server), the on-disk cache, resumption after dropped connections, and every
// bad-input case, each with its own error code.
import { lstat, mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startMockHub, type MockHub } from '../../../tools/mock-hub/server.ts';
import { writeFixtureZoo } from '../../../tools/mock-hub/fixture-zoo.ts';
import { MergeStudioError } from '../errors.ts';
import { nodeFolderTree } from '../io/node-file.ts';
import { openSafetensorsModel, readTensorBytes } from '../safetensors/index.ts';
import type { Progress } from '../progress.ts';
import { browserHubCache, type CacheStorageLike } from './browser-cache.ts';
import { createHubFetch } from './hub-fetch.ts';
import { nodeHubCache } from './node-cache.ts';
import { parseHubRef } from './repo-id.ts';
import { memoryCacheStorage } from './testing.ts';
import { hubTree, type HubTreeOptions } from './tree.ts';

let root: string;
let zoo: string;
let hub: MockHub;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ms-hub-'));
  zoo = join(root, 'zoo');
  await writeFixtureZoo(zoo);
  hub = await startMockHub({ port: 0, root: zoo });
});
afterAll(async () => {
  await hub?.close();
  await rm(root, { recursive: true, force: true });
});
beforeEach(() => {
  hub.resetStats();
  hub.setFaults({});
});

let cacheCount = 0;
const freshCacheDir = () => join(root, `cache-${++cacheCount}`);
const open = (repo: string, extra: Partial<HubTreeOptions> = {}) => hubTree({ repo, hubUrl: hub.url, retryDelayMs: 5, ...extra });

async function rejection(p: Promise<unknown>): Promise<MergeStudioError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err, 'expected a MergeStudioError').toBeInstanceOf(MergeStudioError);
  return err as MergeStudioError;
}

/** The header length of a safetensors file on disk: the independent reference for byte counts. */
async function headerBytesOnDisk(path: string): Promise<number> {
  const bytes = await readFile(path);
  return 8 + Number(bytes.readBigUInt64LE(0));
}

describe('loading a model from the Hub by id', () => {
  it('reads every header with range requests only, fetching no tensor data', async () => {
    const tree = await open('zoo/tiny-llama-base');
    expect(tree.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(await tree.list()).toEqual((await nodeFolderTree(join(zoo, 'tiny-llama', 'base')).list()));
    const model = await openSafetensorsModel(tree);
    const local = await openSafetensorsModel(nodeFolderTree(join(zoo, 'tiny-llama', 'base')));
    expect([...model.tensors.keys()]).toEqual([...local.tensors.keys()]);
    for (const [name, t] of model.tensors) expect([t.dtype, t.shape, t.offset, t.bytes]).toEqual([local.tensors.get(name)!.dtype, local.tensors.get(name)!.shape, local.tensors.get(name)!.offset, local.tensors.get(name)!.bytes]);

    // Bytes served by /resolve/: a 1-byte probe (fileDownloadInfo) plus the reader's header read;
    // no request reaches the last tensors' data.
    const file = join(zoo, 'tiny-llama', 'base', 'model.safetensors');
    const size = (await readFile(file)).byteLength;
    const lastTensorStart = Math.max(...[...local.tensors.values()].map((t) => t.offset));
    const resolves = hub.stats.requests.filter((r) => r.url.includes('/resolve/'));
    expect(resolves.length).toBeGreaterThan(1);
    for (const r of resolves) {
      const m = /^bytes=(\d+)-(\d+)$/.exec(r.range ?? '');
      expect(m, `request without a byte range: ${r.url}`).not.toBeNull();
      expect(Number(m![2])).toBeLessThan(lastTensorStart);
    }
    expect(hub.stats.fileBytes).toBeGreaterThanOrEqual(1 + (await headerBytesOnDisk(file)));
    expect(hub.stats.fileBytes).toBeLessThan(size / 2);
    expect(tree.bytesDownloaded).toBe(hub.stats.fileBytes - 1);
  });

  it('reads tensors by range with the same bytes as the file on disk', async () => {
    const tree = await open('zoo/tiny-llama-add');
    const model = await openSafetensorsModel(tree);
    const local = await openSafetensorsModel(nodeFolderTree(join(zoo, 'tiny-llama', 'add')));
    hub.resetStats();
    const name = 'model.layers.1.mlp.down_proj.weight';
    const got = await readTensorBytes(model.tensors.get(name)!);
    expect(Buffer.from(got).equals(Buffer.from(await readTensorBytes(local.tensors.get(name)!)))).toBe(true);
    expect(hub.stats.fileBytes).toBe(got.byteLength);
  });

  it('opens a sharded repo through its index, with the same tensors as the single-file model', async () => {
    const tree = await open('zoo/sharded');
    const model = await openSafetensorsModel(tree);
    expect(model.files).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    const local = await openSafetensorsModel(nodeFolderTree(join(zoo, 'tiny-llama', 'base')));
    expect([...model.tensors.keys()].sort()).toEqual([...local.tensors.keys()].sort());
    const name = 'model.norm.weight';
    expect(Buffer.from(await readTensorBytes(model.tensors.get(name)!)).equals(Buffer.from(await readTensorBytes(local.tensors.get(name)!)))).toBe(true);
  });

  it('accepts org/name@revision with a branch or a commit id', async () => {
    const main = await open('zoo/tiny-llama-base@main');
    const pinned = await open(`zoo/tiny-llama-base@${main.commit}`);
    expect(pinned.commit).toBe(main.commit);
    expect(pinned.revision).toBe(main.commit);
    expect(parseHubRef('https://huggingface.co/zoo/x/tree/v1.0')).toEqual({ repo: 'zoo/x', revision: 'v1.0' });
  });

  it('reports progress with bytes, rate and ETA for each model', async () => {
    const events: Progress[] = [];
    const tree = await open('zoo/tiny-llama-reverse', { onProgress: (p) => events.push(p) });
    const src = await tree.open('model.safetensors');
    await src.read(0, src.size);
    const last = events.filter((e) => e.phase === 'download' && e.message === 'zoo/tiny-llama-reverse@main').at(-1)!;
    expect(last.done).toBe(src.size);
    expect(last.total).toBe(src.size);
    expect(last.rate).toBeGreaterThan(0);
    expect(last.eta).toBe(0);
    expect(last.bytes).toBe(tree.bytesDownloaded);
  });
});

describe('the cache in the Hugging Face layout', () => {
  it('downloads nothing the second time, and a pinned commit opens with no request at all', async () => {
    const dir = freshCacheDir();
    const first = await open('zoo/tiny-llama-base', { cache: nodeHubCache(dir) });
    const m1 = await openSafetensorsModel(first);
    const embed = await readTensorBytes(m1.tensors.get('model.embed_tokens.weight')!);
    expect(hub.stats.fileBytes).toBeGreaterThan(embed.byteLength);

    hub.resetStats();
    const second = await open('zoo/tiny-llama-base', { cache: nodeHubCache(dir) });
    const m2 = await openSafetensorsModel(second);
    const again = await readTensorBytes(m2.tensors.get('model.embed_tokens.weight')!);
    expect(Buffer.from(again).equals(Buffer.from(embed))).toBe(true);
    expect(hub.stats.fileBytes).toBe(0); // only the revision check went out
    expect(hub.stats.requests.map((r) => new URL(r.url, hub.url).pathname)).toEqual(['/api/models/zoo/tiny-llama-base/revision/main']);

    hub.resetStats();
    const pinned = await open(`zoo/tiny-llama-base@${first.commit}`, { cache: nodeHubCache(dir) });
    await openSafetensorsModel(pinned);
    expect(hub.stats.requests).toEqual([]);

    const offline = await open('zoo/tiny-llama-base', { cache: nodeHubCache(dir), offline: true });
    expect(offline.commit).toBe(first.commit);
    expect(hub.stats.requests).toEqual([]);
  });

  it('turns a fully read file into a verified blob with a snapshot symlink and a ref', async () => {
    const dir = freshCacheDir();
    const tree = await open('zoo/tiny-llama-base', { cache: nodeHubCache(dir) });
    const src = await tree.open('model.safetensors');
    await src.read(0, src.size);
    const repoDir = join(dir, 'models--zoo--tiny-llama-base');
    const sha = tree.files.find((f) => f.path === 'model.safetensors')!.etag;
    const blob = await readFile(join(repoDir, 'blobs', sha));
    expect(blob.equals(await readFile(join(zoo, 'tiny-llama', 'base', 'model.safetensors')))).toBe(true);
    const link = join(repoDir, 'snapshots', tree.commit, 'model.safetensors');
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readlink(link)).toBe(join('..', '..', 'blobs', sha));
    expect((await readFile(join(repoDir, 'refs', 'main'), 'utf8')).trim()).toBe(tree.commit);
  });

  it('refetches bytes whose cached copy was deleted underneath', async () => {
    const dir = freshCacheDir();
    const tree = await open('zoo/tiny-llama-add', { cache: nodeHubCache(dir) });
    const src = await tree.open('config.json');
    const first = await src.read(0, src.size);
    const sha = tree.files.find((f) => f.path === 'config.json')!.etag;
    await rm(join(dir, 'models--zoo--tiny-llama-add', 'blobs', sha));
    hub.resetStats();
    expect(Buffer.from(await src.read(0, src.size)).equals(Buffer.from(first))).toBe(true);
    expect(hub.stats.fileBytes).toBe(src.size);
  });

  it('falls back to the cached commit when the Hub cannot be reached, and says so', async () => {
    const dir = freshCacheDir();
    const online = await open('zoo/tiny-llama-reverse', { cache: nodeHubCache(dir) });
    const expected = await (await online.open('config.json')).read(0, (await online.open('config.json')).size);
    const events: Progress[] = [];
    const cut = await hubTree({ repo: 'zoo/tiny-llama-reverse', hubUrl: 'http://127.0.0.1:9', cache: nodeHubCache(dir), retries: 0, onProgress: (p) => events.push(p) });
    expect(cut.commit).toBe(online.commit);
    expect(events.map((e) => e.message)).toContainEqual(expect.stringContaining('unreachable, using the cached commit'));
    const src = await cut.open('config.json');
    expect(Buffer.from(await src.read(0, src.size)).equals(Buffer.from(expected))).toBe(true);
  });

  it('fails offline with a clear message when the revision was never downloaded', async () => {
    const err = await rejection(open('zoo/tiny-llama-add', { cache: nodeHubCache(freshCacheDir()), offline: true }));
    expect(err.code).toBe('hub-offline-miss');
  });
});

describe('the browser cache (Cache Storage)', () => {
  it('keeps ranges by etag so a second session downloads nothing', async () => {
    const storage = memoryCacheStorage();
    const local = await openSafetensorsModel(nodeFolderTree(join(zoo, 'tiny-qwen2', 'base')));
    const first = await open('zoo/tiny-qwen2-base', { cache: browserHubCache({ storage }) });
    const m1 = await openSafetensorsModel(first);
    const name = 'model.layers.0.self_attn.q_proj.bias';
    const bias = await readTensorBytes(m1.tensors.get(name)!);
    expect(Buffer.from(bias).equals(Buffer.from(await readTensorBytes(local.tensors.get(name)!)))).toBe(true);

    hub.resetStats();
    const second = await open(`zoo/tiny-qwen2-base@${first.commit}`, { cache: browserHubCache({ storage }) });
    const m2 = await openSafetensorsModel(second);
    expect(Buffer.from(await readTensorBytes(m2.tensors.get(name)!)).equals(Buffer.from(bias))).toBe(true);
    expect(hub.stats.requests).toEqual([]);
    // A read spanning cached and uncached bytes fetches only the gap.
    const src = await second.open('model.safetensors');
    const whole = await src.read(0, src.size);
    expect(Buffer.from(whole).equals(await readFile(join(zoo, 'tiny-qwen2', 'base', 'model.safetensors')))).toBe(true);
    expect(hub.stats.fileBytes).toBeLessThan(src.size);
    expect(hub.stats.fileBytes).toBe(1 + src.size - (first.bytesDownloaded));

    // Site data cleared under a running session: the blocks are fetched again.
    for (const key of [...storage.entries.keys()]) if (/\/\d+-\d+$/.test(key)) storage.entries.delete(key);
    hub.resetStats();
    expect(Buffer.from(await src.read(0, src.size)).equals(Buffer.from(whole))).toBe(true);
    expect(hub.stats.fileBytes).toBe(src.size);
  });
});

describe('a full browser storage', () => {
  it('says so once, then serves the bytes without the cache instead of holding them in memory', async () => {
    const storage = memoryCacheStorage();
    const inner = await storage.open('x');
    let puts = 0;
    const refusing: CacheStorageLike = {
      open: async () => ({ ...inner, put: async () => (puts++, Promise.reject(new DOMException('The quota has been exceeded.', 'QuotaExceededError'))) }),
    };
    const events: Progress[] = [];
    const tree = await open('zoo/tiny-qwen2-base', { cache: browserHubCache({ storage: refusing }), onProgress: (p) => events.push(p) });
    const model = await openSafetensorsModel(tree);
    const local = await openSafetensorsModel(nodeFolderTree(join(zoo, 'tiny-qwen2', 'base')));
    const name = 'model.layers.1.mlp.up_proj.weight';
    expect(Buffer.from(await readTensorBytes(model.tensors.get(name)!)).equals(Buffer.from(await readTensorBytes(local.tensors.get(name)!)))).toBe(true);
    const off = events.filter((e) => e.phase === 'hub-cache-off');
    expect(off).toHaveLength(1);
    expect(off[0].message).toMatch(/^model\.safetensors: the browser storage for this site is full \(quota exceeded\); continuing without the cache .*free space/);
    // From then on the cache is left alone and the bytes come from the Hub again.
    const putsBefore = puts;
    hub.resetStats();
    expect(Buffer.from(await readTensorBytes(model.tensors.get(name)!)).equals(Buffer.from(await readTensorBytes(local.tensors.get(name)!)))).toBe(true);
    expect(hub.stats.fileBytes).toBe(model.tensors.get(name)!.bytes);
    expect(puts).toBe(putsBefore);
    expect(events.filter((e) => e.phase === 'hub-cache-off')).toHaveLength(1);
  });
});

describe('dropped connections', () => {
  it('retries with backoff and resumes from the last byte received', async () => {
    const tree = await open('zoo/tiny-llama-base', { cache: nodeHubCache(freshCacheDir()) });
    const src = await tree.open('model.safetensors');
    hub.resetStats();
    hub.setFaults({ dropAfter: 4096, count: 3 });
    const bytes = await src.read(0, src.size);
    expect(Buffer.from(bytes).equals(await readFile(join(zoo, 'tiny-llama', 'base', 'model.safetensors')))).toBe(true);
    const resolves = hub.stats.requests.filter((r) => r.url.includes('/resolve/'));
    // The size probe, the full read, then three resumptions, each starting where the bytes that
    // arrived so far end (4096 per cut body).
    expect(resolves.map((r) => r.range)).toEqual(['bytes=0-0', undefined, `bytes=4096-${src.size - 1}`, `bytes=8192-${src.size - 1}`, `bytes=12288-${src.size - 1}`]);
    expect(resolves.slice(1, 4).map((r) => r.bodyBytes)).toEqual([4096, 4096, 4096]);
    expect(hub.stats.fileBytes).toBe(1 + src.size); // nothing served twice
  });

  it('waits out a Hub answering 503 on its API and file endpoints', async () => {
    hub.setFaults({ unavailable: 2 });
    const tree = await open('zoo/tiny-llama-reverse');
    hub.setFaults({ unavailable: 2 });
    const src = await tree.open('config.json');
    const bytes = await src.read(0, src.size);
    expect(JSON.parse(new TextDecoder().decode(bytes)).model_type).toBe('llama');
    expect(hub.stats.requests.filter((r) => r.status === 503).length).toBe(4);

    hub.setFaults({ unavailable: 10 });
    const err = await rejection(open('zoo/tiny-llama-reverse', { retries: 2 }));
    expect(err.code).toBe('hub-server-error');
    expect(err.message).toMatch(/503.*\(3 attempts\)/);
  });

  it('keeps what arrived when a download is cancelled, and a later run resumes from there', async () => {
    const dir = freshCacheDir();
    const ac = new AbortController();
    const tree = await open('zoo/tiny-llama-add', { cache: nodeHubCache(dir), signal: ac.signal, onProgress: (p) => p.phase === 'download' && p.done > 0 && ac.abort() });
    const src = await tree.open('model.safetensors');
    hub.setFaults({ dropAfter: 3000, count: 1 });
    const err = await src.read(0, src.size).then(() => null, (e: unknown) => e);
    expect((err as Error).name).toBe('AbortError');
    const kept = tree.bytesDownloaded;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(3000);

    hub.resetStats();
    const again = await open('zoo/tiny-llama-add', { cache: nodeHubCache(dir) });
    const bytes = await (await again.open('model.safetensors')).read(0, src.size);
    expect(Buffer.from(bytes).equals(await readFile(join(zoo, 'tiny-llama', 'add', 'model.safetensors')))).toBe(true);
    // What arrived before the cancel was kept; only the rest came over the wire (plus the 1-byte probe).
    expect(hub.stats.fileBytes).toBe(src.size - kept + 1);
    expect(hub.stats.requests.filter((r) => r.url.includes('/resolve/')).map((r) => r.range)).toEqual(['bytes=0-0', `bytes=${kept}-${src.size - 1}`]);
  });
});

describe('bad input', () => {
  it('unknown repo: hub-not-found', async () => {
    const err = await rejection(open('zoo/no-such-model'));
    expect(err.code).toBe('hub-not-found');
    expect(err.message).toContain('zoo/no-such-model');
  });

  it('unknown revision: hub-revision-not-found', async () => {
    const err = await rejection(open('zoo/tiny-llama-base@no-such-branch'));
    expect(err.code).toBe('hub-revision-not-found');
  });

  it('gated repo: 401 without a token, 403 with a wrong one, readable with the right one', async () => {
    const none = await rejection(open('zoo/gated'));
    expect(none.code).toBe('hub-unauthorized');
    expect(none.message).toMatch(/gated.*HF_TOKEN/);
    const wrongToken = 'hf_wrong_token_123456';
    const wrong = await rejection(open('zoo/gated', { accessToken: wrongToken }));
    expect(wrong.code).toBe('hub-forbidden');
    expect(JSON.stringify([wrong.message, wrong.details])).not.toContain(wrongToken);
    const tree = await open('zoo/gated', { accessToken: hub.gatedToken });
    expect((await openSafetensorsModel(tree)).tensors.size).toBeGreaterThan(0);
  });

  it('a malformed token or repo id is refused before any request', async () => {
    expect((await rejection(open('zoo/gated', { accessToken: 'not a token' }))).code).toBe('hub-bad-token');
    expect((await rejection(open('zoo/../etc'))).code).toBe('hub-bad-id');
    expect((await rejection(open('a/b/c'))).code).toBe('hub-bad-id');
    expect(hub.stats.requests).toEqual([]);
  });

  it('a repo with only pytorch_model.bin says so, and that .bin is not read', async () => {
    const err = await rejection(open('zoo/bin-only'));
    expect(err.code).toBe('hub-no-safetensors');
    expect(err.message).toContain('pytorch_model.bin');
    expect(err.message).toMatch(/does not read \.bin/);
    expect(hub.stats.fileBytes).toBe(0);
  });

  it('an index naming a missing shard: hub-missing-shard, before any weights are read', async () => {
    const err = await rejection(open('zoo/missing-shard'));
    expect(err.code).toBe('hub-missing-shard');
    expect(err.message).toContain('model-00002-of-00002.safetensors');
    expect(hub.stats.requests.some((r) => r.url.includes('.safetensors') && !r.url.endsWith('.index.json'))).toBe(false);
  });

  it('a corrupt shard is reported with the shard named', async () => {
    const tree = await open('zoo/corrupt-shard');
    const err = await rejection(openSafetensorsModel(tree));
    expect(err.code).toMatch(/^safetensors-/);
    expect(err.message).toContain('zoo/corrupt-shard@main/model-00002-of-00002.safetensors');
  });

  it('a truncated file on the Hub is reported as truncated', async () => {
    const tree = await open('zoo/truncated');
    const err = await rejection(openSafetensorsModel(tree));
    expect(err.code).toBe('safetensors-truncated');
    expect(err.message).toContain('zoo/truncated@main/model.safetensors');
  });

  it('a download cut short every time ends in a typed error, not a hang', async () => {
    const tree = await open('zoo/tiny-llama-base', { retries: 1 });
    const src = await tree.open('model.safetensors');
    hub.setFaults({ dropAfter: 0, count: 100 });
    const err = await rejection(src.read(0, src.size));
    expect(['hub-download-failed', 'hub-truncated']).toContain(err.code);
  });

  it('a missing file in an existing repo: file-not-found listing what is there', async () => {
    const tree = await open('zoo/tiny-llama-base');
    const err = await rejection(tree.open('pytorch_model.bin'));
    expect(err.code).toBe('file-not-found');
    expect(err.message).toContain('config.json');
  });

  it('an unreachable Hub: hub-unreachable after the retries', async () => {
    const err = await rejection(hubTree({ repo: 'zoo/tiny-llama-base', hubUrl: 'http://127.0.0.1:9', retries: 1, retryDelayMs: 1 }));
    expect(err.code).toBe('hub-unreachable');
  });

  it('cancellation rejects with the abort reason', async () => {
    const ac = new AbortController();
    const tree = await open('zoo/tiny-llama-base', { signal: ac.signal });
    ac.abort();
    const err = await (await tree.open('model.safetensors').catch((e: unknown) => e));
    expect((err as Error).name).toBe('AbortError');
  });
});

describe('the token', () => {
  it('is never put in a URL or an error, and goes only to the Hub host', async () => {
    const token = hub.gatedToken;
    const tree = await open('zoo/gated', { accessToken: token });
    await openSafetensorsModel(tree);
    expect(hub.stats.requests.length).toBeGreaterThan(0);
    for (const r of hub.stats.requests) {
      expect(r.url).not.toContain(token);
      expect(r.authorized).toBe(true);
    }
    const err = await rejection(open('zoo/missing-shard', { accessToken: token }));
    expect(JSON.stringify([err.message, err.details])).not.toContain(token);

    // A request leaving the Hub's origin (a CDN redirect target, a mirror link) loses the header.
    const seen: [string, string | null][] = [];
    const spy: typeof fetch = async (input, init) => {
      seen.push([String(input), new Headers(init?.headers).get('Authorization')]);
      return new Response('{}', { status: 200 });
    };
    const f = createHubFetch({ label: 'zoo/x@main', hubUrl: hub.url, accessToken: token, fetch: spy });
    await f(`${hub.url}/api/models/zoo/x`, { headers: { Authorization: `Bearer ${token}` } });
    await f('http://127.0.0.2:1/cdn/file', { headers: { Authorization: `Bearer ${token}` } });
    // Xet storage hosts get the library's own short-lived read token, which must pass.
    await f('http://127.0.0.2:1/xet/chunk', { headers: { Authorization: 'Bearer xet_read_token' } });
    expect(seen).toEqual([[`${hub.url}/api/models/zoo/x`, `Bearer ${token}`], ['http://127.0.0.2:1/cdn/file', null], ['http://127.0.0.2:1/xet/chunk', 'Bearer xet_read_token']]);
  });
});

describe('LFS files redirected to a storage host, as on huggingface.co', () => {
  it('follows the redirect with the range, and the token stays on the Hub host', async () => {
    const redirecting = await startMockHub({ port: 0, root: zoo, cdnOrigin: '' });
    try {
      const tree = await hubTree({ repo: 'zoo/gated', hubUrl: redirecting.url, accessToken: redirecting.gatedToken, cache: nodeHubCache(freshCacheDir()) });
      const model = await openSafetensorsModel(tree);
      const local = await openSafetensorsModel(nodeFolderTree(join(zoo, 'tiny-llama', 'base')));
      const name = 'model.layers.0.self_attn.o_proj.weight';
      expect(Buffer.from(await readTensorBytes(model.tensors.get(name)!)).equals(Buffer.from(await readTensorBytes(local.tensors.get(name)!)))).toBe(true);
      const cdn = redirecting.stats.requests.filter((r) => r.url.startsWith('/__cdn/'));
      const resolves = redirecting.stats.requests.filter((r) => r.url.includes('/resolve/') && r.url.endsWith('.safetensors'));
      expect(cdn.length).toBeGreaterThan(0);
      expect(cdn.length).toBe(resolves.length);
      expect(cdn.every((r) => !r.authorized && r.status === 206)).toBe(true);
      expect(resolves.every((r) => r.authorized && r.status === 302)).toBe(true);
      expect(cdn.map((r) => r.range)).toEqual(resolves.map((r) => r.range));
    } finally {
      await redirecting.close();
    }
  });
});

describe('a mirror that mishandles ranges', () => {
  it('is refused rather than trusted: a 200 for a range request, or another range than asked', async () => {
    const answers: Response[] = [
      new Response(new Uint8Array(100), { status: 200 }),
      new Response(new Uint8Array(10), { status: 206, headers: { 'Content-Range': 'bytes 0-9/100' } }),
    ];
    const f = createHubFetch({ label: 'zoo/x@main', hubUrl: hub.url, fetch: async () => answers.shift()! });
    for (let i = 0; i < 2; i++) {
      const err = await rejection(f(`${hub.url}/zoo/x/resolve/main/model.safetensors`, { headers: { Range: 'bytes=50-59' } }));
      expect(err.code).toBe('hub-range-unsupported');
      expect(err.message).toContain('model.safetensors');
    }
  });
});
