import { MergeStudioError } from '../errors.ts';
import type { ParamCondition, ParamMap, ParamSetting, Recipe, RecipeSlice } from '../recipe/types.ts';
import { decodeAll, type Dimension, type DimensionValue, type SearchSpace } from './space.ts';

/** The models a search combines: experts fine-tuned from one base, all with `numLayers` layers. */
export interface MergeFamily {
  base: string;
  experts: string[];
  numLayers: number;
  /** Seed written into recipes (random masks of dare_ties). */
  randomSeed?: number;
}

export type SpaceMethod = 'linear' | 'task_arithmetic' | 'ties' | 'dare_ties' | 'slerp';
export const SPACE_METHODS: readonly SpaceMethod[] = ['linear', 'task_arithmetic', 'ties', 'dare_ties', 'slerp'];

export type ParameterRanges = Partial<Record<'weight' | 'density' | 'lambda' | 't' | 'scale', [number, number]>>;

export type SpaceSpec =
  /** One value per model and parameter: quick runs. */
  | { kind: 'global'; methods: SpaceMethod[]; ranges?: ParameterRanges }
  /** Layer-wise fusion: per block of `blockSize` layers and per module set, the method's parameters. */
  | { kind: 'layerwise'; methods: SpaceMethod[]; blockSize: number; ranges?: ParameterRanges }
  /** Depth-wise integration: per layer position, which experts' layers (in which order, with which
   * output scale) are stacked; the base layer when none is; at most `maxLayers` layers. */
  | { kind: 'depthwise'; maxLayers?: number; ranges?: ParameterRanges };

const DEFAULT_RANGES: Required<ParameterRanges> = {
  weight: [0, 1],
  density: [0.1, 1],
  lambda: [0.5, 1.5],
  t: [0, 1],
  scale: [0.5, 1.5],
};

/** Which parameters each method takes from the search: per model, and global. */
const METHOD_PARAMS: Record<SpaceMethod, { model: ('weight' | 'density')[]; global: ('lambda' | 't')[] }> = {
  linear: { model: ['weight'], global: [] },
  task_arithmetic: { model: ['weight'], global: ['lambda'] },
  ties: { model: ['weight', 'density'], global: ['lambda'] },
  dare_ties: { model: ['weight', 'density'], global: ['lambda'] },
  slerp: { model: [], global: ['t'] },
};

/** Module sets of a layer, as mergekit filters (substrings of the tensor name; first match wins).
 * "rest" (norms, and the embeddings and final weights, which take the first block's value) is the
 * filterless default. */
const MODULE_SETS = [
  { label: 'attn', filter: 'self_attn' },
  { label: 'mlp', filter: 'mlp' },
  { label: 'rest', filter: undefined },
] as const;

/** Output scale applies to the projections that write into the residual stream. */
const OUTPUT_PROJECTIONS = ['o_proj', 'down_proj'];

export function createSpace(spec: SpaceSpec, family: MergeFamily): SearchSpace<Recipe> {
  validateFamily(family);
  switch (spec.kind) {
    case 'global':
      return fusionSpace('global', spec.methods, 1, false, { ...DEFAULT_RANGES, ...spec.ranges }, family);
    case 'layerwise': {
      if (!(Number.isInteger(spec.blockSize) && spec.blockSize >= 1)) {
        throw new MergeStudioError('search-space', `search spec: space.block_size must be a positive integer, found ${String(spec.blockSize)}`);
      }
      const blocks = Math.ceil(family.numLayers / spec.blockSize);
      return fusionSpace('layerwise', spec.methods, blocks, true, { ...DEFAULT_RANGES, ...spec.ranges }, family, spec.blockSize);
    }
    case 'depthwise':
      return depthwiseSpace(spec.maxLayers ?? Math.ceil(1.5 * family.numLayers), { ...DEFAULT_RANGES, ...spec.ranges }, family);
    default:
      throw new MergeStudioError(
        'search-space',
        `search spec: space.kind must be one of global, layerwise, depthwise; found '${String((spec as { kind: unknown }).kind)}'`,
      );
  }
}

function validateFamily(f: MergeFamily): void {
  if (f.experts.length === 0) throw new MergeStudioError('search-space', 'search spec: models lists no experts to merge');
  if (new Set([f.base, ...f.experts]).size !== f.experts.length + 1) {
    throw new MergeStudioError('search-space', `search spec: base_model and models must all differ, found ${[f.base, ...f.experts].join(', ')}`);
  }
  if (!(Number.isInteger(f.numLayers) && f.numLayers >= 1)) {
    throw new MergeStudioError('search-space', `the models' layer count must be a positive integer, found ${f.numLayers}`);
  }
}

/** Short, unique labels of the experts for dimension names (the last path segment). */
function expertLabels(experts: readonly string[]): string[] {
  const labels = experts.map((e) => e.replace(/\/+$/, '').split('/').pop() || e);
  return labels.map((l, i) => (labels.indexOf(l) === i ? l : `${l}#${i}`));
}

const round4 = (v: number) => Math.round(v * 1e4) / 1e4;

/** Global and layer-wise fusion. The global space picks one method per candidate. The layer-wise
 * space with several methods picks one per block and module set (`method.b<block>.<set>`); a
 * candidate whose choices differ is a multi-stage recipe: one stage per method used, each over all
 * blocks, and a final linear merge that gives each tensor's chosen stage weight 1 and the others 0.
 * Parameters are searched per block and module set (one of each for 'global') and shared by the
 * methods that take them: a block and set's `weight` is the weight of whichever method it picked. */
function fusionSpace(
  kind: 'global' | 'layerwise',
  methods: readonly SpaceMethod[],
  blocks: number,
  perModule: boolean,
  ranges: Required<ParameterRanges>,
  family: MergeFamily,
  blockSize = family.numLayers,
): SearchSpace<Recipe> {
  if (!Array.isArray(methods) || methods.length === 0) {
    throw new MergeStudioError('search-space', `search spec: space.methods must list at least one of ${SPACE_METHODS.join(', ')}`);
  }
  for (const m of methods) {
    if (!SPACE_METHODS.includes(m)) {
      throw new MergeStudioError('search-space', `search spec: space.methods has '${String(m)}'; searchable methods are ${SPACE_METHODS.join(', ')}`);
    }
    if (m === 'slerp' && family.experts.length !== 2) {
      throw new MergeStudioError('search-space', `search spec: slerp interpolates exactly 2 models, but models lists ${family.experts.length}`);
    }
  }
  const labels = expertLabels(family.experts);
  const sets = perModule ? MODULE_SETS : [MODULE_SETS[2]];
  const modelParams: ('weight' | 'density')[] = [...new Set(methods.flatMap((m: SpaceMethod) => METHOD_PARAMS[m].model))];
  const globalParams: ('lambda' | 't')[] = [...new Set(methods.flatMap((m: SpaceMethod) => METHOD_PARAMS[m].global))];
  const groupName = (b: number, s: string) => (kind === 'global' ? '' : `b${b}.${s}.`);
  const dimensions: Dimension[] = [];
  const perBlockMethod = kind === 'layerwise' && methods.length > 1;
  const clash = perBlockMethod ? [family.base, ...family.experts].find((ref) => methods.some((m) => stageName(m) === ref)) : undefined;
  if (clash) throw new MergeStudioError('search-space', `search spec: the model '${clash}' has the name a stage of a layer-wise candidate takes; rename its folder`);
  const methodName = (b: number, s: string) => `method.b${b}.${s}`;
  if (methods.length > 1 && !perBlockMethod) dimensions.push({ name: 'method', kind: 'choice', choices: [...methods] });
  for (let b = 0; b < blocks; b++) {
    for (const s of sets) {
      if (perBlockMethod) dimensions.push({ name: methodName(b, s.label), kind: 'choice', choices: [...methods] });
      for (const label of labels) {
        for (const p of modelParams) dimensions.push({ name: `${groupName(b, s.label)}${label}.${p}`, kind: 'real', low: ranges[p][0], high: ranges[p][1] });
      }
      for (const p of globalParams) dimensions.push({ name: `${groupName(b, s.label)}${p}`, kind: 'real', low: ranges[p][0], high: ranges[p][1] });
    }
  }

  // One parameter's setting: a scalar, or a {filter, value} list over module sets whose values are
  // per-layer lists (a gradient with one entry per layer is exact at every layer).
  const setting = (values: Record<string, DimensionValue>, key: (b: number, s: string) => string): ParamSetting => {
    const perSet = sets.map((s) => {
      const perBlock = Array.from({ length: blocks }, (_, b) => round4(values[key(b, s.label)] as number));
      if (perBlock.every((v) => v === perBlock[0])) return perBlock[0];
      return Array.from({ length: family.numLayers }, (_, layer) => perBlock[Math.floor(layer / blockSize)]);
    });
    if (sets.length === 1) return perSet[0];
    const conditions: ParamCondition[] = sets.map((s, i) => (s.filter ? { filter: s.filter, value: perSet[i] } : { value: perSet[i] }));
    return conditions;
  };

  /** The candidate as one recipe of one method, its parameters as gradients over the layers. */
  const singleMethodRecipe = (method: SpaceMethod, values: Record<string, DimensionValue>): Recipe => {
    const used = METHOD_PARAMS[method];
    const parameters: ParamMap = {};
    for (const p of used.global) parameters[p] = setting(values, (b, s) => `${groupName(b, s)}${p}`);
    const recipe: Recipe = { merge_method: method };
    if (method === 'slerp') {
      recipe.base_model = family.experts[0];
      recipe.models = family.experts.map((model) => ({ model }));
    } else {
      if (method !== 'linear') recipe.base_model = family.base;
      recipe.models = family.experts.map((model, e) => {
        const own: ParamMap = {};
        for (const p of used.model) own[p] = setting(values, (b, s) => `${groupName(b, s)}${labels[e]}.${p}`);
        return { model, parameters: own };
      });
    }
    if (Object.keys(parameters).length > 0) recipe.parameters = parameters;
    if (method === 'dare_ties') recipe.random_seed = family.randomSeed ?? 0;
    recipe.dtype = 'float32';
    return recipe;
  };

  // Multi-stage candidates are written with one slice per block: a block's values are exact scalars
  // (no gradient interpolation), and every tensor, the embeddings (first block) and the final norm
  // and lm_head (last block, as mergekit plans them) included, takes its block's method and values.
  const layerRange = (b: number): [number, number] => [b * blockSize, Math.min(family.numLayers, (b + 1) * blockSize)];
  const bySet = (valueOf: (set: string) => number): ParamSetting => {
    const v = sets.map((s) => valueOf(s.label));
    if (v.every((x) => x === v[0])) return v[0];
    return sets.map((s, i): ParamCondition => (s.filter ? { filter: s.filter, value: v[i] } : { value: v[i] }));
  };
  const stageOf = (method: SpaceMethod, values: Record<string, DimensionValue>): Recipe => {
    const used = METHOD_PARAMS[method];
    const inputs = method === 'slerp' || method === 'linear' ? [...family.experts] : [...family.experts, family.base];
    const slices: RecipeSlice[] = Array.from({ length: blocks }, (_, b) => {
      const sources = inputs.map((model) => {
        const e = family.experts.indexOf(model);
        const own: ParamMap = {};
        if (e >= 0) for (const p of used.model) own[p] = bySet((s) => round4(values[`b${b}.${s}.${labels[e]}.${p}`] as number));
        return { model, layer_range: layerRange(b), ...(Object.keys(own).length > 0 ? { parameters: own } : {}) };
      });
      const parameters: ParamMap = {};
      for (const p of used.global) parameters[p] = bySet((s) => round4(values[`b${b}.${s}.${p}`] as number));
      return { sources, ...(Object.keys(parameters).length > 0 ? { parameters } : {}) };
    });
    const stage: Recipe = { name: stageName(method), merge_method: method };
    if (method === 'slerp') stage.base_model = family.experts[0];
    else if (method !== 'linear') stage.base_model = family.base;
    stage.slices = slices;
    if (method === 'dare_ties') stage.random_seed = family.randomSeed ?? 0;
    stage.dtype = 'float32';
    return stage;
  };
  const stagedRecipe = (used: SpaceMethod[], chosen: (b: number, s: string) => SpaceMethod, values: Record<string, DimensionValue>): Recipe => ({
    merge_method: 'linear',
    slices: Array.from({ length: blocks }, (_, b) => ({
      sources: used.map((m) => ({ model: stageName(m), layer_range: layerRange(b), parameters: { weight: bySet((s) => (chosen(b, s) === m ? 1 : 0)) } })),
    })),
    parameters: { normalize: true },
    dtype: 'float32',
    stages: used.map((m) => stageOf(m, values)),
  });

  return {
    kind,
    dimensions,
    decode(x) {
      const values = decodeAll(dimensions, x);
      if (!perBlockMethod) return { values, recipe: singleMethodRecipe((methods.length > 1 ? values.method : methods[0]) as SpaceMethod, values) };
      const chosen = (b: number, s: string) => values[methodName(b, s)] as SpaceMethod;
      const used = methods.filter((m) => Array.from({ length: blocks }, (_, b) => sets.some((s) => chosen(b, s.label) === m)).some(Boolean));
      return { values, recipe: used.length === 1 ? singleMethodRecipe(used[0], values) : stagedRecipe(used, chosen, values) };
    },
  };
}

/** Stage names of multi-stage candidates; no model reference of a search looks like them. */
function stageName(method: SpaceMethod): string {
  return `lfs-stage-${method}`;
}

/** Depth-wise integration as a passthrough recipe of one-layer slices. Per position p and expert e:
 * include (value >= 0.5), an order key and an output scale. Layers at a position are stacked by
 * their order key; the cap keeps one layer for every later position, so every depth stays present. */
function depthwiseSpace(maxLayers: number, ranges: Required<ParameterRanges>, family: MergeFamily): SearchSpace<Recipe> {
  const L = family.numLayers;
  if (!(Number.isInteger(maxLayers) && maxLayers >= L)) {
    throw new MergeStudioError('search-space', `search spec: space.max_layers must be an integer >= the models' ${L} layers, found ${String(maxLayers)}`);
  }
  const labels = expertLabels(family.experts);
  const dimensions: Dimension[] = [];
  for (let p = 0; p < L; p++) {
    for (const label of labels) {
      dimensions.push({ name: `p${p}.${label}.include`, kind: 'real', low: 0, high: 1 });
      dimensions.push({ name: `p${p}.${label}.order`, kind: 'real', low: 0, high: 1 });
      dimensions.push({ name: `p${p}.${label}.scale`, kind: 'real', low: ranges.scale[0], high: ranges.scale[1] });
    }
  }
  return {
    kind: 'depthwise',
    dimensions,
    decode(x) {
      const values = decodeAll(dimensions, x);
      const slices: RecipeSlice[] = [];
      for (let p = 0; p < L; p++) {
        const chosen = family.experts
          .map((model, e) => ({
            model,
            include: values[`p${p}.${labels[e]}.include`] as number,
            order: values[`p${p}.${labels[e]}.order`] as number,
            scale: round4(values[`p${p}.${labels[e]}.scale`] as number),
          }))
          .filter((c) => c.include >= 0.5)
          .sort((a, b) => a.order - b.order);
        const room = maxLayers - slices.length - (L - p - 1);
        const layers = chosen.length === 0 ? [{ model: family.base, scale: 1 }] : chosen.slice(0, Math.max(1, room));
        for (const l of layers) {
          const source: RecipeSlice['sources'][number] = { model: l.model, layer_range: [p, p + 1] };
          if (l.scale !== 1) {
            source.parameters = { scale: [...OUTPUT_PROJECTIONS.map((filter) => ({ filter, value: l.scale })), { value: 1 }] };
          }
          slices.push({ sources: [source] });
        }
      }
      return { values, recipe: { merge_method: 'passthrough', slices, dtype: 'float32' } };
    },
  };
}
