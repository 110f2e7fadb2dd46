import { describe, expect, it } from 'vitest';
import { MergeStudioError } from '../errors.ts';
import { getMethod } from '../methods/index.ts';
import { resolveParams, outputLayerCount } from '../recipe/params.ts';
import { parseRecipeYaml, recipeToYaml } from '../recipe/yaml.ts';
import { Prng } from './prng.ts';
import { createSpace, type MergeFamily } from './spaces.ts';

const family2: MergeFamily = { base: 'zoo/base', experts: ['zoo/add', 'zoo/reverse'], numLayers: 6, randomSeed: 3 };
const family3: MergeFamily = { ...family2, experts: ['zoo/add', 'zoo/reverse', 'zoo/sort'] };

const layerTensor = (layer: number, module: string) => `model.layers.${layer}.${module}.weight`;

describe('search spaces', () => {
  it('every space yields recipes that validate and round-trip through mergekit YAML', () => {
    const rng = new Prng(4);
    const spaces = [
      createSpace({ kind: 'global', methods: ['linear', 'task_arithmetic', 'ties', 'dare_ties', 'slerp'] }, family2),
      createSpace({ kind: 'global', methods: ['ties'] }, family3),
      createSpace({ kind: 'layerwise', methods: ['task_arithmetic', 'ties', 'dare_ties', 'linear'], blockSize: 2 }, family3),
      createSpace({ kind: 'layerwise', methods: ['slerp'], blockSize: 4 }, family2),
      createSpace({ kind: 'depthwise', maxLayers: 9 }, family3),
    ];
    const methodsSeen = new Set<string>();
    for (const space of spaces) {
      for (let i = 0; i < 25; i++) {
        const { recipe } = space.decode(rng.unitVector(space.dimensions.length));
        methodsSeen.add(recipe.merge_method);
        const yaml = recipeToYaml(recipe);
        expect(parseRecipeYaml(yaml, { source: `${space.kind} candidate` })).toEqual(recipe);
      }
    }
    expect([...methodsSeen].sort()).toEqual(['dare_ties', 'linear', 'passthrough', 'slerp', 'task_arithmetic', 'ties']);
  });

  it('layer-wise fusion sets each block and module set its own parameters', () => {
    const space = createSpace({ kind: 'layerwise', methods: ['ties'], blockSize: 4 }, family2);
    // 2 blocks (layers 0-3, 4-5) x 3 module sets x (2 experts x {weight, density} + lambda)
    expect(space.dimensions).toHaveLength(2 * 3 * 5);
    const x = new Prng(8).unitVector(space.dimensions.length);
    const { values, recipe } = space.decode(x);
    const method = getMethod('ties');
    const check = (layer: number, module: string, set: string) => {
      const resolved = resolveParams(recipe, layerTensor(layer, module), { layer }, family2.numLayers, method.params);
      const block = Math.floor(layer / 4);
      expect(resolved.global.lambda).toBeCloseTo(values[`b${block}.${set}.lambda`] as number, 4);
      const add = resolved.inputs.find((i) => i.model === 'zoo/add')!;
      const reverse = resolved.inputs.find((i) => i.model === 'zoo/reverse')!;
      expect(add.params.weight).toBeCloseTo(values[`b${block}.${set}.add.weight`] as number, 4);
      expect(add.params.density).toBeCloseTo(values[`b${block}.${set}.add.density`] as number, 4);
      expect(reverse.params.weight).toBeCloseTo(values[`b${block}.${set}.reverse.weight`] as number, 4);
    };
    for (let layer = 0; layer < 6; layer++) {
      check(layer, 'self_attn.q_proj', 'attn');
      check(layer, 'mlp.up_proj', 'mlp');
      check(layer, 'input_layernorm', 'rest');
    }
    // parameters come from the unit-cube point through each dimension's range
    const density = space.dimensions.findIndex((d) => d.name === 'b1.mlp.reverse.density');
    expect(values['b1.mlp.reverse.density']).toBeCloseTo(0.1 + 0.9 * x[density], 12);
  });

  it('the global space has one value per model and parameter', () => {
    const space = createSpace({ kind: 'global', methods: ['task_arithmetic'] }, family3);
    expect(space.dimensions.map((d) => d.name)).toEqual(['add.weight', 'reverse.weight', 'sort.weight', 'lambda']);
    const { recipe } = space.decode([0, 0.5, 1, 0.5]);
    expect(recipe).toEqual({
      merge_method: 'task_arithmetic',
      base_model: 'zoo/base',
      models: [
        { model: 'zoo/add', parameters: { weight: 0 } },
        { model: 'zoo/reverse', parameters: { weight: 0.5 } },
        { model: 'zoo/sort', parameters: { weight: 1 } },
      ],
      parameters: { lambda: 1 },
      dtype: 'float32',
    });
  });

  it('depth-wise integration stacks the chosen layers in order, falls back to the base and respects the cap', () => {
    const space = createSpace({ kind: 'depthwise', maxLayers: 8 }, family2);
    const index = (name: string) => space.dimensions.findIndex((d) => d.name === name);
    const x = new Array(space.dimensions.length).fill(0); // nothing included: the base model, layer by layer
    expect(space.decode(x).recipe.slices!.map((s) => [s.sources[0].model, s.sources[0].layer_range])).toEqual(
      [0, 1, 2, 3, 4, 5].map((p) => ['zoo/base', [p, p + 1]]),
    );
    // position 0: both experts, reverse first; position 1: add only, scaled; everything else too
    for (let p = 0; p < 6; p++) x[index(`p${p}.add.include`)] = x[index(`p${p}.reverse.include`)] = 1;
    x[index('p0.add.order')] = 0.9;
    x[index('p0.reverse.order')] = 0.1;
    x[index('p1.reverse.include')] = 0;
    x[index('p1.add.scale')] = 0.25; // 0.5 + 0.25 * (1.5 - 0.5)
    const { recipe } = space.decode(x);
    const stack = recipe.slices!.map((s) => `${s.sources[0].model.split('/')[1]}@${s.sources[0].layer_range[0]}`);
    // the cap of 8 leaves room for 2 extra layers, taken by the first positions that ask for them
    expect(stack).toEqual(['reverse@0', 'add@0', 'add@1', 'add@2', 'reverse@2', 'add@3', 'add@4', 'add@5']);
    expect(outputLayerCount(recipe, 6)).toBe(8);
    const scaled = recipe.slices![2].sources[0];
    const scaleOf = (tensor: string) =>
      resolveParams({ ...recipe, slices: [recipe.slices![2]] }, tensor, { layer: 0 }, 6, getMethod('passthrough').params).inputs[0].params.scale;
    expect(scaled.model).toBe('zoo/add');
    expect(scaleOf('model.layers.1.self_attn.o_proj.weight')).toBe(0.75);
    expect(scaleOf('model.layers.1.mlp.down_proj.weight')).toBe(0.75);
    expect(scaleOf('model.layers.1.self_attn.q_proj.weight')).toBe(1);
  });

  it('refuses impossible spaces with errors naming the setting', () => {
    expect(() => createSpace({ kind: 'global', methods: ['slerp'] }, family3)).toThrow(/slerp interpolates exactly 2 models/);
    expect(() => createSpace({ kind: 'global', methods: ['tie' as never] }, family2)).toThrow(/space.methods has 'tie'/);
    expect(() => createSpace({ kind: 'layerwise', methods: ['ties'], blockSize: 0 }, family2)).toThrow(/block_size/);
    expect(() => createSpace({ kind: 'depthwise', maxLayers: 3 }, family2)).toThrow(MergeStudioError);
    expect(() => createSpace({ kind: 'global', methods: ['ties'] }, { ...family2, experts: ['zoo/base'] })).toThrow(/must all differ/);
  });
});
