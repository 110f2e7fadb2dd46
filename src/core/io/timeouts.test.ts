// Range reads over HTTP against servers that go quiet: one that accepts the connection and never
// answers, one that sends headers and 10 bytes and then stalls. Each read ends in a typed error
// naming the URL (without its password or query) within the limits, never a hang.
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MergeStudioError } from '../errors.ts';
import { httpRangeSource } from './http.ts';

let server: Server;
let base: string;
const sockets = new Set<Socket>();

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url?.startsWith('/silent')) return; // accepted, never answered
    // /stall: a 206 for 20 bytes, of which 10 are sent.
    res.writeHead(206, { 'Content-Range': 'bytes 0-19/100', 'Content-Length': '20' });
    res.write(new Uint8Array(10));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => server.close(resolve));
});

const timeouts = { connectMs: 200, firstByteMs: 600, stallMs: 500 };

async function rejection(p: Promise<unknown>): Promise<MergeStudioError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(MergeStudioError);
  return err as MergeStudioError;
}

describe('HTTP range reads with timeouts', () => {
  it('a server that never answers: http-timeout after connect + first byte', async () => {
    const src = await httpRangeSource(`${base}/silent/model.safetensors?sig=secret`, { size: 100, timeouts });
    const started = Date.now();
    const err = await rejection(src.read(0, 20));
    expect(Date.now() - started).toBeLessThan(5000);
    expect([err.code, err.message]).toEqual(['http-timeout', `${base}/silent/model.safetensors: no answer within 0.8 s (connect 0.2 s + first byte 0.6 s)`]);
  });

  it('headers and 10 bytes, then silence: http-timeout naming the stall', async () => {
    const src = await httpRangeSource(`${base}/stall/model.safetensors`, { size: 100, timeouts });
    const err = await rejection(src.read(0, 20));
    expect([err.code, err.message]).toEqual(['http-timeout', `${base}/stall/model.safetensors: the server sent 10 bytes of the body, then nothing for 0.5 s (stalled)`]);
  });
});
