// One case per validation rule: a hand-built file and the error code it must produce.
import { describe, expect, it } from 'vitest';
import { MergeStudioError } from '../errors.ts';
import type { ByteSource } from '../io/types.ts';
import { memorySource } from '../io/memory.ts';
import { BAD_FILES, entry, header, rawFile } from './bad-files.testdata.ts';
import { readSafetensorsHeader } from './index.ts';

describe('safetensors header validation: one specific error per broken rule', () => {
  it.each(BAD_FILES)('$name -> $code', async ({ file, code, mentions }) => {
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
