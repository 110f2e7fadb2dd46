// The streamed-download path without a browser: tar entries over the pull protocol of
// port-stream.ts (the service worker's side played here by a consumer on a Node MessageChannel),
// unpacked by the system's tar as the independent reader.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { portChunkWriter } from './port-stream.ts';
import { tarHeader, tarSinks } from './tar.ts';

/** The service worker's side: pulls with up to `queue` slots, collects the pieces. */
function consumer(port: MessageChannel['port1'], queue = 2) {
  const pieces: Uint8Array[] = [];
  let largest = 0;
  const done = new Promise<{ bytes: Uint8Array; largest: number }>((resolve, reject) => {
    port.on('message', (msg: { type: string; bytes?: Uint8Array; message?: string }) => {
      if (msg.type === 'chunk') {
        pieces.push(msg.bytes!);
        largest = Math.max(largest, msg.bytes!.byteLength);
        port.postMessage({ type: 'pull' });
      } else if (msg.type === 'end') {
        port.close();
        resolve({ bytes: new Uint8Array(Buffer.concat(pieces)), largest });
      } else if (msg.type === 'error') {
        port.close();
        reject(new Error(msg.message));
      }
    });
  });
  for (let i = 0; i < queue; i++) port.postMessage({ type: 'pull' });
  return done;
}

let dir = '';
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 7 + (i >> 9)) & 255;
  return out;
}

describe('tar over a port', () => {
  it('streams entries that the system tar unpacks byte for byte, in pieces no larger than asked', async () => {
    const { port1, port2 } = new MessageChannel();
    const got = consumer(port1);
    const tar = tarSinks(portChunkWriter(port2 as never, { pieceBytes: 4096, heartbeatMs: 50 }), 'merged');
    const files = new Map([['model.safetensors', pattern(70_001, 1)], ['config.json', new TextEncoder().encode('{"a": 1}\n')], ['empty.txt', new Uint8Array(0)]]);
    for (const [name, bytes] of files) {
      const sink = await tar.create(name, bytes.byteLength);
      // written in uneven chunks, as the safetensors writer does
      for (let at = 0; at < bytes.byteLength; at += 10_007) await sink.write(bytes.subarray(at, at + 10_007));
      await sink.close();
    }
    await tar.finish();
    const { bytes, largest } = await got;
    expect(largest).toBeLessThanOrEqual(4096);
    expect(bytes.byteLength % 512).toBe(0);
    dir = await mkdtemp(join(tmpdir(), 'tar-test-'));
    await writeFile(join(dir, 'out.tar'), bytes);
    execFileSync('tar', ['-xf', 'out.tar'], { cwd: dir });
    for (const [name, want] of files) expect(new Uint8Array(await readFile(join(dir, 'merged', name))), name).toEqual(want);
  });

  it('a failed export breaks the stream instead of ending it, and a short file is refused', async () => {
    const { port1, port2 } = new MessageChannel();
    const got = consumer(port1);
    const tar = tarSinks(portChunkWriter(port2 as never), 'm');
    const sink = await tar.create('model.safetensors', 100);
    await sink.write(new Uint8Array(60));
    await expect(sink.close()).rejects.toThrow(/model\.safetensors' ended after 60 of its planned 100 bytes/);
    await expect(got).rejects.toThrow(/ended after 60/);
    await expect(tar.create('x', 1)).rejects.toThrow(/already aborted/);
  });

  it('a download cancelled in the browser stops the writer with a clear error', async () => {
    const { port1, port2 } = new MessageChannel();
    const tar = tarSinks(portChunkWriter(port2 as never), 'm');
    port1.postMessage({ type: 'cancel', reason: 'user' });
    await expect(tar.create('a', 10)).rejects.toThrow(/download was cancelled in the browser/);
    port1.close();
  });

  it('sizes of 8 GiB and more use the base-256 field', () => {
    const h = tarHeader('m/huge.safetensors', 2 ** 33 + 5, 0);
    expect(h[124]).toBe(0x80);
    expect([...h.subarray(130, 136)]).toEqual([0, 2, 0, 0, 0, 5]);
    expect(() => tarHeader(`${'x'.repeat(200)}/y`, 1, 0)).toThrow(/too long/);
  });
});
