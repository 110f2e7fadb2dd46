import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MergeStudioError } from '../errors.ts';
import { nodeFileSource, nodeFolderTree } from '../io/node-file.ts';
import { memorySource, memoryTree } from '../io/memory.ts';
import { openSafetensorsModel, readSafetensorsHeader, readTensorBytes, readTensorF32, serializeSafetensors } from './index.ts';

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));

describe('golden fixtures (made by Python, values read back with struct.unpack)', () => {
  it('reads the 7x13 two-tensor file', async () => {
    const src = await nodeFileSource(join(fixtures, 'nearswap_t01_7x13.inputs.safetensors'));
    const h = await readSafetensorsHeader(src);
    expect([...h.tensors.keys()]).toEqual(['base', 'm0']);
    expect(h.headerBytes).toBe(128);
    const base = h.tensors.get('base')!;
    expect(base).toMatchObject({ dtype: 'F32', shape: [7, 13], offset: 136, bytes: 364 });
    const values = await readTensorF32(base);
    expect(values.length).toBe(91);
    expect(Array.from(values.slice(0, 4))).toEqual([0.13496103882789612, 0.43106842041015625, 0.914995551109314, -0.3714202344417572].map(Math.fround));
  });

  it('reads a row range of a 1-D tensor and the same bytes as a whole read', async () => {
    const tree = nodeFolderTree(fixtures);
    const src = await tree.open('linear_3m_w123_norm_128.inputs.safetensors');
    const { tensors } = await readSafetensorsHeader(src);
    const m2 = tensors.get('m2')!;
    expect(Array.from(await readTensorF32(m2, { rows: [125, 128] }))).toEqual([-0.8770948648452759, 0.8055480122566223, 0.032326728105545044].map(Math.fround));
    const all = await readTensorF32(m2);
    expect(Array.from(all.slice(125))).toEqual(Array.from(await readTensorF32(m2, { rows: [125, 128] })));
    expect((await readTensorBytes(m2)).byteLength).toBe(512);
  });
});

describe('serialize -> read', () => {
  it('round-trips mixed dtypes and metadata byte-exactly', async () => {
    const data = { a: new Uint8Array([1, 2, 3, 4, 5, 6]), b: new Uint8Array([9, 8]) };
    const file = serializeSafetensors(
      [
        { name: 'a', dtype: 'BF16', shape: [3], data: data.a },
        { name: 'b', dtype: 'U8', shape: [1, 2], data: data.b },
      ],
      { format: 'pt' },
    );
    expect((file.byteLength - 8 - 8) % 8).toBe(0);
    const h = await readSafetensorsHeader(memorySource(file, 'x.safetensors'));
    expect(h.metadata).toEqual({ format: 'pt' });
    expect(await readTensorBytes(h.tensors.get('a')!)).toEqual(data.a);
    expect(await readTensorBytes(h.tensors.get('b')!)).toEqual(data.b);
  });

  it('reads a header longer than the first 64 KiB read with one more read', async () => {
    const tensors = Array.from({ length: 2000 }, (_, i) => ({ name: `model.layers.${i}.mlp.down_proj.weight`, dtype: 'U8' as const, shape: [1, 2], data: new Uint8Array([i & 0xff, 7]) }));
    const file = serializeSafetensors(tensors);
    const inner = memorySource(file, 'long.safetensors');
    const reads: number[][] = [];
    const h = await readSafetensorsHeader({ ...inner, read: (o, l, sig) => { reads.push([o, l]); return inner.read(o, l, sig); } });
    expect(h.headerBytes).toBeGreaterThan(64 * 1024);
    expect(reads).toEqual([[0, 64 * 1024], [8, h.headerBytes]]);
    expect(await readTensorBytes(h.tensors.get('model.layers.1999.mlp.down_proj.weight')!)).toEqual(new Uint8Array([1999 & 0xff, 7]));
  });

  it('rejects a row range outside the tensor', async () => {
    const file = serializeSafetensors([{ name: 'w', dtype: 'F32', shape: [2, 2], data: new Uint8Array(16) }]);
    const { tensors } = await readSafetensorsHeader(memorySource(file, 'w.safetensors'));
    await expect(readTensorF32(tensors.get('w')!, { rows: [1, 3] })).rejects.toMatchObject({ code: 'tensor-row-range' });
  });
});

describe('openSafetensorsModel', () => {
  const f32 = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);
  const shardA = serializeSafetensors([{ name: 'x', dtype: 'F32', shape: [2], data: f32([1, 2]) }]);
  const shardB = serializeSafetensors([{ name: 'y', dtype: 'F32', shape: [1], data: f32([3]) }]);
  const index = (map: Record<string, string>) => new TextEncoder().encode(JSON.stringify({ metadata: { total_size: 12 }, weight_map: map }));

  it('follows the index across shards', async () => {
    const tree = memoryTree(new Map([
      ['model-00001-of-00002.safetensors', shardA],
      ['model-00002-of-00002.safetensors', shardB],
      ['model.safetensors.index.json', index({ x: 'model-00001-of-00002.safetensors', y: 'model-00002-of-00002.safetensors' })],
    ]));
    const progress: string[] = [];
    const m = await openSafetensorsModel(tree, undefined, (p) => progress.push(`${p.phase} ${p.done}/${p.total}`));
    expect(m.files).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    expect(progress).toEqual(['headers 0/2', 'headers 1/2', 'headers 2/2']);
    expect(m.indexMetadata).toEqual({ total_size: 12 });
    expect(Array.from(await readTensorF32(m.tensors.get('y')!))).toEqual([3]);
    expect(m.tensors.get('y')!.file).toBe('model-00002-of-00002.safetensors');
  });

  it('names a missing shard and a tensor the index misplaces', async () => {
    const missing = memoryTree(new Map([
      ['a.safetensors', shardA],
      ['model.safetensors.index.json', index({ x: 'a.safetensors', y: 'b.safetensors' })],
    ]));
    await expect(openSafetensorsModel(missing)).rejects.toMatchObject({ code: 'safetensors-shard-missing', message: expect.stringContaining('b.safetensors') });
    const misplaced = memoryTree(new Map([
      ['a.safetensors', shardA],
      ['b.safetensors', shardB],
      ['model.safetensors.index.json', index({ x: 'b.safetensors', y: 'b.safetensors' })],
    ]));
    await expect(openSafetensorsModel(misplaced)).rejects.toMatchObject({ code: 'safetensors-index-mismatch', message: expect.stringContaining("'x'") });
  });

  it('without an index, reads every .safetensors file and refuses a tensor in two files', async () => {
    const ok = await openSafetensorsModel(memoryTree(new Map([['a.safetensors', shardA], ['b.safetensors', shardB], ['README.md', new Uint8Array(3)]])));
    expect([...ok.tensors.keys()].sort()).toEqual(['x', 'y']);
    const dup = memoryTree(new Map([['a.safetensors', shardA], ['c.safetensors', shardA]]));
    await expect(openSafetensorsModel(dup)).rejects.toBeInstanceOf(MergeStudioError);
  });

  describe('on a Node folder', () => {
    let dir = '';
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'ms-reader-'));
      await writeFile(join(dir, 'model.safetensors'), shardA);
    });
    afterAll(async () => rm(dir, { recursive: true, force: true }));
    it('opens a single-file model', async () => {
      const m = await openSafetensorsModel(nodeFolderTree(dir));
      expect(Array.from(await readTensorF32(m.tensors.get('x')!))).toEqual([1, 2]);
    });
  });
});
