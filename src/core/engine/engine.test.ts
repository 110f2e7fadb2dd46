import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeToF32, encodeFromF32 } from '../dtype.ts';
import { memorySinks, memoryTree } from '../io/memory.ts';
import { nodeFolderSinks } from '../io/node-file.ts';
import type { FileTree } from '../io/types.ts';
import { getMethod } from '../methods/index.ts';
import { architectureOf, tensorRole } from '../model/architecture.ts';
import { openModel, type ModelHandle } from '../model/handle.ts';
import { parseRecipeYaml, resolveParams } from '../recipe/index.ts';
import { openSafetensorsModel, readTensorF32 } from '../safetensors/index.ts';
import { cpuBackend, type MergeBackend } from './backend.ts';
import { execute, mergeToMemory } from './execute.ts';
import { plan } from './plan.ts';
import { llamaConfig, llamaTensors, memoryModel, modelFiles, type TestTensor } from './test-models.ts';
import { errorOf } from '../error-of.ts';

async function open(models: Record<string, FileTree>): Promise<Map<string, ModelHandle>> {
  const out = new Map<string, ModelHandle>();
  for (const [id, tree] of Object.entries(models)) out.set(id, await openModel(tree, undefined, id));
  return out;
}

const A = llamaTensors({ layers: 3, hidden: 4, vocab: 12, seed: 11 });
const B = llamaTensors({ layers: 3, hidden: 4, vocab: 12, seed: 12 });
const LINEAR = parseRecipeYaml('models:\n  - model: a\n    parameters: {weight: 0.75}\n  - model: b\n    parameters: {weight: 0.25}\nmerge_method: linear\n');

describe('architecture', () => {
  it('knows the Llama family and Qwen2/Qwen3 extras', () => {
    const llama = architectureOf({ architectures: ['LlamaForCausalLM'] }).architecture;
    expect(tensorRole(llama, 'model.layers.7.self_attn.k_proj.weight')).toEqual({ layer: 7, position: 'layer', module: 'attention', embedLike: false });
    expect(tensorRole(llama, 'model.layers.7.post_attention_layernorm.weight').module).toBe('norm');
    expect(tensorRole(llama, 'model.embed_tokens.weight')).toEqual({ layer: null, position: 'pre', module: 'embedding', embedLike: true });
    expect(tensorRole(llama, 'lm_head.weight')).toEqual({ layer: null, position: 'post', module: 'head', embedLike: true });
    expect(tensorRole(llama, 'model.norm.weight')).toEqual({ layer: null, position: 'post', module: 'norm', embedLike: false });
    const qwen2 = architectureOf({ model_type: 'qwen2' }).architecture;
    expect(qwen2.layerWeights.map((w) => w.name)).toContain('model.layers.{layer}.self_attn.q_proj.bias');
    const qwen3 = architectureOf({ architectures: ['Qwen3ForCausalLM'] }).architecture;
    expect(tensorRole(qwen3, 'model.layers.0.self_attn.q_norm.weight').module).toBe('attention');
    expect(architectureOf({ architectures: ['MistralForCausalLM'] }).architecture.name).toBe('mistral');
  });
  it('classifies unknown architectures by name, with a notice', () => {
    const { architecture, notice } = architectureOf({ architectures: ['GPTNeoXForCausalLM'] });
    expect(notice).toMatch(/GPTNeoXForCausalLM is not a known architecture/);
    expect(tensorRole(architecture, 'gpt_neox.layers.3.mlp.dense_h_to_4h.weight')).toMatchObject({ layer: 3, module: 'mlp' });
    expect(tensorRole(architecture, 'gpt_neox.embed_in.weight')).toMatchObject({ layer: null, position: 'pre', embedLike: true });
  });
  it('openModel reads config and headers only', async () => {
    const h = await openModel(memoryModel('m', llamaConfig(3, 12), A, { 'tokenizer.json': '{}', 'merges.txt': '' }));
    expect([h.numLayers, h.architecture.name, h.tensors.size]).toEqual([3, 'llama', 3 * 9 + 3]);
    expect(h.tokenizerFiles).toEqual(['tokenizer.json', 'merges.txt']);
    expect(h.layerOf('model.layers.2.mlp.up_proj.weight')).toBe(2);
    await expect(openModel(memoryTree(new Map([['model.safetensors', new Uint8Array(8)]]), 'nocfg'))).rejects.toThrow(/nocfg: no config.json/);
  });
});

describe('plan', () => {
  it('plans every tensor with the parameters resolveParams gives', async () => {
    const recipe = parseRecipeYaml('models:\n  - model: a\n    parameters: {weight: [1, 0]}\n  - model: b\n    parameters: {weight: [0, 1]}\nmerge_method: linear\nparameters: {normalize: false}\n');
    const p = plan(recipe, await open({ a: memoryModel('a', llamaConfig(3, 12), A), b: memoryModel('b', llamaConfig(3, 12), B) }));
    expect(p.steps.length).toBe(3 * 9 + 3);
    expect(p.steps[0].output).toBe('model.embed_tokens.weight');
    expect(p.steps.at(-1)!.output).toBe('lm_head.weight');
    for (const step of p.steps) {
      const site = step.role.layer === null ? { layer: null, position: step.role.position as 'pre' | 'post' } : { layer: step.role.layer };
      const r = resolveParams(recipe, step.output, site, 3, getMethod('linear').params);
      expect(step.modelParams).toEqual(r.inputs.map((i) => i.params));
    }
    expect(p.steps.find((s) => s.output === 'model.layers.1.mlp.up_proj.weight')!.modelParams).toEqual([{ weight: 0.5 }, { weight: 0.5 }]);
    expect(p.config).toMatchObject({ num_hidden_layers: 3, torch_dtype: 'float32' });
  });

  it('reports every incompatibility at once before reading any tensor data', async () => {
    const bad: Record<string, TestTensor> = { ...B, 'model.layers.0.mlp.down_proj.weight': { shape: [4, 4], values: new Float32Array(16) } };
    delete bad['model.layers.1.self_attn.o_proj.weight'];
    delete bad['model.layers.2.input_layernorm.weight'];
    bad['model.norm.weight'] = { shape: [4], values: new Float32Array(4), dtype: 'I32', bytes: new Uint8Array(16) };
    let bytesRead = 0;
    const files = modelFiles(llamaConfig(3, 12), bad);
    const counting: FileTree = {
      name: 'b',
      list: async () => [...files.keys()],
      open: async (path) => {
        const src = await memoryTree(files, 'b').open(path);
        return { ...src, read: (o: number, n: number) => ((bytesRead += n), src.read(o, n)) };
      },
    };
    const handles = await open({ a: memoryModel('a', llamaConfig(3, 12), A), b: counting });
    const headerBytes = bytesRead;
    const e = errorOf(() => plan(LINEAR, handles));
    expect(e.code).toBe('plan-incompatible');
    expect(e.details.missing).toEqual([
      "model.layers.1.self_attn.o_proj.weight: missing in 'b'",
      "model.layers.2.input_layernorm.weight: missing in 'b'",
    ]);
    expect(e.details.mismatched).toEqual(["model.layers.0.mlp.down_proj.weight: 'a' [4, 8], 'b' [4, 4]"]);
    expect(e.details.unsupported).toEqual(["model.norm.weight: 'b' I32 (merging needs float tensors: F32, F16, BF16, F64 or F8)"]);
    expect(bytesRead).toBe(headerBytes);
  });

  it('reports layer ranges past a model\'s end and different layer counts', async () => {
    const handles = await open({ a: memoryModel('a', llamaConfig(3, 12), A), b: memoryModel('b', llamaConfig(2, 12), llamaTensors({ layers: 2, hidden: 4, vocab: 12, seed: 3 })) });
    expect(errorOf(() => plan(LINEAR, handles)).message).toContain("models have different layer counts ('a': 3, 'b': 2)");
    const sliced = parseRecipeYaml('slices:\n  - sources: [{model: b, layer_range: [1, 3]}]\nmerge_method: passthrough\n');
    expect(errorOf(() => plan(sliced, handles)).message).toContain("slices[0].sources[0]: layer_range [1, 3] goes past the end of 'b', which has 2 layers");
  });

  it('cuts embeddings to the common vocabulary and merges a tied lm_head from embed_tokens', async () => {
    const small = llamaTensors({ layers: 3, hidden: 4, vocab: 10, seed: 13, lmHead: false });
    const handles = await open({ a: memoryModel('a', llamaConfig(3, 12), A), b: memoryModel('b', llamaConfig(3, 10, { tie_word_embeddings: true }), small) });
    const p = plan(LINEAR, handles);
    const head = p.steps.find((s) => s.output === 'lm_head.weight')!;
    expect(head.models.map((m) => [m.model, m.tensor, m.crop])).toEqual([
      ['a', 'lm_head.weight', [10, 4]],
      ['b', 'model.embed_tokens.weight', undefined],
    ]);
    expect(p.config.vocab_size).toBe(10);
    expect(p.notices.join('\n')).toContain('model.embed_tokens.weight: inputs [12, 4] / [10, 4] cut to the common [10, 4]');
    const merged = await mergeToMemory(p);
    const want = Array.from({ length: 40 }, (_, i) => 0.75 * A['lm_head.weight'].values[i] + 0.25 * small['model.embed_tokens.weight'].values[i]);
    const got = merged.get('lm_head.weight')!;
    expect(got.length).toBe(40);
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 6));
  });
});

describe('execute', () => {
  const models = () => open({ a: memoryModel('a', llamaConfig(3, 12), A, { 'tokenizer.json': '{"t":1}' }), b: memoryModel('b', llamaConfig(3, 12), B) });

  it('writes what the in-memory merge computes, config.json last', async () => {
    const p = plan(LINEAR, await models());
    const sinks = memorySinks();
    const order: string[] = [];
    const tracking = { ...sinks, create: async (name: string) => (order.push(name), sinks.create(name)) };
    const result = await execute(p, { sinks: tracking, shardSize: 1000 });
    expect(order.at(-1)).toBe('config.json');
    expect(result.files).toEqual(order);
    expect(order).toContain('model.safetensors.index.json');
    const written = await openSafetensorsModel(memoryTree(sinks.files, 'out'));
    const memory = await mergeToMemory(p);
    expect(written.tensors.size).toBe(memory.size);
    for (const [name, values] of memory) expect(Array.from(await readTensorF32(written.tensors.get(name)!))).toEqual(Array.from(values));
    const only = await mergeToMemory(p, { only: (n) => n.includes('layers.1.') });
    expect([...only.keys()].length).toBe(9);
  });

  const failing = (after: number): MergeBackend => {
    let calls = 0;
    return { kind: 'cpu', merge: async (m, input, s) => { if (++calls > after) throw new Error('device lost'); return cpuBackend.merge(m, input, s); } };
  };

  it('a failed export into a folder removes every file it wrote', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'engine-fail-'));
    try {
      const p = plan(LINEAR, await models());
      await expect(execute(p, { sinks: nodeFolderSinks(dir), shardSize: 500, backend: failing(20) })).rejects.toThrow('device lost');
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a cancelled export leaves nothing, whether cancelled while merging or while writing the last files', async () => {
    const p = plan(LINEAR, await models());
    for (const at of [5, p.steps.length]) {
      const sinks = memorySinks();
      const controller = new AbortController();
      const run = execute(p, { sinks, shardSize: 500, signal: controller.signal, onProgress: (pr) => pr.done === at && controller.abort() });
      await expect(run).rejects.toThrow(/abort/i);
      expect([...sinks.files.keys()]).toEqual([]);
    }
  });

  it('random methods are reproducible by seed', async () => {
    const handles = await open({ base: memoryModel('base', llamaConfig(3, 12), A), b: memoryModel('b', llamaConfig(3, 12), B) });
    const recipe = parseRecipeYaml('models:\n  - model: b\n    parameters: {weight: 1, density: 0.5}\nbase_model: base\nmerge_method: dare_ties\nrandom_seed: 5\n');
    const q = 'model.layers.0.self_attn.q_proj.weight';
    const one = (await mergeToMemory(plan(recipe, handles))).get(q)!;
    const again = (await mergeToMemory(plan(recipe, handles))).get(q)!;
    const other = (await mergeToMemory(plan(recipe, handles, { seed: 6 }))).get(q)!;
    expect(Array.from(again)).toEqual(Array.from(one));
    expect(Array.from(other)).not.toEqual(Array.from(one));
  });
});

describe('scratch buffers', () => {
  it('in-memory results never alias the reused input buffers', async () => {
    const handles = await open({ a: memoryModel('a', llamaConfig(3, 12), A), b: memoryModel('b', llamaConfig(3, 12), B) });
    const p = plan(parseRecipeYaml('models: [{model: a}, {model: b}]\nbase_model: a\nmerge_method: slerp\nparameters: {t: 0}\n'), handles);
    // A backend may hand back an input array itself (the base, at t = 0).
    const returnsBase: MergeBackend = { kind: 'cpu', merge: async (_m, input) => input.base! };
    const merged = await mergeToMemory(p, { backend: returnsBase });
    for (const [name, values] of merged) expect(Array.from(values), name).toEqual(Array.from(A[name].values));
  });
});

describe('required parameters', () => {
  it('a required value that only some filters give is reported for every tensor lacking it', async () => {
    const handles = await open({ a: memoryModel('a', llamaConfig(3, 12), A), b: memoryModel('b', llamaConfig(3, 12), B) });
    const recipe = parseRecipeYaml('models:\n  - model: a\n    parameters: {weight: 1}\n  - model: b\n    parameters:\n      weight: [{filter: mlp, value: 1}]\nmerge_method: linear\n');
    const e = errorOf(() => plan(recipe, handles));
    expect(e.code).toBe('plan-incompatible');
    const unset = e.details.unset as string[];
    expect(unset.length).toBe(3 * 6 + 3); // every non-mlp tensor: 6 per layer, plus embeddings, norm, lm_head
    expect(unset).toContain("model.layers.2.self_attn.q_proj.weight: 'weight' of 'b'");
    expect(unset.some((u) => u.includes('mlp'))).toBe(false);
  });
});

describe('input counts', () => {
  it("reports a method's model-count rule before reading anything", async () => {
    const handles = await open({ a: memoryModel('a', llamaConfig(3, 12), A), b: memoryModel('b', llamaConfig(3, 12), B), c: memoryModel('c', llamaConfig(3, 12), A) });
    const slerp = errorOf(() => plan(parseRecipeYaml('models: [{model: a}, {model: b}, {model: c}]\nbase_model: a\nmerge_method: slerp\nparameters: {t: 0.5}\n'), handles));
    expect(slerp.message).toContain('slerp merges exactly 1 non-base model(s); the recipe gives 2');
    const stack = errorOf(() => plan(parseRecipeYaml('slices:\n  - sources: [{model: a, layer_range: [0, 1]}]\n  - sources: [{model: a, layer_range: [1, 2]}, {model: b, layer_range: [1, 2]}]\nmerge_method: passthrough\n'), handles));
    expect(stack.details.inputCounts).toEqual(['model.layers.1.input_layernorm.weight (slice 1): passthrough merges exactly 1 non-base model(s); the recipe gives 2']);
  });
});

describe('progress', () => {
  it('counts tensors and input bytes up to the plan totals, with a rate and an ETA', async () => {
    const p = plan(LINEAR, await open({ a: memoryModel('a', llamaConfig(3, 12), A), b: memoryModel('b', llamaConfig(3, 12), B) }));
    const seen: { done: number; total: number; bytes?: number; rate?: number; eta?: number }[] = [];
    await execute(p, { sinks: memorySinks(), onProgress: (pr) => seen.push(pr) });
    expect(seen.map((s) => s.done)).toEqual(Array.from({ length: p.steps.length + 1 }, (_, i) => i));
    expect(seen.every((s) => s.total === p.steps.length)).toBe(true);
    expect(seen.at(-1)!.bytes).toBe(p.totalInputBytes);
    // Every tensor is F32 here, so the bytes read are 2 models x 4 bytes x elements.
    expect(p.totalInputBytes).toBe(2 * 4 * Object.values(A).reduce((s, t) => s + t.values.length, 0));
    if (seen.at(-1)!.rate !== undefined) expect(seen.at(-1)!.eta).toBe(0);
    for (const s of seen.slice(1)) expect(s.bytes! > 0 && (s.rate === undefined || s.rate > 0)).toBe(true);
  });
});

describe('chunked streaming of elementwise methods', () => {
  // Mixed stored dtypes and a vocabulary cut (row crop) on the embeddings; blocks of 3 rows.
  const bf16 = (t: Record<string, TestTensor>) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, { ...v, dtype: 'BF16' as const }]));
  const small = llamaTensors({ layers: 3, hidden: 4, vocab: 10, seed: 13 });
  const recipes = {
    linear: LINEAR,
    task_arithmetic: parseRecipeYaml('models:\n  - model: b\n    parameters: {weight: 0.6}\nbase_model: a\nmerge_method: task_arithmetic\nparameters: {lambda: 1.5}\n'),
  };
  for (const [name, recipe] of Object.entries(recipes)) {
    it(`${name}: streamed chunks write exactly what the whole-tensor merge gives, in f32 and bf16`, async () => {
      const handles = await open({ a: memoryModel('a', llamaConfig(3, 12), bf16(A)), b: memoryModel('b', llamaConfig(3, 10), small) });
      const p = plan(recipe, handles);
      expect(p.method.elementwise).toBe(true);
      const whole = await mergeToMemory(p);
      for (const dtype of ['F32', 'BF16'] as const) {
        const sinks = memorySinks();
        await execute(p, { sinks, dtype, chunkBytes: 144 });
        const written = await openSafetensorsModel(memoryTree(sinks.files, 'out'));
        for (const [tensor, values] of whole) {
          const want = dtype === 'F32' ? values : decodeToF32(encodeFromF32(values, 'BF16'), 'BF16');
          expect(Array.from(await readTensorF32(written.tensors.get(tensor)!)), tensor).toEqual(Array.from(want));
        }
      }
    });
  }

  /** Sinks whose writes finish later and read the chunk only then (as a file write does on
   * libuv's threads), failing at the `failAt`-th write of a shard when given. */
  const laterSinks = (failAt?: number): ReturnType<typeof memorySinks> => {
    const inner = memorySinks();
    return {
      ...inner,
      async create(name: string) {
        const sink = await inner.create(name);
        let writes = 0;
        return {
          ...sink,
          write: async (chunk: Uint8Array) => {
            await new Promise((resolve) => setTimeout(resolve, 1));
            if (name.endsWith('.safetensors') && ++writes === failAt) throw new Error('disk full');
            await sink.write(chunk);
          },
        };
      },
    };
  };

  it('chunks written behind the merge are the bytes merged, though their buffers are reused', async () => {
    const handles = await open({ a: memoryModel('a', llamaConfig(3, 12), bf16(A)), b: memoryModel('b', llamaConfig(3, 12), B) });
    const p = plan(LINEAR, handles);
    const whole = await mergeToMemory(p);
    for (const dtype of ['F32', 'BF16'] as const) {
      const sinks = laterSinks();
      const result = await execute(p, { sinks, dtype, chunkBytes: 96 });
      expect(result.chunked).toBeGreaterThan(0);
      const written = await openSafetensorsModel(memoryTree(sinks.files, 'out'));
      for (const [tensor, values] of whole) {
        const want = dtype === 'F32' ? values : decodeToF32(encodeFromF32(values, 'BF16'), 'BF16');
        expect(Array.from(await readTensorF32(written.tensors.get(tensor)!)), tensor).toEqual(Array.from(want));
      }
    }
  });

  it('a sink failing while chunks are written behind the merge stops the export with its error and leaves nothing', async () => {
    const handles = await open({ a: memoryModel('a', llamaConfig(3, 12), A), b: memoryModel('b', llamaConfig(3, 12), B) });
    for (const failAt of [1, 2, 7, 30]) {
      const sinks = laterSinks(failAt);
      await expect(execute(plan(LINEAR, handles), { sinks, chunkBytes: 96 })).rejects.toThrow('disk full');
      expect([...sinks.files.keys()], `failing at write ${failAt}`).toEqual([]);
    }
  });

  it('a cancelled streamed export leaves nothing', async () => {
    const handles = await open({ a: memoryModel('a', llamaConfig(3, 12), A), b: memoryModel('b', llamaConfig(3, 12), B) });
    const controller = new AbortController();
    const sinks = memorySinks();
    const run = execute(plan(LINEAR, handles), { sinks, chunkBytes: 96, signal: controller.signal, onProgress: (pr) => pr.done === 3 && controller.abort() });
    await expect(run).rejects.toThrow(/abort/i);
    expect([...sinks.files.keys()]).toEqual([]);
  });
});
