// Multi-stage (mergekit-multi) recipes on the demo zoo: the engine's on-demand stages must give
// exactly what merging each stage on its own (the single-stage engine) and picking tensors gives.
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeToF32, encodeFromF32 } from '../dtype.ts';
import { memorySinks, memoryTree } from '../io/memory.ts';
import { nodeFolderTree } from '../io/node-file.ts';
import type { MergeMethod, MergeTensorInput } from '../methods/types.ts';
import { openModel, type ModelHandle } from '../model/handle.ts';
import { parseRecipeYaml, recipeToYaml, type Recipe } from '../recipe/index.ts';
import { openSafetensorsModel, readTensorBytes } from '../safetensors/index.ts';
import { cpuBackend, type MergeBackend } from './backend.ts';
import { execute, mergeToMemory } from './execute.ts';
import { plan } from './plan.ts';
import { errorOf } from '../error-of.ts';

const ZOO = resolve(process.env.ZOO_DIR ?? 'public/zoo', 'tiny-llama');
const MODELS = ['base', 'caesar', 'reverse', 'sort'];

// Three methods, one of them left in the models' bf16 (as mergekit-multi would store it), and a
// final linear selector over layer blocks [0, 2) and [2, 4) and module sets.
const STAGED = `name: ties-stage
merge_method: ties
base_model: base
models:
  - model: caesar
    parameters: {weight: 0.6, density: 0.5}
  - model: reverse
    parameters: {weight: 0.4, density: 0.7}
dtype: float32
---
name: ta-stage
merge_method: task_arithmetic
base_model: base
models:
  - model: caesar
    parameters: {weight: [0.2, 0.9]}
  - model: sort
    parameters: {weight: 0.5}
parameters: {lambda: 1.1}
dtype: float32
---
name: dare-stage
merge_method: dare_ties
base_model: base
models:
  - model: reverse
    parameters: {weight: 0.7, density: 0.6}
  - model: sort
    parameters: {weight: 0.5, density: 0.4}
random_seed: 7
---
merge_method: linear
slices:
  - sources:
      - model: ties-stage
        layer_range: [0, 2]
        parameters: {weight: [{filter: self_attn, value: 1}, {value: 0}]}
      - model: ta-stage
        layer_range: [0, 2]
        parameters: {weight: [{filter: mlp, value: 1}, {value: 0}]}
      - model: dare-stage
        layer_range: [0, 2]
        parameters: {weight: [{filter: self_attn, value: 0}, {filter: mlp, value: 0}, {value: 1}]}
  - sources:
      - model: ties-stage
        layer_range: [2, 4]
        parameters: {weight: [{filter: mlp, value: 1}, {value: 0}]}
      - model: ta-stage
        layer_range: [2, 4]
        parameters: {weight: [{filter: self_attn, value: 0}, {filter: mlp, value: 0}, {value: 1}]}
      - model: dare-stage
        layer_range: [2, 4]
        parameters: {weight: [{filter: self_attn, value: 1}, {value: 0}]}
parameters: {normalize: true}
dtype: float32
`;

/** The stage the selector above picks for a tensor, worked out from its name alone. */
function chosenStage(tensor: string): string {
  const layer = /\.layers\.(\d+)\./.exec(tensor);
  const set = tensor.includes('self_attn') ? 'attn' : tensor.includes('mlp') ? 'mlp' : 'rest';
  // Embeddings are planned with the first slice, the final norm and lm_head with the last.
  const block = layer ? (Number(layer[1]) < 2 ? 0 : 1) : tensor.includes('embed_tokens') ? 0 : 1;
  const table = [
    { attn: 'ties-stage', mlp: 'ta-stage', rest: 'dare-stage' },
    { attn: 'dare-stage', mlp: 'ties-stage', rest: 'ta-stage' },
  ];
  return table[block][set];
}

function bits(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** The CPU backend, counting the tensor merges it runs per method. */
function countingBackend(): MergeBackend & { counts: Map<string, number> } {
  const counts = new Map<string, number>();
  return {
    kind: 'cpu',
    counts,
    merge(method: MergeMethod, input: MergeTensorInput, signal?: AbortSignal) {
      counts.set(method.name, (counts.get(method.name) ?? 0) + 1);
      return cpuBackend.merge(method, input, signal);
    },
  };
}

let handles: Map<string, ModelHandle>;
beforeAll(async () => {
  handles = new Map();
  for (const m of MODELS) handles.set(m, await openModel(nodeFolderTree(join(ZOO, m)), undefined, m));
});

describe('multi-stage recipes', () => {
  it('merge bit for bit like each stage merged alone with its tensors picked by the selector', async () => {
    const recipe = parseRecipeYaml(STAGED);
    expect(recipe.stages?.map((s) => s.name)).toEqual(['ties-stage', 'ta-stage', 'dare-stage']);
    const staged = await mergeToMemory(plan(recipe, handles));

    // Reference: every stage as an ordinary one-document recipe through the single-stage engine.
    const alone = new Map<string, Map<string, Float32Array>>();
    for (const stage of recipe.stages!) {
      const { name: _name, ...single } = stage;
      const p = plan(single, handles);
      const merged = await mergeToMemory(p);
      // The bf16 stage is what mergekit-multi would have written to disk and read back.
      for (const step of p.steps) if (step.dtype !== 'F32') merged.set(step.output, decodeToF32(encodeFromF32(merged.get(step.output)!, step.dtype), step.dtype));
      alone.set(stage.name!, merged);
    }
    expect(alone.get('dare-stage')!.size).toBe(staged.size);
    const picked = new Set<string>();
    for (const [tensor, values] of staged) {
      const stage = chosenStage(tensor);
      picked.add(stage);
      expect(bits(values), tensor).toEqual(bits(alone.get(stage)!.get(tensor)!));
    }
    expect(picked).toEqual(new Set(['ties-stage', 'ta-stage', 'dare-stage']));
    // The stages really differ, so picking the wrong one would show.
    const q = 'model.layers.0.self_attn.q_proj.weight';
    expect(bits(alone.get('ties-stage')!.get(q)!)).not.toEqual(bits(alone.get('ta-stage')!.get(q)!));
  });

  it('merge one stage per tensor: inputs a linear selector weighs 0 are never merged', async () => {
    const backend = countingBackend();
    const p = plan(parseRecipeYaml(STAGED), handles, { stageBackend: backend });
    expect(p.steps.every((s) => s.models.length === 1)).toBe(true);
    await mergeToMemory(p, { backend });
    const stageMerges = (backend.counts.get('ties') ?? 0) + (backend.counts.get('task_arithmetic') ?? 0) + (backend.counts.get('dare_ties') ?? 0);
    expect(backend.counts.get('linear')).toBe(p.steps.length);
    expect(stageMerges).toBe(p.steps.length);
    // What the merge reads from disk: each tensor's chosen stage's inputs.
    const alone = new Map(p.stages!.map((s) => [s.name, new Map(s.plan.steps.map((st) => [st.output, st.inputBytes]))]));
    expect(p.totalInputBytes).toBe(p.steps.reduce((sum, st) => sum + alone.get(st.models[0].model)!.get(st.output)!, 0));
    expect(p.totalInputBytes).toBeLessThan(p.stages!.reduce((sum, s) => sum + s.plan.totalInputBytes, 0));
  });

  it('export writes the merged tensors and every document in mergekit_config.yml', async () => {
    const recipe = parseRecipeYaml(STAGED);
    const p = plan(recipe, handles);
    const sinks = memorySinks();
    await execute(p, { sinks, chunkBytes: 12288 });
    const config = new TextDecoder().decode(sinks.files.get('mergekit_config.yml'));
    expect(config.split(/^---$/m)).toHaveLength(4);
    expect(parseRecipeYaml(config)).toEqual(recipe);
    expect(new TextDecoder().decode(sinks.files.get('README.md'))).toMatch(/reads 3 stage\(s\).*`ties-stage` \(`ties`\)/);
    const written = await openSafetensorsModel(memoryTree(sinks.files, 'out'));
    const memory = await mergeToMemory(p);
    expect(written.tensors.size).toBe(memory.size);
    for (const [name, values] of memory) expect(await readTensorBytes(written.tensors.get(name)!), name).toEqual(bits(values));
    expect([...sinks.files.keys()]).toContain('tokenizer.json');
  });

  it('a stage may read an earlier stage (mergekit-multi chains)', async () => {
    const chained = parseRecipeYaml(`name: first
merge_method: linear
models:
  - model: caesar
    parameters: {weight: 0.5}
  - model: reverse
    parameters: {weight: 0.5}
dtype: float32
---
merge_method: task_arithmetic
base_model: base
models:
  - model: first
    parameters: {weight: 0.8}
dtype: float32
`);
    const staged = await mergeToMemory(plan(chained, handles));
    const first = await mergeToMemory(plan({ ...chained.stages![0], name: undefined }, handles));
    // The same second merge over a model folder holding the first merge's tensors.
    const sinks = memorySinks();
    await execute(plan({ ...chained.stages![0], name: undefined }, handles), { sinks });
    const withFirst = new Map(handles).set('first', await openModel(memoryTree(sinks.files, 'first'), undefined, 'first'));
    const { stages: _stages, ...second } = chained;
    const reference = await mergeToMemory(plan(second, withFirst));
    expect(first.size).toBe(staged.size);
    for (const [name, values] of reference) expect(bits(staged.get(name)!), name).toEqual(bits(values));
  });
});

describe('multi-stage recipe errors', () => {
  const stage = (name: string, model: string) => `name: ${name}\nmerge_method: linear\nmodels:\n  - model: ${model}\n    parameters: {weight: 1}\n`;
  const finalOf = (model: string) => `merge_method: linear\nmodels:\n  - model: ${model}\n    parameters: {weight: 1}\n`;

  it('name an unknown stage, suggesting the close one', () => {
    const recipe = parseRecipeYaml(`${stage('ties-stage', 'caesar')}---\n${finalOf('ties-stag')}`);
    const err = errorOf(() => plan(recipe, handles));
    expect(err.code).toBe('plan-missing-model');
    expect(err.message).toMatch(/no opened model for 'ties-stag' \(it is not one of the recipe's stages either: 'ties-stage'; did you mean 'ties-stage'\?\)/);
  });
  it('refuse cycles, naming them', () => {
    const err = errorOf(() => parseRecipeYaml(`${stage('a', 'b')}---\n${stage('b', 'a')}---\n${finalOf('a')}`));
    expect(err.code).toBe('recipe-stages');
    expect(err.message).toMatch(/cycle: 'a' -> 'b' -> 'a'/);
    expect(errorOf(() => parseRecipeYaml(`${stage('a', 'a')}---\n${finalOf('a')}`)).message).toMatch(/cycle: 'a' -> 'a'/);
  });
  it('refuse duplicate names and a second unnamed document', () => {
    expect(errorOf(() => parseRecipeYaml(`${stage('a', 'caesar')}---\n${stage('a', 'sort')}---\n${finalOf('a')}`)).message).toMatch(
      /document 1 \('a'\) and document 2 \('a'\) are both named 'a'/,
    );
    expect(errorOf(() => parseRecipeYaml(`${finalOf('caesar')}---\n${finalOf('sort')}`)).message).toMatch(/document 1 and document 2 have no name/);
  });
  it('say which document and line a bad parameter is on', () => {
    const err = errorOf(() => parseRecipeYaml(`${stage('a', 'caesar')}---\nmerge_method: linear\nmodels:\n  - model: a\n    parameters: {wieght: 1}\n`, { source: 'r.yml' }));
    expect(err.message).toMatch(/^r\.yml: document 2, line 10: models\[0\]\.parameters\.wieght: linear has no parameter 'wieght'; did you mean 'weight'\?/);
  });
  it('report a stage that cannot be planned with the stage name', () => {
    const recipe: Recipe = { merge_method: 'linear', models: [{ model: 's', parameters: { weight: 1 } }], stages: [{ name: 's', merge_method: 'slerp', base_model: 'base', models: [{ model: 'caesar' }, { model: 'reverse' }], parameters: { t: 0.5 } }] };
    const err = errorOf(() => plan(recipe, handles));
    expect(err.message).toMatch(/^stage 's': /);
  });
  it('write back to the same text', () => {
    const text = recipeToYaml(parseRecipeYaml(STAGED));
    expect(recipeToYaml(parseRecipeYaml(text))).toBe(text);
  });
});
