// The demo zoo (public/zoo) served over HTTP with Range support, as any web host serves the built
// app, for tests that load models the way the studio does.
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

const ZOO = join(process.cwd(), 'public', 'zoo');

/** Serves public/zoo under /zoo/ while the calling test file runs; `url` ends with '/zoo/'. */
export function serveZoo(): { url: string } {
  const state = { url: '' };
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^\/zoo\//, '');
    const file = join(ZOO, path);
    if (!file.startsWith(ZOO) || !(await stat(file).catch(() => null))?.isFile()) {
      res.writeHead(404).end();
      return;
    }
    const bytes = await readFile(file);
    const range = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
    if (range) {
      const [start, end] = [Number(range[1]), Math.min(Number(range[2]), bytes.length - 1)];
      res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${bytes.length}`, 'Content-Length': end - start + 1 }).end(bytes.subarray(start, end + 1));
    } else res.writeHead(200, { 'Content-Length': bytes.length }).end(bytes);
  });
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/zoo/`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return state;
}
