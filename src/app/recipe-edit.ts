// Edits of the recipe the studio's controls make. Each function takes a recipe and returns a new one
// (the store keeps recipes immutable). Per-layer values are always READ through core's
// resolveParams, the function the engine's planner uses, so the charts show what will be merged;
// edits WRITE mergekit-shaped settings (scalars, gradient lists, {filter, value} lists).
import { getMethod, type ParamSpec, type ParamValue } from '../core/methods/index.ts';
import { withLayerIndex } from '../core/model/architecture.ts';
import { resolveParams, type ParamCondition, type ParamMap, type ParamSetting, type Recipe } from '../core/recipe/index.ts';
import type { ModuleGroup } from '../worker/protocol.ts';

/** mergekit filters of the module groups; "other" (norms) is the filterless fallback entry. */
export const GROUP_FILTERS: Record<ModuleGroup, string | undefined> = { attention: 'self_attn', mlp: 'mlp', other: undefined };
export const GROUPS: ModuleGroup[] = ['attention', 'mlp', 'other'];

/** Which tensor stands for each group in a layer, and for the embeddings and final weights. */
export interface LayerLayout {
  numLayers: number;
  layerTensors: Partial<Record<ModuleGroup, string>>;
  edgeTensors: { pre?: string; post?: string };
}

export function paramSpecs(recipe: Recipe): ParamSpec[] {
  try {
    return getMethod(recipe.merge_method).params;
  } catch {
    return [];
  }
}

/** A sensible starting value for a parameter the user has not set yet. */
export function initialValue(spec: ParamSpec): ParamValue | undefined {
  if (spec.default !== undefined) return spec.default;
  if (spec.kind === 'boolean') return false;
  // Each model's full task vector (or, for linear, an equal share after normalisation).
  if (spec.name === 'weight') return 1;
  if (spec.name === 't') return 0.5;
  if (spec.min !== undefined && spec.max !== undefined) return (spec.min + spec.max) / 2;
  return spec.required ? 1 : undefined;
}

/** The models a recipe merges besides its base, in recipe order. */
export function mergedModels(recipe: Recipe): string[] {
  return (recipe.models ?? []).map((m) => m.model).filter((m) => m !== recipe.base_model);
}

/** A recipe for `method` over the base and experts, keeping the values the old recipe had where they still apply. */
export function withMethod(recipe: Recipe, method: string): Recipe {
  const specs = (() => {
    try {
      return getMethod(method).params;
    } catch {
      return [];
    }
  })();
  const experts = recipe.slices ? [] : mergedModels(recipe);
  const keep = (map: ParamMap | undefined, scope: ParamSpec['scope']): ParamMap | undefined => {
    const out: ParamMap = {};
    for (const s of specs) {
      if (s.scope !== scope) continue;
      if (map && Object.hasOwn(map, s.name)) out[s.name] = map[s.name];
      else if (s.required) {
        const v = initialValue(s);
        if (v !== undefined) out[s.name] = v;
      }
    }
    return Object.keys(out).length ? out : undefined;
  };
  if (method === 'passthrough' || recipe.slices) {
    return { ...recipe, merge_method: method };
  }
  const next: Recipe = { ...recipe, merge_method: method };
  const models = experts.map((model) => {
    const old = recipe.models?.find((m) => m.model === model);
    const parameters = keep(old?.parameters, 'model');
    return parameters ? { model, parameters } : { model };
  });
  next.models = models;
  const top = keep(recipe.parameters, 'global');
  if (top) next.parameters = top;
  else delete next.parameters;
  return next;
}

/** Adds a model to a `models` recipe with the method's required per-model parameters. */
export function withModelAdded(recipe: Recipe, model: string): Recipe {
  if (recipe.slices || recipe.base_model === model || recipe.models?.some((m) => m.model === model)) return recipe;
  const specs = paramSpecs(recipe).filter((s) => s.scope === 'model' && s.required);
  const parameters: ParamMap = {};
  for (const s of specs) {
    const v = initialValue(s);
    if (v !== undefined) parameters[s.name] = v;
  }
  return { ...recipe, models: [...(recipe.models ?? []), Object.keys(parameters).length ? { model, parameters } : { model }] };
}

export function withModelRemoved(recipe: Recipe, model: string): Recipe {
  const next: Recipe = { ...recipe, models: recipe.models?.filter((m) => m.model !== model) };
  if (next.base_model === model) delete next.base_model;
  if (next.slices) {
    next.slices = next.slices.filter((s) => s.sources.every((src) => src.model !== model));
    // A stack without slices is no recipe at all: start over with an empty merge.
    if (next.slices.length === 0) return { merge_method: 'task_arithmetic' };
  }
  return next;
}

export function withBase(recipe: Recipe, base: string | undefined): Recipe {
  const next: Recipe = { ...recipe };
  if (base === undefined) delete next.base_model;
  else next.base_model = base;
  if (next.models && base !== undefined) next.models = next.models.filter((m) => m.model !== base);
  return next;
}

function setParam(map: ParamMap | undefined, name: string, setting: ParamSetting | undefined): ParamMap | undefined {
  const out: ParamMap = { ...(map ?? {}) };
  if (setting === undefined) delete out[name];
  else out[name] = setting;
  return Object.keys(out).length ? out : undefined;
}

/** Sets a parameter: for `model` === null the top-level (global) one, else that model's own. */
export function withParam(recipe: Recipe, model: string | null, name: string, setting: ParamSetting | undefined): Recipe {
  if (model === null) {
    const next = { ...recipe, parameters: setParam(recipe.parameters, name, setting) };
    if (!next.parameters) delete next.parameters;
    return next;
  }
  return {
    ...recipe,
    models: (recipe.models ?? []).map((m) => {
      if (m.model !== model) return m;
      const parameters = setParam(m.parameters, name, setting);
      return parameters ? { model: m.model, parameters } : { model: m.model };
    }),
  };
}

/** The setting a model (or the top level) writes for a parameter, if any. */
export function ownSetting(recipe: Recipe, model: string | null, name: string): ParamSetting | undefined {
  const map = model === null ? recipe.parameters : recipe.models?.find((m) => m.model === model)?.parameters;
  return map && Object.hasOwn(map, name) ? map[name] : undefined;
}

function resolvedValue(recipe: Recipe, tensor: string, site: Parameters<typeof resolveParams>[2], numLayers: number, spec: ParamSpec, model: string | null): number {
  const r = resolveParams(recipe, tensor, site, numLayers, [spec]);
  const v = model === null ? r.global[spec.name] : r.inputs.find((i) => i.model === model)?.params[spec.name];
  return typeof v === 'number' ? v : typeof v === 'boolean' ? Number(v) : NaN;
}

/** The value the engine will use at every layer for one module group (NaN where unset). */
export function layerCurve(recipe: Recipe, layout: LayerLayout, spec: ParamSpec, model: string | null, group: ModuleGroup): number[] {
  const tensor = layout.layerTensors[group] ?? layout.layerTensors.other ?? layout.layerTensors.attention;
  if (!tensor) return [];
  return Array.from({ length: layout.numLayers }, (_, layer) => resolvedValue(recipe, withLayerIndex(tensor, layer), { layer }, layout.numLayers, spec, model));
}

/** The values of the embeddings (before the layers) and the final weights (after them): mergekit
 * plans both at the gradient's start. */
export function edgeValues(recipe: Recipe, layout: LayerLayout, spec: ParamSpec, model: string | null): { pre: number; post: number } {
  const pre = layout.edgeTensors.pre ?? 'model.embed_tokens.weight';
  const post = layout.edgeTensors.post ?? 'lm_head.weight';
  return {
    pre: resolvedValue(recipe, pre, { layer: null, position: 'pre' }, layout.numLayers, spec, model),
    post: resolvedValue(recipe, post, { layer: null, position: 'post' }, layout.numLayers, spec, model),
  };
}

/** True when the groups' curves differ (the setting is already split by module). */
export function isSplit(recipe: Recipe, layout: LayerLayout, spec: ParamSpec, model: string | null): boolean {
  const curves = GROUPS.map((g) => layerCurve(recipe, layout, spec, model, g));
  return curves.some((c) => c.some((v, i) => !Object.is(v, curves[0][i])));
}

function round(v: number): number {
  return Number(v.toPrecision(6));
}

/** A curve as a setting: a scalar when flat, else one gradient value per layer (which interpolates
 * back to exactly these values at every layer). */
function curveSetting(values: number[]): ParamScalarOrList {
  const r = values.map(round);
  return r.every((v) => v === r[0]) ? r[0] : r;
}
type ParamScalarOrList = number | number[];

/** Writes per-group curves: one gradient when `split` is false, else a {filter, value} list. */
export function withCurves(recipe: Recipe, model: string | null, name: string, curves: Record<ModuleGroup, number[]>, split: boolean): Recipe {
  if (!split) return withParam(recipe, model, name, curveSetting(curves.other));
  const conditions: ParamCondition[] = GROUPS.map((g) => (GROUP_FILTERS[g] ? { filter: GROUP_FILTERS[g], value: curveSetting(curves[g]) } : { value: curveSetting(curves[g]) }));
  return withParam(recipe, model, name, conditions);
}

function currentCurves(recipe: Recipe, layout: LayerLayout, spec: ParamSpec, model: string | null): Record<ModuleGroup, number[]> {
  const fallback = initialValue(spec);
  const fill = (c: number[]) => c.map((v) => (Number.isFinite(v) ? v : typeof fallback === 'number' ? fallback : 0));
  return { attention: fill(layerCurve(recipe, layout, spec, model, 'attention')), mlp: fill(layerCurve(recipe, layout, spec, model, 'mlp')), other: fill(layerCurve(recipe, layout, spec, model, 'other')) };
}

/** Transforms the curve(s) of one parameter of one model; `group` null = every group alike. */
export function withCurveChange(
  recipe: Recipe, layout: LayerLayout, spec: ParamSpec, model: string | null, group: ModuleGroup | null, split: boolean,
  change: (curve: number[]) => number[],
): Recipe {
  const curves = currentCurves(recipe, layout, spec, model);
  const clamp = (v: number) => Math.min(spec.max ?? Infinity, Math.max(spec.min ?? -Infinity, v));
  const groups = split ? (group ? [group] : GROUPS) : GROUPS;
  for (const g of groups) curves[g] = change(curves[g]).map(clamp);
  if (!split) {
    curves.attention = curves.other;
    curves.mlp = curves.other;
  }
  return withCurves(recipe, model, spec.name, curves, split);
}

/** Sets one layer's value. */
export function withLayerValue(recipe: Recipe, layout: LayerLayout, spec: ParamSpec, model: string | null, group: ModuleGroup | null, split: boolean, layer: number, value: number): Recipe {
  return withCurveChange(recipe, layout, spec, model, group, split, (c) => c.map((v, i) => (i === layer ? value : v)));
}

/** Presets of a whole curve. */
export const PRESETS = {
  flat: (value: number) => (c: number[]) => c.map(() => value),
  ramp: (from: number, to: number) => (c: number[]) => c.map((_, i) => (c.length > 1 ? from + ((to - from) * i) / (c.length - 1) : to)),
  shift: (delta: number) => (c: number[]) => c.map((v) => v + delta),
  scale: (factor: number) => (c: number[]) => c.map((v) => v * factor),
  reverse: () => (c: number[]) => [...c].reverse(),
};

/** A mergekit gradient list ("0, 0.5, 1" or "[0, 0.5, 1]") written as is: the engine interpolates it
 * across the layers, and the chart shows the interpolated values. */
export function parseGradient(text: string): number[] | string {
  const parts = text.replace(/^\s*\[|\]\s*$/g, '').split(/[\s,]+/).filter(Boolean);
  if (parts.length === 0) return 'enter numbers separated by commas, e.g. 0, 0.5, 1';
  const values = parts.map(Number);
  const bad = parts.find((_, i) => !Number.isFinite(values[i]));
  return bad !== undefined ? `'${bad}' is not a number` : values;
}

export function withGradient(recipe: Recipe, model: string | null, name: string, group: ModuleGroup | null, layout: LayerLayout, spec: ParamSpec, split: boolean, values: number[]): Recipe {
  const gradient: ParamScalarOrList = values.length === 1 ? values[0] : values;
  if (!split || group === null) return withParam(recipe, model, name, gradient);
  const curves = currentCurves(recipe, layout, spec, model);
  const conditions: ParamCondition[] = GROUPS.map((g) => {
    const value = g === group ? gradient : curveSetting(curves[g]);
    return GROUP_FILTERS[g] ? { filter: GROUP_FILTERS[g], value } : { value };
  });
  return withParam(recipe, model, name, conditions);
}

/** Model `to` takes model `from`'s curve mirrored across the layers (first layer <-> last layer). */
export function withMirroredCurve(recipe: Recipe, layout: LayerLayout, spec: ParamSpec, from: string, to: string, split: boolean): Recipe {
  const source = currentCurves(recipe, layout, spec, from);
  const mirrored = { attention: [...source.attention].reverse(), mlp: [...source.mlp].reverse(), other: [...source.other].reverse() };
  return withCurves(recipe, to, spec.name, mirrored, split);
}

/** Checks a typed value against its schema; the message says what is wrong, or null. */
export function validateParamInput(spec: ParamSpec, text: string): { value: ParamValue } | { error: string } {
  if (spec.kind === 'boolean') return { value: text === 'true' };
  if (text.trim() === '') return { error: `${spec.name}: enter a number` };
  const v = Number(text);
  if (!Number.isFinite(v)) return { error: `${spec.name}: '${text}' is not a number` };
  if (spec.kind === 'integer' && !Number.isInteger(v)) return { error: `${spec.name}: must be a whole number` };
  if (spec.min !== undefined && v < spec.min) return { error: `${spec.name}: must be at least ${spec.min}` };
  if (spec.max !== undefined && v > spec.max) return { error: `${spec.name}: must be at most ${spec.max}` };
  return { value: v };
}

// ---------------------------------------------------------------- layer stacking

/** A depth-wise recipe: one slice per source range, passthrough with an optional scale. */
export interface StackSlice {
  model: string;
  start: number;
  end: number;
  scale: number;
}

export function stackSlices(recipe: Recipe): StackSlice[] {
  return (recipe.slices ?? []).map((s) => {
    const src = s.sources[0];
    const scale = src?.parameters?.scale;
    return { model: src?.model ?? '', start: src?.layer_range[0] ?? 0, end: src?.layer_range[1] ?? 0, scale: typeof scale === 'number' ? scale : 1 };
  });
}

export function withStack(recipe: Recipe, slices: StackSlice[]): Recipe {
  const next: Recipe = { ...recipe, merge_method: 'passthrough' };
  delete next.models;
  delete next.parameters;
  delete next.base_model;
  next.slices = slices.map((s) => ({ sources: [{ model: s.model, layer_range: [s.start, s.end], ...(s.scale !== 1 ? { parameters: { scale: s.scale } } : {}) }] }));
  return next;
}

/** Moves item `from` to position `to`. */
export function reorder<T>(items: T[], from: number, to: number): T[] {
  const out = [...items];
  const [moved] = out.splice(from, 1);
  out.splice(to, 0, moved);
  return out;
}
