// One case per validation rule: a hand-built file and the error code it must produce.
import { describe, expect, it } from 'vitest';
import { MergeStudioError } from '../errors.ts';
import type { ByteSource } from '../io/types.ts';
import { memorySource } from '../io/memory.ts';
import { readSafetensorsHeader } from './index.ts';

/** Builds a file from a raw header string (no padding added) and a data section. */
function rawFile(header: string, dataBytes = 0, declaredLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.byteLength + dataBytes);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(json.byteLength), true);
  out.set(json, 8);
  return out;
}
const entry = (dtype: string, shape: number[], begin: number, end: number) => ({ dtype, shape, data_offsets: [begin, end] });
const header = (obj: Record<string, unknown>) => JSON.stringify(obj);

interface Case {
  name: string;
  file: Uint8Array;
  code: string;
  /** Words the message must contain (file, tensor, expected/found). */
  mentions: string[];
}

const cases: Case[] = [
  { name: 'file shorter than the 8-byte length', file: new Uint8Array(5), code: 'safetensors-header-too-small', mentions: ['5 bytes'] },
  { name: 'truncated header (length says 40, 10 bytes follow)', file: rawFile('{"a":1}  x', 0, 40n), code: 'safetensors-header-length', mentions: ['40'] },
  { name: 'header length larger than the file', file: rawFile('{}', 0, 1000n), code: 'safetensors-header-length', mentions: ['1000'] },
  { name: 'a 1 GB header claim', file: rawFile('{}', 0, 1_000_000_000n), code: 'safetensors-header-too-large', mentions: ['1000000000', '100000000'] },
  { name: 'a 2^64-1 header claim', file: rawFile('{}', 0, 2n ** 64n - 1n), code: 'safetensors-header-too-large', mentions: ['18446744073709551615'] },
  { name: 'header not starting with {', file: rawFile(' {}'), code: 'safetensors-header-start', mentions: ["'{'"] },
  { name: 'header not JSON', file: rawFile('{"a":'), code: 'safetensors-header-json', mentions: ['JSON'] },
  { name: 'header not UTF-8', file: (() => { const f = rawFile('{"\u00e9":1}'); f[10] = 0xff; return f; })(), code: 'safetensors-header-not-utf8', mentions: ['UTF-8'] },
  {
    name: 'overlapping offsets',
    file: rawFile(header({ a: entry('F32', [2], 0, 8), b: entry('F32', [2], 4, 12) }), 12),
    code: 'safetensors-overlap', mentions: ["'b'", "'a'", '4', '8'],
  },
  {
    name: 'gap between tensors',
    file: rawFile(header({ a: entry('F32', [2], 0, 8), b: entry('F32', [2], 12, 20) }), 20),
    code: 'safetensors-gap', mentions: ["'b'", '12', 'expected 8'],
  },
  {
    name: 'first tensor not at offset 0',
    file: rawFile(header({ a: entry('U8', [2], 2, 4) }), 4),
    code: 'safetensors-gap', mentions: ["'a'", 'expected 0'],
  },
  {
    name: 'byte size not matching dtype x shape',
    file: rawFile(header({ w: entry('BF16', [3, 2], 0, 8) }), 8),
    code: 'safetensors-size-mismatch', mentions: ["'w'", 'BF16', '[3,2]', '12', '8'],
  },
  {
    name: 'end before begin',
    file: rawFile(header({ w: entry('U8', [0], 4, 0) }), 4),
    code: 'safetensors-bad-offsets', mentions: ["'w'"],
  },
  {
    name: 'non-string metadata',
    file: rawFile(header({ __metadata__: { format: 'pt', step: 3 }, a: entry('U8', [1], 0, 1) }), 1),
    code: 'safetensors-bad-metadata', mentions: ["'step'", '3'],
  },
  {
    name: 'duplicate tensor names',
    file: rawFile('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1),
    code: 'safetensors-duplicate-name', mentions: ["'a'"],
  },
  {
    name: 'duplicate key inside a tensor entry',
    file: rawFile('{"a":{"dtype":"U8","dtype":"F32","shape":[1],"data_offsets":[0,1]}}', 1),
    code: 'safetensors-duplicate-name', mentions: ["'dtype'", "'a'"],
  },
  {
    name: 'unknown dtype',
    file: rawFile(header({ a: entry('F128', [1], 0, 16) }), 16),
    code: 'safetensors-unknown-dtype', mentions: ["'a'", 'F128'],
  },
  {
    name: 'negative shape entry',
    file: rawFile(header({ a: entry('U8', [-1], 0, 1) }), 1),
    code: 'safetensors-bad-shape', mentions: ["'a'", '-1'],
  },
  {
    name: 'fractional shape entry',
    file: rawFile(header({ a: entry('U8', [1.5], 0, 1) }), 1),
    code: 'safetensors-bad-shape', mentions: ["'a'"],
  },
  {
    name: 'trailing bytes after the data',
    file: rawFile(header({ a: entry('U8', [2], 0, 2) }), 5),
    code: 'safetensors-trailing-bytes', mentions: ['3 bytes'],
  },
  {
    name: 'data running past the end of the file',
    file: rawFile(header({ a: entry('F32', [4], 0, 16) }), 10),
    code: 'safetensors-truncated', mentions: ["'a'"],
  },
  {
    name: 'sub-byte dtype not filling whole bytes',
    file: rawFile(header({ a: entry('F4', [3], 0, 2) }), 2),
    code: 'safetensors-misaligned', mentions: ["'a'", 'F4'],
  },
  {
    name: 'element count overflowing',
    file: rawFile(header({ a: entry('F32', [2 ** 30, 2 ** 30, 2 ** 30], 0, 4) }), 4),
    code: 'safetensors-overflow', mentions: ["'a'"],
  },
  {
    name: 'tensor entry missing data_offsets',
    file: rawFile(header({ a: { dtype: 'U8', shape: [1] } }), 1),
    code: 'safetensors-bad-offsets', mentions: ["'a'"],
  },
];

describe('safetensors header validation: one specific error per broken rule', () => {
  it.each(cases)('$name -> $code', async ({ file, code, mentions }) => {
    const err = await readSafetensorsHeader(memorySource(file, 'broken.safetensors')).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MergeStudioError);
    expect((err as MergeStudioError).code).toBe(code);
    const message = (err as MergeStudioError).message;
    expect(message).toContain('broken.safetensors');
    for (const m of mentions) expect(message).toContain(m);
  });

  it('fails a 1 GB header claim before reading or allocating anything beyond the prefix', async () => {
    const file = rawFile('{}', 0, 1_000_000_000n);
    const reads: [number, number][] = [];
    const inner = memorySource(file, 'huge.safetensors');
    // Pretend the file really is 2 GB so only the size cap can stop it.
    const source: ByteSource = { name: inner.name, size: 2e9, read: (o, l, s) => { reads.push([o, l]); return inner.read(o, Math.min(l, 8), s); } };
    const t0 = performance.now();
    await expect(readSafetensorsHeader(source)).rejects.toMatchObject({ code: 'safetensors-header-too-large' });
    expect(performance.now() - t0).toBeLessThan(50);
    // Only the first (bounded) read happened: nothing sized by the claim.
    expect(reads.length).toBe(1);
    expect(reads[0][0]).toBe(0);
    expect(reads[0][1]).toBeLessThanOrEqual(64 * 1024);
  });

  it('accepts the edge cases the reference accepts', async () => {
    // Empty header, null metadata, zero-sized tensors sharing an offset, a scalar, unknown extra keys, tensors listed out of order.
    const ok = rawFile(header({
      __metadata__: null,
      z: entry('F32', [], 4, 8),
      e1: entry('F32', [0], 4, 4),
      e0: entry('U8', [0, 3], 0, 0),
      b: { ...entry('U8', [4], 0, 4), extra: true },
    }), 8);
    const h = await readSafetensorsHeader(memorySource(ok, 'ok.safetensors'));
    expect([...h.tensors.keys()]).toEqual(['e0', 'b', 'e1', 'z']);
    expect(h.tensors.get('z')).toMatchObject({ shape: [], bytes: 4 });
    expect((await readSafetensorsHeader(memorySource(rawFile('{}'), 'empty'))).tensors.size).toBe(0);
    // Tensor names that are Object.prototype members stay ordinary names.
    const proto = rawFile(header({ __proto__x: entry('U8', [1], 0, 1) }).replace('__proto__x', '__proto__'), 1);
    expect([...(await readSafetensorsHeader(memorySource(proto, 'p'))).tensors.keys()]).toEqual(['__proto__']);
  });
});
