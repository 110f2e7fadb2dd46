// The Hub source against a hostile Hub (tools/mock-hub/hostile.ts): listings whose content ids
// walk out of the cache or are not hashes, ids that are hashes of other bytes, flipped bytes,
// escape codes in error text, silence and stalls. Each case ends in one specific message; nothing
// is written outside the cache folder (the whole temporary root is scanned before and after).
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOSTILE_ERROR_TEXT, startHostileHub, type HostileHub, type HostileMode } from '../../../tools/mock-hub/hostile.ts';
import { writeFixtureZoo } from '../../../tools/mock-hub/fixture-zoo.ts';
import { MergeStudioError } from '../errors.ts';
import type { Progress } from '../progress.ts';
import { browserHubCache } from './browser-cache.ts';
import { nodeHubCache } from './node-cache.ts';
import { memoryCacheStorage } from './testing.ts';
import { hubTree, type HubTreeOptions } from './tree.ts';

let root: string;
let zoo: string;
const hubs: HostileHub[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ms-hostile-'));
  zoo = join(root, 'zoo');
  await writeFixtureZoo(zoo);
  await mkdir(join(root, 'outside'));
  await writeFile(join(root, 'outside', 'config.json'), 'keep me');
});
afterAll(async () => {
  for (const h of hubs) await h.close();
  await rm(root, { recursive: true, force: true });
});

async function hostile(mode: HostileMode): Promise<HostileHub> {
  const h = await startHostileHub({ root: zoo, mode });
  hubs.push(h);
  return h;
}

async function rejection(p: Promise<unknown>): Promise<MergeStudioError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err, 'expected a MergeStudioError').toBeInstanceOf(MergeStudioError);
  return err as MergeStudioError;
}

/** Every file under `dir` (except under `skip`) with its size and mtime: a write anywhere shows. */
async function snapshot(dir: string, skip: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  async function walk(d: string): Promise<void> {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (skip.some((s) => p === s || p.startsWith(`${s}/`))) continue;
      if (e.isDirectory()) await walk(p);
      else {
        const st = await stat(p).catch(() => null);
        out.set(relative(dir, p), st ? `${st.size}:${st.mtimeMs}` : 'dangling');
      }
    }
  }
  await walk(dir);
  return out;
}

let caches = 0;
const cacheDir = () => join(root, 'caches', `c${++caches}`);

const FAST: Partial<HubTreeOptions> = { retryDelayMs: 5 };

describe('a hostile Hub listing', () => {
  it('content ids that walk out of the cache are refused before anything is written', async () => {
    // From <cache>/models--zoo--tiny-llama-base/blobs/ these ids name <root>/outside/<path>.
    const cache = cacheDir();
    const evil = await hostile({ kind: 'traversal-etag', prefix: `../../../../outside/` });
    await mkdir(cache, { recursive: true });
    const before = await snapshot(root, [cache]);
    const err = await rejection(hubTree({ repo: 'zoo/tiny-llama-base', hubUrl: evil.url, cache: nodeHubCache(cache), ...FAST }));
    expect(err.code).toBe('hub-bad-listing');
    // The listing's first file is README.md (git blob id expected).
    expect(err.message).toBe("zoo/tiny-llama-base@main/README.md: the Hub listed the content id '../../../../outside/README.md' where a 40-digit hex git blob id was expected; nothing is downloaded for a file that cannot be verified");
    expect(evil.requests.some((r) => r.url.includes('/resolve/'))).toBe(false);
    expect(await snapshot(root, [cache])).toEqual(before);
    expect(await readFile(join(root, 'outside', 'config.json'), 'utf8')).toBe('keep me');
  });

  it('content ids that are not hex are refused, naming the file and the id', async () => {
    const evil = await hostile({ kind: 'non-hex-etag' });
    const err = await rejection(hubTree({ repo: 'zoo/tiny-llama-base', hubUrl: evil.url, cache: nodeHubCache(cacheDir()), ...FAST }));
    expect(err.message).toBe("zoo/tiny-llama-base@main/README.md: the Hub listed the content id 'not-a-hash-1' where a 40-digit hex git blob id was expected; nothing is downloaded for a file that cannot be verified");
  });

  it('content ids of other bytes: the completed file fails its check and is not kept', async () => {
    const cache = cacheDir();
    const evil = await hostile({ kind: 'wrong-hash' });
    const tree = await hubTree({ repo: 'zoo/tiny-llama-base', hubUrl: evil.url, cache: nodeHubCache(cache), checkModelFiles: false, ...FAST });
    const bytes = evil.inner.repos.get('zoo/tiny-llama-base')!.files.get('model.safetensors')!.bytes;
    const listed = tree.files.find((f) => f.path === 'model.safetensors')!.etag;
    expect(listed).toBe(createHash('sha256').update('not model.safetensors').digest('hex'));
    const src = await tree.open('model.safetensors');
    const err = await rejection(src.read(0, src.size));
    const real = createHash('sha256').update(bytes).digest('hex');
    expect(err.message).toBe(`model.safetensors: the downloaded bytes do not match the Hub's sha256 (${listed.slice(0, 12)}..., got ${real.slice(0, 12)}...); the partial download was discarded, try again`);
    const blobs = join(cache, 'models--zoo--tiny-llama-base', 'blobs');
    expect((await readdir(blobs)).filter((n) => !n.endsWith('.tmp'))).toEqual([]);
  });
});

describe('flipped bytes', () => {
  it('the CLI cache rejects the file with a sha256 mismatch and keeps nothing', async () => {
    const cache = cacheDir();
    const evil = await hostile({ kind: 'flip-byte' });
    const tree = await hubTree({ repo: 'zoo/tiny-llama-base', hubUrl: evil.url, cache: nodeHubCache(cache), ...FAST });
    const bytes = evil.inner.repos.get('zoo/tiny-llama-base')!.files.get('model.safetensors')!.bytes;
    const flipped = bytes.slice();
    flipped[flipped.length - 1] ^= 1;
    const src = await tree.open('model.safetensors');
    const err = await rejection(src.read(0, src.size));
    expect(err.code).toBe('hub-download-corrupt');
    const want = createHash('sha256').update(bytes).digest('hex');
    const got = createHash('sha256').update(flipped).digest('hex');
    expect(err.message).toBe(`model.safetensors: the downloaded bytes do not match the Hub's sha256 (${want.slice(0, 12)}..., got ${got.slice(0, 12)}...); the partial download was discarded, try again`);
    expect(await readdir(join(cache, 'models--zoo--tiny-llama-base', 'blobs'))).toEqual([]);
  });

  it('the tab cache rejects it the same way, drops every stored block, and downloads again next time', async () => {
    const storage = memoryCacheStorage();
    const evil = await hostile({ kind: 'flip-byte' });
    const tree = await hubTree({ repo: 'zoo/tiny-llama-base', hubUrl: evil.url, cache: browserHubCache({ storage }), ...FAST });
    const bytes = evil.inner.repos.get('zoo/tiny-llama-base')!.files.get('model.safetensors')!.bytes;
    const flipped = bytes.slice();
    flipped[flipped.length - 1] ^= 1;
    const src = await tree.open('model.safetensors');
    // Reading in pieces, as a merge does: the check runs when the last piece completes the file.
    const half = Math.floor(src.size / 2);
    await src.read(0, half);
    const err = await rejection(src.read(half, src.size - half));
    const want = createHash('sha256').update(bytes).digest('hex');
    const got = createHash('sha256').update(flipped).digest('hex');
    expect(err.message).toBe(`model.safetensors: the downloaded bytes do not match the Hub's sha256 (${want.slice(0, 12)}..., got ${got.slice(0, 12)}...); the partial download was discarded, try again`);
    const sha = want;
    expect([...storage.entries.keys()].filter((k) => k.includes(`/blob/${sha}/`))).toEqual([]);
  });

  it('the tab cache checks git blob ids too, and marks a good file verified', async () => {
    const storage = memoryCacheStorage();
    const evil = await hostile({ kind: 'flip-byte', suffix: 'config.json', offset: 3 });
    const flippedTree = await hubTree({ repo: 'zoo/tiny-llama-base', hubUrl: evil.url, cache: browserHubCache({ storage }), ...FAST });
    const cfg = await flippedTree.open('config.json');
    const err = await rejection(cfg.read(0, cfg.size));
    const file = evil.inner.repos.get('zoo/tiny-llama-base')!.files.get('config.json')!;
    const flipped = file.bytes.slice();
    flipped[3] ^= 1;
    const got = createHash('sha1').update(`blob ${flipped.byteLength}\0`).update(flipped).digest('hex');
    expect(err.message).toBe(`config.json: the downloaded bytes do not match the Hub's git-sha1 (${file.gitOid.slice(0, 12)}..., got ${got.slice(0, 12)}...); the partial download was discarded, try again`);

    // The same tab, an honest Hub: the file completes and is marked verified.
    const good = await hostile({ kind: 'flip-byte', suffix: 'no-such-file' });
    const tree = await hubTree({ repo: 'zoo/tiny-llama-base', hubUrl: good.url, cache: browserHubCache({ storage }), ...FAST });
    const src = await tree.open('config.json');
    expect(Buffer.from(await src.read(0, src.size)).equals(Buffer.from(file.bytes))).toBe(true);
    const verified = [...storage.entries].find(([k]) => k.endsWith(`/blob/${file.gitOid}/verified`));
    expect(verified && JSON.parse(new TextDecoder().decode(verified[1]))).toBe(file.gitOid);
  });
});

describe('flipped bytes without a cache', () => {
  it('a file read from start to end in order is checked all the same', async () => {
    const evil = await hostile({ kind: 'flip-byte' });
    const tree = await hubTree({ repo: 'zoo/tiny-llama-base', hubUrl: evil.url, ...FAST });
    const bytes = evil.inner.repos.get('zoo/tiny-llama-base')!.files.get('model.safetensors')!.bytes;
    const flipped = bytes.slice();
    flipped[flipped.length - 1] ^= 1;
    const src = await tree.open('model.safetensors');
    const third = Math.floor(src.size / 3);
    await src.read(0, third);
    await src.read(third, third);
    const err = await rejection(src.read(2 * third, src.size - 2 * third));
    const want = createHash('sha256').update(bytes).digest('hex');
    const got = createHash('sha256').update(flipped).digest('hex');
    expect(err.message).toBe(`model.safetensors: the downloaded bytes do not match the Hub's sha256 (${want.slice(0, 12)}..., got ${got.slice(0, 12)}...); the partial download was discarded, try again`);
  });
});

describe('hostile error text', () => {
  it('escape codes in a Hub error are printed escaped, and a 400 is not retried', async () => {
    const evil = await hostile({ kind: 'escape-error' });
    const err = await rejection(hubTree({ repo: 'zoo/tiny-llama-base', hubUrl: evil.url, ...FAST }));
    const host = new URL(evil.url).host;
    expect(err.message).toBe(`zoo/tiny-llama-base@main: ${host} answered 400 Bad Request: bad request \\x1b]0;pwned\\x07\\x1b[2J\\x1b[31mred\\x1b[0m \\u202eevil`);
    expect(HOSTILE_ERROR_TEXT).toContain('\u001b');
    expect(evil.requests.length).toBe(1);
  });
});

describe('a Hub that goes quiet', () => {
  // Short limits so the test is quick, but loose enough for a loaded machine.
  const timeouts = { connectMs: 200, firstByteMs: 800, stallMs: 500 };

  it('silence: no answer within connect + first byte, retried, then one line naming the URL', async () => {
    const evil = await hostile({ kind: 'silent' });
    const events: Progress[] = [];
    const started = Date.now();
    const err = await rejection(hubTree({ repo: 'zoo/tiny-llama-base', hubUrl: evil.url, timeouts, retries: 1, onProgress: (p) => events.push(p), ...FAST }));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(err.code).toBe('hub-timeout');
    const url = `${evil.url}/api/models/zoo/tiny-llama-base/revision/main`;
    expect(err.message).toBe(`${url}: no answer within 1 s (connect 0.2 s + first byte 0.8 s) (2 attempts)`);
    expect(evil.requests.length).toBe(2);
    expect(events.filter((e) => e.phase === 'hub-retry').map((e) => e.message)).toEqual([
      `zoo/tiny-llama-base@main: resolve the revision: stalled (${url}: no answer within 1 s (connect 0.2 s + first byte 0.8 s)); retry 1 of 1 in 0 s`,
    ]);
  });

  it('a body that stalls after 10 bytes: resumed from where it stopped, then one line naming the URL', async () => {
    const cache = cacheDir();
    const evil = await hostile({ kind: 'stall', afterBytes: 10, on: 'files' });
    const tree = await hubTree({ repo: 'zoo/tiny-llama-base', hubUrl: evil.url, cache: nodeHubCache(cache), timeouts, retries: 1, checkModelFiles: false, ...FAST });
    const src = await tree.open('model.safetensors');
    const started = Date.now();
    const err = await rejection(src.read(0, 100));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(err.code).toBe('hub-timeout');
    const url = `${evil.url}/zoo/tiny-llama-base/resolve/${tree.commit}/model.safetensors`;
    expect(err.message).toBe(`zoo/tiny-llama-base@main/model.safetensors: download failed 2 times in a row at byte 20 of [0, 100) (${url}: the server sent 10 bytes of the body, then nothing for 0.5 s (stalled)); the 20 bytes received are kept in ${cache}, run again to resume`);
    // The second attempt asked for the bytes after the first ten.
    expect(evil.requests.filter((r) => r.url.endsWith('/model.safetensors')).map((r) => r.range)).toEqual(['bytes=0-0', 'bytes=0-99', 'bytes=10-99']);
  });
});

describe('nothing outside the cache', () => {
  it('no hostile mode writes a byte outside the cache folder', async () => {
    const modes: HostileMode[] = [
      { kind: 'traversal-etag', prefix: '../../../../outside/' },
      { kind: 'traversal-etag', prefix: '/tmp/' },
      { kind: 'non-hex-etag' },
      { kind: 'wrong-hash' },
      { kind: 'flip-byte' },
      { kind: 'escape-error' },
    ];
    const cache = cacheDir();
    await mkdir(cache, { recursive: true });
    const before = await snapshot(root, [cache, join(root, 'caches')]);
    for (const mode of modes) {
      const evil = await hostile(mode);
      await hubTree({ repo: 'zoo/tiny-llama-base', hubUrl: evil.url, cache: nodeHubCache(cache), ...FAST })
        .then(async (t) => {
          for (const f of t.files) {
            const src = await t.open(f.path);
            await src.read(0, src.size);
          }
        })
        .catch(() => undefined);
      await evil.close();
    }
    expect(await snapshot(root, [cache, join(root, 'caches')])).toEqual(before);
  });
});
