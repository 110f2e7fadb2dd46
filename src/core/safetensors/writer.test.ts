import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFromF32 } from '../dtype.ts';
import { nodeFolderSinks, nodeFolderTree } from '../io/node-file.ts';
import { memorySinks, memorySource, memoryTree } from '../io/memory.ts';
import type { Progress } from '../progress.ts';
import { openSafetensorsModel, readSafetensorsHeader, readTensorBytes, readTensorF32, SafetensorsWriter, serializeSafetensors } from './index.ts';
import type { TensorSpec } from './serialize.ts';

// A small "model": deterministic values, mixed dtypes, a 0-element tensor and a scalar.
function makeModel(): (TensorSpec & { values: Float32Array })[] {
  const t = (name: string, dtype: TensorSpec['dtype'], shape: number[]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(n).map((_, i) => Math.sin(i * 0.37 + name.length) * 3);
    return { name, dtype, shape, values };
  };
  return [
    t('model.embed_tokens.weight', 'BF16', [40, 16]),
    t('model.layers.0.self_attn.q_proj.weight', 'F16', [16, 16]),
    t('model.layers.0.mlp.up_proj.weight', 'F32', [32, 16]),
    t('model.layers.0.input_layernorm.weight', 'F32', [16]),
    t('model.norm.weight', 'F64', [16]),
    t('empty', 'F32', [0, 4]),
    t('scalar', 'F32', []),
  ];
}

let dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  dirs = [];
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ms-writer-'));
  dirs.push(d);
  return d;
}

describe('SafetensorsWriter', () => {
  it('writes a multi-shard model to a Node folder that openSafetensorsModel reads back byte-exactly', async () => {
    const dir = await tempDir();
    const model = makeModel();
    const progress: Progress[] = [];
    const writer = new SafetensorsWriter(nodeFolderSinks(dir), model, { maxShardBytes: 1500, metadata: { format: 'pt' }, onProgress: (p) => progress.push(p) });
    expect(writer.shards.length).toBeGreaterThan(2);
    for (const t of model) {
      const bytes = encodeFromF32(t.values, t.dtype);
      // Stream in uneven chunks, the way row blocks come off the GPU.
      const chunks = [bytes.subarray(0, 5), bytes.subarray(5, 77), bytes.subarray(77)];
      await writer.add(t.name, t.dtype, t.shape, (async function* () { yield* chunks; })());
    }
    const result = await writer.finish();
    const onDisk = (await readdir(dir)).sort();
    expect(onDisk).toEqual([...result.files].sort());
    expect(onDisk).toContain('model.safetensors.index.json');
    expect(onDisk.filter((f) => f.endsWith('.partial'))).toEqual([]);
    const n = writer.shards.length;
    expect(onDisk).toContain(`model-00001-of-0000${n}.safetensors`);
    const index = JSON.parse(await readFile(join(dir, 'model.safetensors.index.json'), 'utf8'));
    expect(index.metadata.total_size).toBe(model.reduce((s, t) => s + encodeFromF32(t.values, t.dtype).byteLength, 0));

    const back = await openSafetensorsModel(nodeFolderTree(dir));
    expect(back.files.length).toBe(n);
    expect(back.metadata).toEqual({ format: 'pt' });
    for (const t of model) {
      const info = back.tensors.get(t.name)!;
      expect(info).toMatchObject({ dtype: t.dtype, shape: t.shape });
      expect(await readTensorBytes(info)).toEqual(encodeFromF32(t.values, t.dtype));
    }
    expect(Array.from(await readTensorF32(back.tensors.get('model.layers.0.input_layernorm.weight')!))).toEqual(Array.from(model[3].values));
    for (const file of back.files) {
      const raw = await readFile(join(dir, file));
      const headerLength = Number(raw.readBigUInt64LE(0));
      expect(headerLength % 8).toBe(0);
    }
    expect(progress.at(-1)).toMatchObject({ phase: 'write', done: model.length, total: model.length });
  });

  it('writes one model.safetensors and no index when everything fits one shard', async () => {
    const sinks = memorySinks();
    const model = makeModel();
    const writer = new SafetensorsWriter(sinks, model);
    for (const t of model) await writer.add(t.name, t.dtype, t.shape, encodeFromF32(t.values, t.dtype));
    expect((await writer.finish()).files).toEqual(['model.safetensors']);
    const viaSerialize = serializeSafetensors(model.map((t) => ({ ...t, data: encodeFromF32(t.values, t.dtype) })));
    expect(sinks.files.get('model.safetensors')).toEqual(viaSerialize);
    const h = await readSafetensorsHeader(memorySource(sinks.files.get('model.safetensors')!, 'model.safetensors'));
    expect([...h.tensors.keys()]).toEqual(model.map((t) => t.name));
  });

  it('puts a tensor bigger than the budget in a shard of its own', async () => {
    const specs: TensorSpec[] = [
      { name: 'a', dtype: 'F32', shape: [2] },
      { name: 'big', dtype: 'F32', shape: [100] },
      { name: 'c', dtype: 'F32', shape: [2] },
    ];
    const w = new SafetensorsWriter(memorySinks(), specs, { maxShardBytes: 16 });
    expect(w.shards.map((s) => s.tensors.map((t) => t.name))).toEqual([['a'], ['big'], ['c']]);
  });

  it('on a failure mid-export removes every file it wrote, leaving the folder empty', async () => {
    const dir = await tempDir();
    const model = makeModel();
    const writer = new SafetensorsWriter(nodeFolderSinks(dir), model, { maxShardBytes: 1500 });
    await writer.add(model[0].name, model[0].dtype, model[0].shape, encodeFromF32(model[0].values, model[0].dtype));
    await writer.add(model[1].name, model[1].dtype, model[1].shape, encodeFromF32(model[1].values, model[1].dtype));
    expect((await readdir(dir)).length).toBeGreaterThan(0);
    // Too few bytes for the third tensor.
    await expect(writer.add(model[2].name, model[2].dtype, model[2].shape, new Uint8Array(10))).rejects.toMatchObject({ code: 'writer-size-mismatch', message: expect.stringContaining(model[2].name) });
    expect(await readdir(dir)).toEqual([]);
    await expect(writer.add(model[3].name, model[3].dtype, model[3].shape, new Uint8Array(64))).rejects.toMatchObject({ code: 'writer-closed' });
  });

  it('abort via AbortSignal cleans up; out-of-order and mismatched tensors are typed errors', async () => {
    const ctrl = new AbortController();
    const sinks = memorySinks();
    const model = makeModel();
    const w = new SafetensorsWriter(sinks, model, { signal: ctrl.signal, maxShardBytes: 1500 });
    await w.add(model[0].name, model[0].dtype, model[0].shape, encodeFromF32(model[0].values, model[0].dtype));
    expect(sinks.files.size).toBe(1);
    ctrl.abort();
    await expect(w.add(model[1].name, model[1].dtype, model[1].shape, encodeFromF32(model[1].values, model[1].dtype))).rejects.toThrow();
    expect(sinks.files.size).toBe(0);

    const w2 = new SafetensorsWriter(memorySinks(), model);
    await expect(w2.add(model[1].name, model[1].dtype, model[1].shape, new Uint8Array(0))).rejects.toMatchObject({ code: 'writer-out-of-order' });
    const w3 = new SafetensorsWriter(memorySinks(), model);
    await expect(w3.add(model[0].name, 'F32', model[0].shape, new Uint8Array(0))).rejects.toMatchObject({ code: 'writer-plan-mismatch' });
    const w4 = new SafetensorsWriter(memorySinks(), model);
    await expect(w4.finish()).rejects.toMatchObject({ code: 'writer-incomplete' });
  });

  it('an empty model is a valid empty file', async () => {
    const sinks = memorySinks();
    await new SafetensorsWriter(sinks, []).finish();
    const h = await readSafetensorsHeader(memorySource(sinks.files.get('model.safetensors')!, 'm'));
    expect(h.tensors.size).toBe(0);
    expect((await openSafetensorsModel(memoryTree(sinks.files))).tensors.size).toBe(0);
  });
});
