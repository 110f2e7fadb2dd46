// The mock Hub's own protocol, which the browser tests rely on: ranges (incl. suffix and
// unsatisfiable), HEAD, CORS preflight and exposed headers, error codes, listings, and the
// command-line entry the Playwright config starts.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
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
