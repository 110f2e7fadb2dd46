// Row-range reads: a tensor read in blocks of whole rows, each block one range read of at most the
// budget, with one block of read-ahead; the blocks put together are the tensor's bytes.
import { describe, expect, it } from 'vitest';
import { MergeStudioError } from '../errors.ts';
import { memorySource } from '../io/memory.ts';
import type { ByteSource } from '../io/types.ts';
import { readSafetensorsHeader, readTensorBytes, readTensorRows, serializeSafetensors, tensorRowBlocks } from './index.ts';

function fixture(): Uint8Array {
  const big = new Uint8Array(1000 * 64 * 2).map((_, i) => (i * 7 + (i >> 9)) & 0xff);
  return serializeSafetensors([
    { name: 'big', dtype: 'BF16', shape: [1000, 64], data: big },
    { name: 'scalar', dtype: 'F32', shape: [], data: new Uint8Array([0, 0, 128, 63]) },
  ]);
}

/** A source that logs each read it starts, to see read sizes and the read-ahead order. */
function logged(inner: ByteSource, log: string[]): ByteSource {
  return { name: inner.name, size: inner.size, read: (offset, length, signal) => (log.push(`read ${offset}+${length}`), inner.read(offset, length, signal)) };
}

describe('tensorRowBlocks', () => {
  it('reads whole-row blocks within the budget, one block ahead, that add up to the tensor', async () => {
    const log: string[] = [];
    const source = logged(memorySource(fixture(), 'f.safetensors'), log);
    const header = await readSafetensorsHeader(source);
    const info = header.tensors.get('big')!;
    const whole = await readTensorBytes(info);
    log.length = 0;
    const parts: Uint8Array[] = [];
    let expectStart = 0;
    for await (const block of tensorRowBlocks(info, 10_000)) {
      log.push(`got ${block.start}-${block.end}`);
      expect(block.start).toBe(expectStart);
      expect(block.bytes.byteLength).toBe((block.end - block.start) * 128);
      expect(block.bytes.byteLength).toBeLessThanOrEqual(10_000);
      expectStart = block.end;
      parts.push(block.bytes);
    }
    expect(expectStart).toBe(1000);
    expect(Buffer.concat(parts).equals(Buffer.from(whole))).toBe(true);
    // 78 rows (9984 bytes) per block: 13 blocks, each one read, the next read started before a block is handed out.
    const reads = log.filter((l) => l.startsWith('read'));
    expect(reads).toHaveLength(13);
    expect(log.slice(0, 3)).toEqual([`read ${info.offset}+9984`, `read ${info.offset + 9984}+9984`, 'got 0-78']);
    expect(log.at(-1)).toBe('got 936-1000');

    const scalar = [];
    for await (const b of tensorRowBlocks(header.tensors.get('scalar')!, 1)) scalar.push(b);
    expect(scalar).toHaveLength(1);
    expect([...scalar[0].bytes]).toEqual([0, 0, 128, 63]);
  });

  it('refuses rows outside the tensor with a typed error naming it', async () => {
    const header = await readSafetensorsHeader(memorySource(fixture(), 'f.safetensors'));
    const err = await readTensorRows(header.tensors.get('big')!, 990, 1001).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MergeStudioError);
    expect((err as MergeStudioError).code).toBe('tensor-row-range');
    expect((err as MergeStudioError).message).toContain("tensor 'big' [1000,64]: rows [990, 1001) are outside [0, 1000)");
  });
});
