// Hub reads at scale, on the mock Hub: the tab's Cache Storage keeps downloads in bounded blocks
// written while the bytes arrive, and the tree reports progress per model (bytes, rate, ETA).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Progress } from '../progress.ts';
import { nodeFolderTree } from '../io/node-file.ts';
import { openSafetensorsModel, readTensorBytes, tensorRowBlocks } from '../safetensors/index.ts';
import { browserHubCache, type CacheStorageLike } from './browser-cache.ts';
import { mockZooHub } from './testing.ts';
import { hubTree } from './tree.ts';

const fixture = mockZooHub('ms-hub-stream-');

/** Cache Storage in memory that records each put's size and how many body bytes had been delivered then. */
function recordingStorage(): CacheStorageLike & { entries: Map<string, Uint8Array>; puts: { key: string; bytes: number; deliveredSoFar: number }[]; delivered: number } {
  const entries = new Map<string, Uint8Array>();
  const puts: { key: string; bytes: number; deliveredSoFar: number }[] = [];
  const key = (r: RequestInfo | URL) => (r instanceof Request ? r.url : String(r));
  const cache = {
    async match(r: RequestInfo | URL) {
      const b = entries.get(key(r));
      return b ? new Response(b.slice()) : undefined;
    },
    async put(r: RequestInfo | URL, resp: Response) {
      const bytes = new Uint8Array(await resp.arrayBuffer());
      puts.push({ key: key(r), bytes: bytes.byteLength, deliveredSoFar: storage.delivered });
      entries.set(key(r), bytes);
    },
    async delete(r: RequestInfo | URL) {
      return entries.delete(key(r));
    },
  };
  const storage = { entries, puts, delivered: 0, open: async () => cache };
  return storage;
}

describe('the browser cache at scale', () => {
  it('stores a large read as bounded blocks while it downloads, and serves it back byte for byte', async () => {
    const storage = recordingStorage();
    const blockBytes = 4096;
    // The network hands the body over in 1 KiB pieces; each put records how much had arrived by then.
    const slowFetch: typeof fetch = async (input, init) => {
      const resp = await fetch(input, init);
      if (!resp.body || resp.status !== 206) return resp;
      const pieces = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctl) {
          for (let at = 0; at < chunk.byteLength; at += 1024) {
            const piece = chunk.subarray(at, at + 1024);
            storage.delivered += piece.byteLength;
            ctl.enqueue(piece);
          }
        },
      });
      return new Response(resp.body.pipeThrough(pieces), { status: resp.status, statusText: resp.statusText, headers: resp.headers });
    };
    const tree = await hubTree({ repo: 'zoo/tiny-llama-base', hubUrl: fixture.hub.url, fetch: slowFetch, cache: browserHubCache({ storage, blockBytes }) });
    const src = await tree.open('model.safetensors');
    const onDisk = await readFile(join(fixture.zoo, 'tiny-llama', 'base', 'model.safetensors'));
    expect(src.size).toBeGreaterThan(8 * blockBytes);
    storage.puts.length = 0;
    storage.delivered = 0;
    const whole = await src.read(0, src.size);
    expect(Buffer.from(whole).equals(onDisk)).toBe(true);
    const blocks = storage.puts.filter((p) => /\/\d+-\d+$/.test(p.key));
    expect(blocks.length).toBeGreaterThanOrEqual(Math.floor(src.size / blockBytes));
    expect(Math.max(...blocks.map((p) => p.bytes))).toBeLessThanOrEqual(blockBytes);
    // Written as the data streams in: each block is stored within two pieces of its last byte arriving.
    for (const b of blocks) expect(b.deliveredSoFar).toBeLessThanOrEqual(Number(/(\d+)$/.exec(b.key)![1]) + 2048);
    expect(blocks[0].deliveredSoFar).toBeLessThan(src.size / 4);

    // A new session reads the blocks back without a request.
    fixture.hub.resetStats();
    const again = await hubTree({ repo: `zoo/tiny-llama-base@${tree.commit}`, hubUrl: fixture.hub.url, cache: browserHubCache({ storage, blockBytes }) });
    const src2 = await again.open('model.safetensors');
    expect(Buffer.from(await src2.read(1000, 20_000)).equals(onDisk.subarray(1000, 21_000))).toBe(true);
    expect(fixture.hub.stats.fileBytes).toBe(0);
  });
});

describe('download progress per model', () => {
  it('counts the weights read against their total, with a rate and an ETA, ending at 100 % once', async () => {
    const events: Progress[] = [];
    const tree = await hubTree({ repo: 'zoo/tiny-qwen2-base', hubUrl: fixture.hub.url, onProgress: (p) => events.push(p) });
    const model = await openSafetensorsModel(tree);
    for (const info of model.tensors.values()) await readTensorBytes(info);
    // A second pass (as two-pass methods do) reports nothing more.
    const before = events.length;
    const downloadedInPass1 = tree.bytesDownloaded;
    for (const info of model.tensors.values()) await readTensorBytes(info);
    const downloads = events.filter((e) => e.phase === 'download');
    const size = (await readFile(join(fixture.zoo, 'tiny-qwen2', 'base', 'model.safetensors'))).byteLength;
    expect(downloads.length).toBeGreaterThan(0);
    expect(downloads.every((e) => e.total === size && e.message === 'zoo/tiny-qwen2-base@main')).toBe(true);
    const last = downloads.at(-1)!;
    expect(last.done).toBe(size);
    expect(downloads.filter((e) => e.done === size)).toHaveLength(1);
    expect(last.rate).toBeGreaterThan(0);
    expect(last.eta).toBe(0);
    expect(last.bytes).toBe(downloadedInPass1);
    expect(events.length).toBe(before);
  });
});

describe('row blocks of a Hub tensor', () => {
  it('are range requests of at most the budget, never the whole tensor, and equal the local bytes', async () => {
    const tree = await hubTree({ repo: 'zoo/tiny-llama-base', hubUrl: fixture.hub.url });
    const model = await openSafetensorsModel(tree);
    const local = await openSafetensorsModel(nodeFolderTree(join(fixture.zoo, 'tiny-llama', 'base')));
    const [name, info] = [...model.tensors].sort((a, b) => b[1].bytes - a[1].bytes)[0];
    expect(info.bytes).toBeGreaterThan(8192);
    fixture.hub.resetStats();
    const parts: Uint8Array[] = [];
    for await (const block of tensorRowBlocks(info, 2048)) parts.push(block.bytes);
    expect(Buffer.concat(parts).equals(Buffer.from(await readTensorBytes(local.tensors.get(name)!)))).toBe(true);
    const ranges = fixture.hub.stats.requests.filter((r) => r.range).map((r) => r.range!.match(/bytes=(\d+)-(\d+)/)!.slice(1).map(Number));
    expect(ranges.length).toBeGreaterThanOrEqual(Math.floor(info.bytes / 2048));
    for (const [a, b] of ranges) expect(b - a + 1).toBeLessThanOrEqual(2048);
    expect(fixture.hub.stats.fileBytes).toBe(info.bytes);
  });
});
