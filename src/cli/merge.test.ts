// End to end through real folders, YAML and the `merge-studio merge` command: each golden case's
// inputs become tiny model folders, the output folder is read back with the project's reader and
// compared with mergekit's own output.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { main } from './main.ts';
import { parseMergeArgs, runMerge } from './merge.ts';
import { nodeFileSource, nodeFolderTree } from '../core/io/node-file.ts';
import { openSafetensorsModel, readSafetensorsHeader, readTensorF32 } from '../core/safetensors/index.ts';
import { llamaConfig, llamaTensors, tokenizerJson, writeModelFolder } from '../core/engine/test-models.ts';

interface GoldenCase {
  id: string;
  method: string;
  kind: string;
  global_params: Record<string, unknown>;
  per_model_params: Record<string, unknown>[];
  base_model: string | null;
  input_names: string[];
  shape: number[];
  out_absmax: number;
}

const FIXTURES = join(import.meta.dirname, '..', 'core', 'engine', 'fixtures');
const CASES: GoldenCase[] = JSON.parse(readFileSync(join(FIXTURES, 'cases.json'), 'utf8'));
const TENSOR = 'model.layers.0.mlp.down_proj.weight';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'merge-cli-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function readFolder(dir: string): Promise<Map<string, Float32Array>> {
  const model = await openSafetensorsModel(nodeFolderTree(dir));
  const out = new Map<string, Float32Array>();
  for (const [name, info] of model.tensors) out.set(name, await readTensorF32(info));
  return out;
}

describe('merge-studio merge reproduces mergekit golden outputs', () => {
  for (const c of CASES) {
    it(c.id, async () => {
      const dir = join(work, c.id);
      const inputs = await readSafetensorsHeader(await nodeFileSource(join(FIXTURES, c.id, 'inputs.safetensors')));
      for (const name of c.input_names) {
        const info = inputs.tensors.get(name)!;
        const config = { architectures: ['GoldenProbeForCausalLM'], num_hidden_layers: 1 };
        await writeModelFolder(join(dir, 'models', name), config, { [TENSOR]: { shape: info.shape, values: await readTensorF32(info) } }, { 'tokenizer.json': `{"model": "${name}"}` });
      }
      const recipe: Record<string, unknown> = {
        models: c.input_names.filter((n) => n !== c.base_model).map((n, i) => ({ model: `models/${n}`, parameters: c.per_model_params[i] })),
        merge_method: c.method,
        ...(c.base_model ? { base_model: `models/${c.base_model}` } : {}),
        ...(Object.keys(c.global_params).length ? { parameters: c.global_params } : {}),
        dtype: 'float32',
      };
      await writeFile(join(dir, 'recipe.yml'), stringify(recipe));
      const code = await main(['merge', join(dir, 'recipe.yml'), '--out', join(dir, 'out')]);
      expect(code).toBe(0);

      const merged = await readFolder(join(dir, 'out'));
      expect([...merged.keys()]).toEqual([TENSOR]);
      const expected = await readTensorF32((await readSafetensorsHeader(await nodeFileSource(join(FIXTURES, c.id, 'output.safetensors')))).tensors.get('out')!);
      const got = merged.get(TENSOR)!;
      expect(got.length).toBe(expected.length);
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - expected[i]));
      expect(worst).toBeLessThanOrEqual(1e-5 * Math.max(1, c.out_absmax));

      const files = (await readdir(join(dir, 'out'))).sort();
      expect(files).toEqual(['README.md', 'config.json', 'mergekit_config.yml', 'model.safetensors', 'tokenizer.json']);
      const tokenizerFrom = c.base_model ?? c.input_names[0];
      expect(await readFile(join(dir, 'out', 'tokenizer.json'), 'utf8')).toBe(`{"model": "${tokenizerFrom}"}`);
      expect(parseYaml(await readFile(join(dir, 'out', 'mergekit_config.yml'), 'utf8'))).toEqual(recipe);
      expect(JSON.parse(await readFile(join(dir, 'out', 'config.json'), 'utf8'))).toMatchObject({ num_hidden_layers: 1, torch_dtype: 'float32' });
    });
  }
});

describe('merge-studio merge on Llama-shaped models', () => {
  const cfg = llamaConfig(4, 16);
  const a = llamaTensors({ layers: 4, hidden: 8, vocab: 16, seed: 1 });
  const b = llamaTensors({ layers: 4, hidden: 8, vocab: 16, seed: 2 });

  beforeAll(async () => {
    // One vocabulary, two files (b's says a little more), so tokenizer_source picks whose files travel.
    const tokens = Array.from({ length: 16 }, (_, i) => `t${i}`);
    await writeModelFolder(join(work, 'llama', 'a'), cfg, a, { 'tokenizer_config.json': '{}', 'tokenizer.json': tokenizerJson(tokens) });
    await writeModelFolder(join(work, 'llama', 'b'), cfg, b, { 'tokenizer.json': `${tokenizerJson(tokens)}\n` });
  });

  it('stacks slices with passthrough, re-indexing layers and setting the layer count', async () => {
    const yml = join(work, 'llama', 'frankenmerge.yml');
    await writeFile(yml, 'slices:\n  - sources: [{model: a, layer_range: [0, 2]}]\n  - sources: [{model: b, layer_range: [1, 4]}]\nmerge_method: passthrough\ntokenizer_source: b\n');
    const out = join(work, 'llama', 'franken');
    expect(await main(['merge', yml, '--out', out])).toBe(0);
    const merged = await readFolder(out);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(config.num_hidden_layers).toBe(5);
    expect(merged.size).toBe(5 * 9 + 3);
    const same = (x: Float32Array, y: Float32Array) => expect(Array.from(x)).toEqual(Array.from(y));
    same(merged.get('model.layers.1.self_attn.q_proj.weight')!, a['model.layers.1.self_attn.q_proj.weight'].values);
    same(merged.get('model.layers.2.self_attn.q_proj.weight')!, b['model.layers.1.self_attn.q_proj.weight'].values);
    same(merged.get('model.layers.4.mlp.down_proj.weight')!, b['model.layers.3.mlp.down_proj.weight'].values);
    // Embeddings from the first slice, final weights from the last (mergekit's rule).
    same(merged.get('model.embed_tokens.weight')!, a['model.embed_tokens.weight'].values);
    same(merged.get('lm_head.weight')!, b['lm_head.weight'].values);
    expect(await readFile(join(out, 'tokenizer.json'), 'utf8')).toBe(await readFile(join(work, 'llama', 'b', 'tokenizer.json'), 'utf8'));
  });

  it('--chunk-size 1KB (every matrix in chunks of rows) writes the same folder byte for byte', async () => {
    const yml = join(work, 'llama', 'ties.yml');
    await writeFile(yml, 'models:\n  - model: b\n    parameters: {weight: 0.7, density: 0.4}\nbase_model: a\nmerge_method: ties\ndtype: bfloat16\n');
    const whole = join(work, 'llama', 'ties-whole');
    const chunked = join(work, 'llama', 'ties-chunked');
    expect(await main(['merge', yml, '--out', whole])).toBe(0);
    expect(await main(['merge', yml, '--out', chunked, '--chunk-size', '1KB'])).toBe(0);
    const files = (await readdir(whole)).sort();
    expect((await readdir(chunked)).sort()).toEqual(files);
    for (const f of files) expect((await readFile(join(chunked, f))).equals(await readFile(join(whole, f))), f).toBe(true);
  });

  it('shards the output by --shard-size and writes an index', async () => {
    const yml = join(work, 'llama', 'linear.yml');
    await writeFile(yml, 'models:\n  - model: a\n    parameters: {weight: [1, 0]}\n  - model: b\n    parameters: {weight: [0, 1]}\nmerge_method: linear\ndtype: bfloat16\n');
    const out = join(work, 'llama', 'sharded');
    expect(await main(['merge', yml, '--out', out, '--shard-size', '2KB'])).toBe(0);
    const files = await readdir(out);
    const shards = files.filter((f) => f.endsWith('.safetensors')).sort();
    expect(shards.length).toBe(3); // 5.6 KiB of bf16 data in 2 kB shards
    expect(shards[0]).toBe(`model-00001-of-${String(shards.length).padStart(5, '0')}.safetensors`);
    expect(files).toContain('model.safetensors.index.json');
    const merged = await readFolder(out);
    expect(merged.size).toBe(4 * 9 + 3);
    // Layer 0 has t = 0 (all weight on a), layer 3 has t = 1 (all on b); rounded to bf16.
    const bf16 = (x: number) => { const f = new Float32Array([x]); const u = new Uint32Array(f.buffer); u[0] = (u[0] + 0x7fff + ((u[0] >> 16) & 1)) & 0xffff0000; return f[0]; };
    const got0 = merged.get('model.layers.0.mlp.up_proj.weight')!;
    const got3 = merged.get('model.layers.3.mlp.up_proj.weight')!;
    expect(Array.from(got0)).toEqual(Array.from(a['model.layers.0.mlp.up_proj.weight'].values, bf16));
    expect(Array.from(got3)).toEqual(Array.from(b['model.layers.3.mlp.up_proj.weight'].values, bf16));
    // Layer 1: t = 1/3 -> weights 2/3 and 1/3, normalized.
    const want1 = a['model.layers.1.mlp.up_proj.weight'].values.map((x, i) => bf16((2 / 3) * x + (1 / 3) * b['model.layers.1.mlp.up_proj.weight'].values[i]));
    const got1 = merged.get('model.layers.1.mlp.up_proj.weight')!;
    for (let i = 0; i < got1.length; i++) expect(Math.abs(got1[i] - want1[i])).toBeLessThanOrEqual(Math.abs(want1[i]) * 2 ** -7);
    expect(JSON.parse(await readFile(join(out, 'config.json'), 'utf8')).torch_dtype).toBe('bfloat16');
  });

  it('cancelled mid-export leaves neither the folder nor a staging folder', async () => {
    const yml = join(work, 'llama', 'linear.yml');
    const out = join(work, 'llama', 'cancelled');
    const controller = new AbortController();
    let seen = 0;
    await expect(
      runMerge(parseMergeArgs([yml, '--out', out, '--shard-size', '2KB']), {
        signal: controller.signal,
        onProgress: (p) => {
          seen = p.done;
          if (p.done === 10) controller.abort();
        },
      }),
    ).rejects.toThrow(/abort/i);
    expect(seen).toBe(10);
    expect(existsSync(out)).toBe(false);
    expect((await readdir(join(work, 'llama'))).filter((f) => f.startsWith('cancelled'))).toEqual([]);
  });

  it('reports missing tensors and shape mismatches together, with a non-zero exit', async () => {
    const c = { ...b };
    delete c['model.layers.2.mlp.up_proj.weight'];
    c['model.layers.1.self_attn.v_proj.weight'] = { shape: [4, 8], values: new Float32Array(32) };
    await writeModelFolder(join(work, 'llama', 'c'), cfg, c);
    const yml = join(work, 'llama', 'bad.yml');
    await writeFile(yml, 'models:\n  - model: a\n  - model: c\nmerge_method: linear\nparameters: {weight: 1}\n');
    const out = join(work, 'llama', 'bad-out');
    const err = await runMerge(parseMergeArgs([yml, '--out', out])).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain('model.layers.2.mlp.up_proj.weight: missing in \'c\'');
    expect((err as Error).message).toContain("model.layers.1.self_attn.v_proj.weight: 'a' [8, 8], 'c' [4, 8]");
    expect(existsSync(out)).toBe(false);
    expect(await main(['merge', yml, '--out', out])).toBe(1);
  });

  it('rejects bad arguments with a usage line', async () => {
    expect(() => parseMergeArgs(['r.yml'])).toThrow(/--out DIR is required/);
    expect(() => parseMergeArgs(['r.yml', '--out', 'x', '--shard-size', 'lots'])).toThrow(/--shard-size: expected a size/);
    expect(() => parseMergeArgs(['r.yml', '--out', 'x', '--chunk-size', 'small'])).toThrow(/--chunk-size: expected a size/);
    expect(parseMergeArgs(['r.yml', '--out', 'x', '--chunk-size', '8MiB'])).toMatchObject({ chunkSize: 8 * 2 ** 20 });
    expect(() => parseMergeArgs(['r.yml', '--out', 'x', '--backend', 'tpu'])).toThrow(/expected cpu or gpu/);
    expect(parseMergeArgs(['r.yml', '--out=x', '--shard-size', '1.5GiB', '--seed', '7'])).toMatchObject({ shardSize: 1.5 * 2 ** 30, seed: 7 });
    expect(await main(['merge', join(work, 'nope.yml'), '--out', join(work, 'x')])).toBe(1);
  });
});
