// The mock Hub's own protocol, which the browser tests rely on: ranges (incl. suffix and
// unsatisfiable), HEAD, CORS preflight and exposed headers, error codes, listings, and the
// command-line entry the Playwright config starts.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockHub, type MockHub } from '../../../tools/mock-hub/server.ts';
import { writeFixtureZoo } from '../../../tools/mock-hub/fixture-zoo.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
let dir: string;
let hub: MockHub;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ms-mock-hub-'));
  await writeFixtureZoo(join(dir, 'zoo'));
  hub = await startMockHub({ port: 0, root: join(dir, 'zoo') });
});
afterAll(async () => {
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('mock Hub protocol', () => {
  it('answers ranges like the Hub: 206 + Content-Range, suffix ranges, 416 when unsatisfiable', async () => {
    const file = hub.repos.get('zoo/tiny-llama-base')!.files.get('model.safetensors')!;
    const size = file.bytes.byteLength;
    const url = `${hub.url}/zoo/tiny-llama-base/resolve/main/model.safetensors`;
    const part = await fetch(url, { headers: { Range: 'bytes=10-19' } });
    expect([part.status, part.headers.get('content-range'), part.headers.get('x-linked-size')]).toEqual([206, `bytes 10-19/${size}`, String(size)]);
    expect(Buffer.from(await part.arrayBuffer()).equals(Buffer.from(file.bytes.subarray(10, 20)))).toBe(true);
    const suffix = await fetch(url, { headers: { Range: 'bytes=-4' } });
    expect(Buffer.from(await suffix.arrayBuffer()).equals(Buffer.from(file.bytes.subarray(size - 4)))).toBe(true);
    const bad = await fetch(url, { headers: { Range: `bytes=${size}-` } });
    expect([bad.status, bad.headers.get('content-range')]).toEqual([416, `bytes */${size}`]);
    await bad.arrayBuffer();
    const head = await fetch(url, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length'), head.headers.get('etag')]).toEqual([200, String(size), `"${file.sha256}"`]);
  });

  it('allows cross-origin reads: preflight, and the headers clients need exposed', async () => {
    const pre = await fetch(`${hub.url}/zoo/gated/resolve/main/config.json`, { method: 'OPTIONS', headers: { Origin: 'http://127.0.0.1:4173', 'Access-Control-Request-Headers': 'authorization,range' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/Authorization.*Range/);
    const get = await fetch(`${hub.url}/zoo/nope/resolve/main/config.json`);
    await get.arrayBuffer();
    const exposed = get.headers.get('access-control-expose-headers')!;
    for (const h of ['Content-Range', 'ETag', 'X-Error-Code', 'X-Repo-Commit', 'X-Linked-Size']) expect(exposed).toContain(h);
    expect([get.status, get.headers.get('x-error-code')]).toEqual([404, 'RepoNotFound']);
  });

  it('lists files with LFS sha256 ids, and folders when not recursive', async () => {
    const r = await fetch(`${hub.url}/api/models/zoo/tiny-llama-base/tree/main`);
    const entries = (await r.json()) as { path: string; lfs?: { oid: string } }[];
    const weights = entries.find((e) => e.path === 'model.safetensors')!;
    expect(weights.lfs!.oid).toBe(hub.repos.get('zoo/tiny-llama-base')!.files.get('model.safetensors')!.sha256);
    expect(entries.find((e) => e.path === 'config.json')!.lfs).toBeUndefined();
  });

  it('starts from the command line and prints its URL', async () => {
    const child = spawn(process.execPath, [join(repoRoot, 'node_modules/tsx/dist/cli.mjs'), join(repoRoot, 'tools/mock-hub/server.ts'), '--port', '0', '--root', join(dir, 'zoo')], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /mock hub on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
          if (m) resolve(m[1]);
        });
        child.on('exit', (code) => reject(new Error(`mock hub exited with ${code}: ${out}`)));
      });
      const info = (await (await fetch(`${url}/api/models/zoo/tiny-qwen2-base`)).json()) as { id: string; sha: string };
      expect(info.id).toBe('zoo/tiny-qwen2-base');
      expect(info.sha).toMatch(/^[0-9a-f]{40}$/);
    } finally {
      child.kill();
    }
  });
});

// A real model's single model.safetensors is 2.47 GB (Llama-3.2-1B); Node buffers stop at 2 GiB, so
// the mock Hub serves large files from disk. The file here is sparse (truncate, then a few bytes
// written near the end), so CI never writes GBs; the mock Hub hashes it once (2 GiB of reads).
describe('mock Hub serving files larger than 2 GiB from disk', () => {
  const BIG = 2 ** 31 + 3 * 2 ** 20 + 5;
  const MEDIUM = 20 * 2 ** 20 + 7;
  let root: string;
  let big: MockHub;
  const marks: [number, Uint8Array][] = [
    [2 ** 31 - 6, new TextEncoder().encode('across-2GiB')],
    [BIG - 9, new TextEncoder().encode('last-9-by')],
  ];
  const medium = new Uint8Array(MEDIUM).map((_, i) => (i * 2654435761) >>> 24);

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'ms-mock-hub-big-'));
    await mkdir(join(root, 'big'));
    await writeFile(join(root, 'big', 'config.json'), '{"model_type":"llama"}\n');
    const fh = await open(join(root, 'big', 'model.safetensors'), 'w');
    await fh.truncate(BIG);
    for (const [at, b] of marks) await fh.write(b, 0, b.byteLength, at);
    await fh.close();
    await mkdir(join(root, 'medium'));
    await writeFile(join(root, 'medium', 'config.json'), '{"model_type":"llama"}\n');
    await writeFile(join(root, 'medium', 'model.safetensors'), medium);
    big = await startMockHub({ port: 0, root });
  }, 120_000);
  afterAll(async () => {
    await big?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('answers HEAD and ranges near the end of a sparse 2 GiB+ file with exact sizes and bytes', async () => {
    const url = `${big.url}/zoo/big/resolve/main/model.safetensors`;
    const listing = (await (await fetch(`${big.url}/api/models/zoo/big/tree/main`)).json()) as { path: string; size: number; lfs?: { oid: string; size: number } }[];
    const entry = listing.find((e) => e.path === 'model.safetensors')!;
    expect([entry.size, entry.lfs?.size]).toEqual([BIG, BIG]);
    expect(entry.lfs?.oid).toMatch(/^[0-9a-f]{64}$/);
    const head = await fetch(url, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length'), head.headers.get('x-linked-size'), head.headers.get('etag'), head.headers.get('accept-ranges')]).toEqual([200, String(BIG), String(BIG), `"${entry.lfs!.oid}"`, 'bytes']);
    for (const [at, b] of marks) {
      const r = await fetch(url, { headers: { Range: `bytes=${at - 3}-${at + b.byteLength + 2}` } });
      const end = Math.min(at + b.byteLength + 2, BIG - 1);
      expect([r.status, r.headers.get('content-range'), r.headers.get('content-length')]).toEqual([206, `bytes ${at - 3}-${end}/${BIG}`, String(end - (at - 3) + 1)]);
      const got = new Uint8Array(await r.arrayBuffer());
      const want = new Uint8Array(end - (at - 3) + 1);
      want.set(b, 3);
      expect(Buffer.from(got).equals(Buffer.from(want))).toBe(true);
    }
    const suffix = await fetch(url, { headers: { Range: 'bytes=-9' } });
    expect([suffix.status, suffix.headers.get('content-range'), new TextDecoder().decode(await suffix.arrayBuffer())]).toEqual([206, `bytes ${BIG - 9}-${BIG - 1}/${BIG}`, 'last-9-by']);
    const headRange = await fetch(url, { method: 'HEAD', headers: { Range: `bytes=${2 ** 31}-` } });
    expect([headRange.status, headRange.headers.get('content-length'), headRange.headers.get('content-range')]).toEqual([206, String(BIG - 2 ** 31), `bytes ${2 ** 31}-${BIG - 1}/${BIG}`]);
    const bad = await fetch(url, { headers: { Range: `bytes=${BIG}-` } });
    expect([bad.status, bad.headers.get('content-range')]).toEqual([416, `bytes */${BIG}`]);
    await bad.arrayBuffer();
  });

  it('streams a whole disk-backed file with its sha256, and cuts it where a fault says', async () => {
    const url = `${big.url}/zoo/medium/resolve/main/model.safetensors`;
    const file = big.repos.get('zoo/medium')!.files.get('model.safetensors')!;
    expect(file.disk).toBeDefined();
    expect(file.sha256).toBe(createHash('sha256').update(medium).digest('hex'));
    const r = await fetch(url);
    expect([r.status, r.headers.get('content-length'), r.headers.get('etag')]).toEqual([200, String(MEDIUM), `"${file.sha256}"`]);
    expect(Buffer.from(await r.arrayBuffer()).equals(Buffer.from(medium))).toBe(true);
    big.setFaults({ dropAfter: 5 * 2 ** 20 + 3 });
    const cut = await fetch(url);
    const reader = cut.body!.getReader();
    let got = 0;
    await expect(
      (async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          got += value.byteLength;
        }
      })(),
    ).rejects.toThrow();
    expect(got).toBe(5 * 2 ** 20 + 3);
  });
});
