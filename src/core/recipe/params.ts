// What value each parameter takes for one tensor. This is the single place that says it: the
// engine's planner and the studio's per-layer charts both call resolveParams, so what is drawn is
// what is merged. Semantics follow mergekit's ConfigReader / evaluate_setting / plan.py:
// - gradients: t = i / (n - 1) over the n layers of the slice (t = 1 when n == 1); a numeric list
//   is interpolated piecewise-linearly at t * (len - 1);
// - embeddings and the final weights (norm, lm_head) are planned with t = 0, i.e. they take a
//   gradient's FIRST value, from the first slice (embeddings) or the last slice (final weights);
// - precedence: source/model parameters > slice parameters > top-level parameters > default;
//   a condition list with no matching filter falls through to the next level;
// - global parameters are read from slice and top-level parameters only, never per model.
// Deliberate difference: a list of booleans is stepped (mergekit interpolates Python bools as ints).
import type { ParamSpec, ParamValue } from '../methods/types.ts';
import { MergeStudioError } from '../errors.ts';
import type { ParamCondition, ParamMap, ParamSetting, Recipe } from './types.ts';

function isCondition(v: unknown): v is ParamCondition {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Value of one parameter setting for a tensor at gradient position t in [0, 1]; undefined when a
 * condition list has no entry for this tensor. */
export function evaluateSetting(setting: ParamSetting, tensorName: string, t: number): ParamValue | undefined {
  if (!Array.isArray(setting)) return setting;
  if (setting.length === 0) return undefined;
  if (setting.every((e) => typeof e === 'number')) {
    const values = setting as number[];
    const scaled = t * (values.length - 1);
    const i0 = Math.trunc(scaled);
    const i1 = Math.min(values.length - 1, i0 + 1);
    const frac = scaled - i0;
    return (1 - frac) * values[i0] + frac * values[i1];
  }
  if (setting.every((e) => !isCondition(e))) {
    return (setting as ParamValue[])[Math.trunc(t * (setting.length - 1))];
  }
  for (const cond of setting as ParamCondition[]) {
    if (cond.filter === undefined || cond.filter === null || cond.filter === '*' || (tensorName !== '' && tensorName.includes(cond.filter))) {
      return evaluateSetting(cond.value, tensorName, t);
    }
  }
  return undefined;
}

/** Where a tensor sits in the output model. */
export type TensorSite =
  /** A tensor of output layer `layer` (0-based, counted across all slices). */
  | { layer: number }
  /** Before the layers (embeddings) or after them (final norm, lm_head). */
  | { layer: null; position: 'pre' | 'post' };

/** One input of a tensor's merge: a recipe model (or slice source) and its parameter values. */
export interface ResolvedInput {
  model: string;
  /** True for the recipe's base_model. */
  isBase: boolean;
  /** Position among the inputs (models in recipe order, then the base when not listed). */
  index: number;
  /** Layer of this input to read for a layer tensor, null for embeddings and final weights. */
  inputLayer: number | null;
  params: Record<string, ParamValue>;
}

export interface ResolvedParams {
  /** Gradient position used for this tensor. */
  t: number;
  /** Slice the tensor comes from (0 for a `models` recipe). */
  slice: number;
  inputs: ResolvedInput[];
  global: Record<string, ParamValue>;
}

interface SliceView {
  sources: { model: string; start: number; parameters?: ParamMap }[];
  parameters?: ParamMap;
  length: number;
}

/** The recipe as mergekit normalizes it: `models` becomes one slice over all layers, with the base
 * model appended when it is not listed. */
export function recipeSlices(recipe: Recipe, numLayers: number): SliceView[] {
  if (recipe.models) {
    const sources = recipe.models.map((m) => ({ model: m.model, start: 0, parameters: m.parameters }));
    if (recipe.base_model !== undefined && !recipe.models.some((m) => m.model === recipe.base_model)) {
      sources.push({ model: recipe.base_model, start: 0, parameters: undefined });
    }
    return [{ sources, length: numLayers }];
  }
  return (recipe.slices ?? []).map((s) => ({
    sources: s.sources.map((src) => ({ model: src.model, start: src.layer_range[0], parameters: src.parameters })),
    parameters: s.parameters,
    length: s.sources[0] ? s.sources[0].layer_range[1] - s.sources[0].layer_range[0] : 0,
  }));
}

/** Number of layers of the merged model. `numLayers` is the input models' layer count, used by
 * `models` recipes; `slices` recipes define their own. */
export function outputLayerCount(recipe: Recipe, numLayers: number): number {
  return recipeSlices(recipe, numLayers).reduce((n, s) => n + s.length, 0);
}

function lookup(maps: (ParamMap | undefined)[], name: string, tensorName: string, t: number): ParamValue | undefined {
  for (const map of maps) {
    if (map && Object.prototype.hasOwnProperty.call(map, name)) {
      const v = evaluateSetting(map[name], tensorName, t);
      if (v !== undefined && v !== null) return v;
    }
  }
  return undefined;
}

export interface ResolveOptions {
  /** Tensor name of each input, when it differs from the output name (slices re-index layers);
   * per-model filters match the input's name, as in mergekit. */
  inputTensorNames?: string[];
}

/** Concrete global and per-input parameter values for one output tensor; `params` is the
 * method's schema (getMethod(recipe.merge_method).params). */
export function resolveParams(recipe: Recipe, tensorName: string, site: TensorSite, numLayers: number, params: ParamSpec[], options: ResolveOptions = {}): ResolvedParams {
  const slices = recipeSlices(recipe, numLayers);
  if (slices.length === 0) throw new MergeStudioError('recipe-invalid', 'recipe has neither models nor slices', {});
  let sliceIndex: number;
  let t: number;
  let offset: number | null;
  if (site.layer === null) {
    sliceIndex = site.position === 'pre' ? 0 : slices.length - 1;
    t = 0;
    offset = null;
  } else {
    let first = 0;
    sliceIndex = slices.findIndex((s) => {
      if (site.layer < first + s.length) return true;
      first += s.length;
      return false;
    });
    if (sliceIndex < 0 || site.layer < 0) {
      throw new MergeStudioError('layer-out-of-range', `tensor '${tensorName}': layer ${site.layer} is outside the merged model's ${first} layers`, { tensor: tensorName, layer: site.layer });
    }
    offset = site.layer - first;
    const n = slices[sliceIndex].length;
    t = n > 1 ? offset / (n - 1) : 1;
  }
  const slice = slices[sliceIndex];
  const global: Record<string, ParamValue> = {};
  for (const p of params) {
    if (p.scope !== 'global') continue;
    const v = lookup([slice.parameters, recipe.parameters], p.name, tensorName, t) ?? p.default;
    if (v !== undefined) global[p.name] = v;
  }
  const inputs = slice.sources.map((src, index): ResolvedInput => {
    const name = options.inputTensorNames?.[index] ?? tensorName;
    const values: Record<string, ParamValue> = {};
    for (const p of params) {
      if (p.scope !== 'model') continue;
      const v = lookup([src.parameters, slice.parameters, recipe.parameters], p.name, name, t) ?? p.default;
      if (v !== undefined) values[p.name] = v;
    }
    return { model: src.model, isBase: recipe.base_model !== undefined && src.model === recipe.base_model, index, inputLayer: offset === null ? null : src.start + offset, params: values };
  });
  return { t, slice: sliceIndex, inputs, global };
}
