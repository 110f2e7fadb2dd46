// Layer-wise fusion with a method choice per block and module set: candidates whose choices differ
// are multi-stage recipes; each tensor must get its own block's method and values, and such
// candidates must merge and score on the demo zoo like the model assembled by hand.
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mergeToMemory, plan } from '../engine/index.ts';
import { parseCausalLMConfig } from '../eval/config.ts';
import { createRuntime, generationLimit } from '../eval/load.ts';
import { evaluateTask } from '../eval/metrics.ts';
import { parseTaskJsonl } from '../eval/tasks.ts';
import { loadTokenizer } from '../eval/tokenizer.ts';
import { nodeFolderTree } from '../io/node-file.ts';
import { getMethod } from '../methods/index.ts';
import { parseRecipeYaml, recipeToYaml, resolveParams, type Recipe } from '../recipe/index.ts';
import { createMergeObjective, openSearchModels } from './objective.ts';
import { Prng } from './prng.ts';
import type { Dimension } from './space.ts';
import { createSpace, type MergeFamily, type SpaceMethod } from './spaces.ts';
import { parseTrialLines } from './store.ts';

const family: MergeFamily = { base: 'zoo/base', experts: ['zoo/add', 'zoo/reverse'], numLayers: 5, randomSeed: 3 };
const METHODS: SpaceMethod[] = ['linear', 'task_arithmetic', 'ties', 'dare_ties', 'slerp'];
const SETS = { attn: 'self_attn.q_proj', mlp: 'mlp.up_proj', rest: 'input_layernorm' } as const;

/** A unit-cube point that picks `pick(block, set)` and random parameters. */
function pointPicking(dimensions: readonly Dimension[], pick: (block: number, set: string) => SpaceMethod, seed: number): number[] {
  const x = new Prng(seed).unitVector(dimensions.length);
  dimensions.forEach((d, i) => {
    const m = /^method\.b(\d+)\.(\w+)$/.exec(d.name);
    if (m && d.kind === 'choice') x[i] = (d.choices.indexOf(pick(Number(m[1]), m[2])) + 0.5) / d.choices.length;
  });
  return x;
}

/** The weight a linear selector gives each stage for a tensor, resolved as the planner does. */
function selectorWeights(recipe: Recipe, tensor: string, layer: number | null): Record<string, number> {
  const site = layer === null ? { layer: null, position: tensor.includes('embed') ? ('pre' as const) : ('post' as const) } : { layer };
  const r = resolveParams({ ...recipe, stages: undefined }, tensor, site, family.numLayers, getMethod('linear').params);
  return Object.fromEntries(r.inputs.map((i) => [i.model, i.params.weight as number]));
}

describe('layer-wise fusion with a method per block and module set', () => {
  const space = createSpace({ kind: 'layerwise', methods: METHODS, blockSize: 2 }, family);

  it('has a method choice per block and module set', () => {
    const choices = space.dimensions.filter((d) => d.kind === 'choice');
    // 5 layers in blocks of 2: blocks 0-1, 2-3, 4
    expect(choices.map((d) => d.name)).toEqual([0, 1, 2].flatMap((b) => ['attn', 'mlp', 'rest'].map((s) => `method.b${b}.${s}`)));
    expect(choices.every((d) => d.kind === 'choice' && d.choices.join() === METHODS.join())).toBe(true);
    expect(space.dimensions.some((d) => d.name === 'method')).toBe(false);
  });

  it('gives every tensor its block and set method, with that block and set values', () => {
    const pick = (b: number, s: string): SpaceMethod => (s === 'attn' ? (['ties', 'slerp', 'linear'] as const)[b] : s === 'mlp' ? 'task_arithmetic' : b === 0 ? 'dare_ties' : 'ties');
    const { recipe, values } = space.decode(pointPicking(space.dimensions, pick, 5));
    expect(recipe.merge_method).toBe('linear');
    expect(recipe.stages!.map((s) => s.merge_method).sort()).toEqual(['dare_ties', 'linear', 'slerp', 'task_arithmetic', 'ties']);
    expect(parseRecipeYaml(recipeToYaml(recipe))).toEqual(recipe);
    const stageOf = (m: string) => recipe.stages!.find((s) => s.merge_method === m)!;
    for (let layer = 0; layer < family.numLayers; layer++) {
      const block = Math.floor(layer / 2);
      for (const [set, module] of Object.entries(SETS)) {
        const tensor = `model.layers.${layer}.${module}.weight`;
        const method = pick(block, set);
        const weights = selectorWeights(recipe, tensor, layer);
        // weight 1 for the chosen stage, exactly 0 for every other
        expect(Object.entries(weights).filter(([, w]) => w !== 0), tensor).toEqual([[stageOf(method).name, 1]]);
        const stage = stageOf(method);
        const r = resolveParams(stage, tensor, { layer }, family.numLayers, getMethod(method).params);
        const at = (p: string) => values[`b${block}.${set}.${p}`] as number;
        if (method === 'slerp') expect(r.global.t).toBeCloseTo(at('t'), 4);
        if (method !== 'slerp') expect(r.inputs.find((i) => i.model === 'zoo/add')!.params.weight).toBeCloseTo(at('add.weight'), 4);
        if (method === 'ties' || method === 'dare_ties') expect(r.inputs.find((i) => i.model === 'zoo/reverse')!.params.density).toBeCloseTo(at('reverse.density'), 4);
        if (method !== 'slerp' && method !== 'linear') expect(r.global.lambda).toBeCloseTo(at('lambda'), 4);
      }
    }
    // Embeddings follow the first block's 'rest', the final norm and lm_head the last block's.
    expect(selectorWeights(recipe, 'model.embed_tokens.weight', null)[stageOf('dare_ties').name!]).toBe(1);
    expect(selectorWeights(recipe, 'lm_head.weight', null)[stageOf('ties').name!]).toBe(1);
  });

  it('is the single-method recipe when every block and set picks the same method', () => {
    const x = pointPicking(space.dimensions, () => 'ties', 9);
    const single = createSpace({ kind: 'layerwise', methods: ['ties'], blockSize: 2 }, family);
    // The same values, by dimension name (the five-method space also has slerp's t).
    const same = single.dimensions.map((d) => x[space.dimensions.findIndex((e) => e.name === d.name)]);
    expect(same.every((v) => v !== undefined)).toBe(true);
    expect(space.decode(x).recipe).toEqual(single.decode(same).recipe);
    // The global space keeps one method per candidate.
    expect(createSpace({ kind: 'global', methods: METHODS }, family).dimensions.filter((d) => d.kind === 'choice').map((d) => d.name)).toEqual(['method']);
  });
});

describe('mixed-method candidates on the demo zoo', () => {
  const ZOO = resolve(process.env.ZOO_DIR ?? 'public/zoo');
  const models = ['base', 'caesar', 'reverse'].map((m) => `tiny-llama/${m}`);

  it('merge one stage per tensor and score as the model assembled by hand from each stage alone', async () => {
    const { handles, numLayers } = await openSearchModels(models[0], models.slice(1), (ref) => nodeFolderTree(join(ZOO, ref)));
    const space = createSpace({ kind: 'layerwise', methods: ['ties', 'slerp', 'task_arithmetic'], blockSize: 2 }, { base: models[0], experts: models.slice(1), numLayers, randomSeed: 1 });
    const pick = (b: number, s: string): SpaceMethod => (s === 'attn' ? 'ties' : s === 'mlp' ? 'slerp' : b === 0 ? 'task_arithmetic' : 'ties');
    const decoded = space.decode(pointPicking(space.dimensions, pick, 2));
    // Trials persist as JSON lines; the reloaded recipe is the one that is merged.
    const [trial] = parseTrialLines(`${JSON.stringify({ id: 0, recipe: decoded.recipe })}\n`, 'trials.jsonl');
    const recipe = trial.recipe as Recipe;
    expect(recipe.stages).toHaveLength(3);
    const staged = plan(recipe, handles);
    expect(staged.steps.every((s) => s.models.length === 1)).toBe(true);

    const tasks = nodeFolderTree(join(ZOO, 'tasks'));
    const objectives = [{ name: 'caesar.exact_match', direction: 'max' as const }, { name: 'caesar.perplexity', direction: 'min' as const, ref: 1e3 }];
    const objective = await createMergeObjective({ models: handles, tasks, objectives, limit: 4 });
    const scores = await objective(recipe, 1, new AbortController().signal);

    // By hand: each stage merged alone, every tensor taken from the stage its block and set chose.
    const alone = new Map<string, Map<string, Float32Array>>();
    for (const stage of recipe.stages!) alone.set(stage.merge_method, await mergeToMemory(plan({ ...stage, name: undefined }, handles)));
    const weights = new Map<string, Float32Array>();
    for (const step of staged.steps) {
      const layer = step.role.layer;
      const set = step.output.includes('self_attn') ? 'attn' : step.output.includes('mlp') ? 'mlp' : 'rest';
      const block = layer === null ? (step.role.position === 'pre' ? 0 : 1) : Math.floor(layer / 2);
      weights.set(step.output, alone.get(pick(block, set))!.get(step.output)!);
    }
    const tree = handles.get(models[0])!.tree;
    const tokenizer = await loadTokenizer(tree);
    const score = async (tensors: ReadonlyMap<string, Float32Array>, file: string) => {
      const model = await createRuntime(parseCausalLMConfig(staged.config, 'merged'), tensors, 'cpu');
      const source = await tasks.open(file);
      const task = parseTaskJsonl(new TextDecoder().decode(await source.read(0, source.size)), file);
      const result = await evaluateTask(model, tokenizer, task, { limit: 4, seed: 0, maxNewTokens: await generationLimit(tree) });
      model.dispose();
      expect(result.items).toBe(4);
      return result.metrics;
    };
    expect(scores['caesar.exact_match']).toBe((await score(weights, 'caesar.gen.jsonl')).exact_match);
    const perplexity = (await score(weights, 'caesar.ppl.jsonl')).perplexity;
    expect(perplexity).toBeGreaterThan(1);
    expect(perplexity).toBeLessThan(1e3);
    expect(scores['caesar.perplexity']).toBe(perplexity);
    // The pick matters: one stage alone scores otherwise.
    expect((await score(alone.get('ties')!, 'caesar.ppl.jsonl')).perplexity).not.toBeCloseTo(perplexity, 3);
  });
});
