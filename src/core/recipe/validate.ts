// Checks a parsed YAML/JSON value against the recipe shape and the method's parameter schema.
// Every error names its YAML path (e.g. `slices[0].sources[1].layer_range`), what was expected and
// what was found, and suggests the closest valid name for misspellings.
import { MergeStudioError } from '../errors.ts';
import { getMethod } from '../methods/index.ts';
import type { MergeMethod, ParamSpec } from '../methods/types.ts';
import { didYouMean } from './suggest.ts';
import { documentModels, externalModels, stageOrder } from './stages.ts';
import type { ParamCondition, ParamMap, ParamSetting, Recipe, RecipeModel, RecipeSlice, RecipeTokenizer, SliceSource, TokenOverride, TokenSource } from './types.ts';
import { CHAT_TEMPLATES, looksLikeTemplate } from '../tokenizer/chat-templates.ts';

export type YamlPath = (string | number)[];

export function formatPath(path: YamlPath): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  return out || '(top level)';
}

function fail(code: string, path: YamlPath, message: string, extra: Record<string, unknown> = {}): never {
  throw new MergeStudioError(code, `${formatPath(path)}: ${message}`, { path: formatPath(path), pathSegments: path, ...extra });
}

const TOP_KEYS = ['name', 'merge_method', 'base_model', 'models', 'slices', 'parameters', 'dtype', 'out_dtype', 'tokenizer_source', 'tokenizer', 'chat_template', 'random_seed'] as const;
/** mergekit keys this project does not implement yet: refused with a clear message. */
const UNSUPPORTED_TOP_KEYS: Record<string, string> = {
  modules: 'multi-module merges (`modules:`) are not supported yet; use `models:` or `slices:`',
};
const MODEL_KEYS = ['model', 'parameters'] as const;
const SLICE_KEYS = ['sources', 'parameters'] as const;
const SOURCE_KEYS = ['model', 'layer_range', 'parameters'] as const;
const UNSUPPORTED_SLICE_KEYS: Record<string, string> = {
  base_model: 'a per-slice `base_model` is not supported yet; set the top-level base_model',
  residual_weight: '`residual_weight` is not supported yet',
};

/** mergekit dtype names and the safetensors dtype each means. */
export const RECIPE_DTYPES: Record<string, 'F32' | 'F16' | 'BF16'> = {
  float32: 'F32', fp32: 'F32', float: 'F32',
  float16: 'F16', fp16: 'F16', half: 'F16',
  bfloat16: 'BF16', bf16: 'BF16',
};

function typeName(v: unknown): string {
  if (v === null) return 'null';
  // JSON.stringify writes NaN and the infinities as null.
  if (typeof v === 'number' && !Number.isFinite(v)) return `${Number.isNaN(v) ? '.nan' : `${v < 0 ? '-' : ''}.inf`} (not a finite number)`;
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(obj: Record<string, unknown>, path: YamlPath, allowed: readonly string[], unsupported: Record<string, string> = {}): void {
  for (const key of Object.keys(obj)) {
    if (allowed.includes(key)) continue;
    if (Object.hasOwn(unsupported, key)) fail('recipe-unsupported', [...path, key], unsupported[key]);
    fail('recipe-unknown-key', [...path, key], `unknown key '${key}'${didYouMean(key, allowed)} (valid here: ${allowed.join(', ')})`, { key, valid: [...allowed] });
  }
}

function modelRef(v: unknown, path: YamlPath): string {
  if (typeof v !== 'string' || v.trim() === '') fail('recipe-invalid', path, `expected a model reference (a folder or Hub id), found ${typeName(v)}`);
  return v;
}

function isScalar(v: unknown): v is number | boolean {
  return (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean';
}

function settingValue(v: unknown, path: YamlPath): number | boolean | (number | boolean)[] {
  if (isScalar(v)) return v;
  if (Array.isArray(v)) {
    if (v.length === 0) fail('recipe-invalid', path, 'a gradient needs at least one value, found an empty list');
    v.forEach((e, i) => {
      if (!isScalar(e)) fail('recipe-invalid', [...path, i], `gradient entries must be numbers or booleans, found ${typeName(e)}`);
    });
    return v as (number | boolean)[];
  }
  fail('recipe-invalid', path, `expected a number, a boolean or a gradient list, found ${typeName(v)}`);
}

function parseSetting(v: unknown, path: YamlPath): ParamSetting {
  if (Array.isArray(v) && v.length > 0 && v.some(isMapping)) {
    return v.map((cond, i): ParamCondition => {
      const at = [...path, i];
      if (!isMapping(cond)) fail('recipe-invalid', at, `a list of conditions must hold only {filter, value} mappings, found ${typeName(cond)}`);
      checkKeys(cond, at, ['filter', 'value']);
      if (!('value' in cond)) fail('recipe-invalid', at, "a condition needs a 'value'");
      const out: ParamCondition = { value: settingValue(cond.value, [...at, 'value']) };
      if (cond.filter !== undefined && cond.filter !== null) {
        if (typeof cond.filter !== 'string' || cond.filter === '') fail('recipe-invalid', [...at, 'filter'], `a filter is a non-empty substring of tensor names, found ${typeName(cond.filter)}`);
        out.filter = cond.filter;
      }
      return out;
    });
  }
  return settingValue(v, path);
}

function parseParams(v: unknown, path: YamlPath): ParamMap | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isMapping(v)) fail('recipe-invalid', path, `expected a mapping of parameter names to values, found ${typeName(v)}`);
  const out: ParamMap = {};
  for (const [k, value] of Object.entries(v)) {
    // Assigning '__proto__' would replace the object's prototype instead of adding a parameter.
    if (k === '__proto__') fail('recipe-unknown-parameter', [...path, k], "'__proto__' is not a parameter name");
    out[k] = parseSetting(value, [...path, k]);
  }
  return out;
}

function parseModel(v: unknown, path: YamlPath): RecipeModel {
  if (typeof v === 'string') return { model: modelRef(v, path) };
  if (!isMapping(v)) fail('recipe-invalid', path, `expected {model, parameters}, found ${typeName(v)}`);
  checkKeys(v, path, MODEL_KEYS);
  const out: RecipeModel = { model: modelRef(v.model, [...path, 'model']) };
  const parameters = parseParams(v.parameters, [...path, 'parameters']);
  if (parameters) out.parameters = parameters;
  return out;
}

function parseSource(v: unknown, path: YamlPath): SliceSource {
  if (!isMapping(v)) fail('recipe-invalid', path, `expected {model, layer_range, parameters}, found ${typeName(v)}`);
  checkKeys(v, path, SOURCE_KEYS);
  const range = v.layer_range;
  const at = [...path, 'layer_range'];
  if (!Array.isArray(range) || range.length !== 2 || !range.every((x) => Number.isInteger(x) && x >= 0)) {
    fail('recipe-bad-layer-range', at, `expected [start, end] with non-negative integers, found ${JSON.stringify(range) ?? 'nothing'}`);
  }
  const [start, end] = range as [number, number];
  if (end <= start) fail('recipe-bad-layer-range', at, `end ${end} must be greater than start ${start} (the range is [start, end), end exclusive)`);
  const out: SliceSource = { model: modelRef(v.model, [...path, 'model']), layer_range: [start, end] };
  const parameters = parseParams(v.parameters, [...path, 'parameters']);
  if (parameters) out.parameters = parameters;
  return out;
}

function parseSlice(v: unknown, path: YamlPath): RecipeSlice {
  if (!isMapping(v)) fail('recipe-invalid', path, `expected {sources, parameters}, found ${typeName(v)}`);
  checkKeys(v, path, SLICE_KEYS, UNSUPPORTED_SLICE_KEYS);
  if (!Array.isArray(v.sources) || v.sources.length === 0) fail('recipe-invalid', [...path, 'sources'], `expected a non-empty list of sources, found ${typeName(v.sources)}`);
  const sources = v.sources.map((s, i) => parseSource(s, [...path, 'sources', i]));
  const lengths = sources.map((s) => s.layer_range[1] - s.layer_range[0]);
  const odd = lengths.findIndex((n) => n !== lengths[0]);
  if (odd > 0) {
    fail('recipe-bad-layer-range', [...path, 'sources', odd, 'layer_range'], `all sources of a slice must span the same number of layers: sources[0] spans ${lengths[0]}, sources[${odd}] spans ${lengths[odd]}`);
  }
  const out: RecipeSlice = { sources };
  const parameters = parseParams(v.parameters, [...path, 'parameters']);
  if (parameters) out.parameters = parameters;
  return out;
}

/** Structural check of a recipe-shaped value (types, keys, layer ranges); no method knowledge. */
export function parseRecipeObject(raw: unknown): Recipe {
  if (!isMapping(raw)) fail('recipe-invalid', [], `a recipe is a mapping with at least merge_method and models or slices, found ${typeName(raw)}`);
  checkKeys(raw, [], TOP_KEYS, UNSUPPORTED_TOP_KEYS);
  if (typeof raw.merge_method !== 'string' || raw.merge_method === '') fail('recipe-invalid', ['merge_method'], `expected a method name, found ${raw.merge_method === undefined ? 'nothing' : typeName(raw.merge_method)}`);
  const recipe: Recipe = { merge_method: raw.merge_method };
  if (raw.name !== undefined && raw.name !== null) {
    if (typeof raw.name !== 'string') fail('recipe-invalid', ['name'], `expected a string, found ${typeName(raw.name)}`);
    recipe.name = raw.name;
  }
  if (raw.base_model !== undefined && raw.base_model !== null) recipe.base_model = modelRef(raw.base_model, ['base_model']);
  const hasModels = raw.models !== undefined && raw.models !== null;
  const hasSlices = raw.slices !== undefined && raw.slices !== null;
  if (hasModels === hasSlices) fail('recipe-invalid', [], hasModels ? "give either 'models' or 'slices', not both" : "give the inputs as 'models' (whole models) or 'slices' (layer ranges)");
  if (hasModels) {
    if (!Array.isArray(raw.models) || raw.models.length === 0) fail('recipe-invalid', ['models'], `expected a non-empty list of models, found ${typeName(raw.models)}`);
    recipe.models = raw.models.map((m, i) => parseModel(m, ['models', i]));
  } else {
    if (!Array.isArray(raw.slices) || raw.slices.length === 0) fail('recipe-invalid', ['slices'], `expected a non-empty list of slices, found ${typeName(raw.slices)}`);
    recipe.slices = raw.slices.map((s, i) => parseSlice(s, ['slices', i]));
  }
  const parameters = parseParams(raw.parameters, ['parameters']);
  if (parameters) recipe.parameters = parameters;
  for (const key of ['dtype', 'out_dtype'] as const) {
    const v = raw[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string' || !Object.hasOwn(RECIPE_DTYPES, v)) {
      fail('recipe-bad-dtype', [key], `unknown dtype ${typeName(v)}${typeof v === 'string' ? didYouMean(v, Object.keys(RECIPE_DTYPES)) : ''} (valid: float32, float16, bfloat16)`);
    }
    recipe[key] = v;
  }
  if (raw.tokenizer_source !== undefined && raw.tokenizer_source !== null) {
    recipe.tokenizer_source = modelRef(raw.tokenizer_source, ['tokenizer_source']);
  }
  if (raw.tokenizer !== undefined && raw.tokenizer !== null) {
    // mergekit/config.py: "Cannot specify both tokenizer_source and tokenizer".
    if (recipe.tokenizer_source !== undefined) fail('recipe-invalid', ['tokenizer'], "give either 'tokenizer_source' or a 'tokenizer:' block (whose 'source' says the same), not both");
    recipe.tokenizer = parseTokenizer(raw.tokenizer, ['tokenizer']);
  }
  if (raw.chat_template !== undefined && raw.chat_template !== null) recipe.chat_template = parseChatTemplate(raw.chat_template, ['chat_template']);
  if (raw.random_seed !== undefined && raw.random_seed !== null) {
    const s = raw.random_seed;
    if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) fail('recipe-invalid', ['random_seed'], `expected a non-negative integer, found ${typeName(s)}`);
    recipe.random_seed = s;
  }
  return recipe;
}

const TOKENIZER_KEYS = ['source', 'tokens', 'pad_to_multiple_of'] as const;
const TOKEN_KEYS = ['source', 'force'] as const;
const TOKEN_SOURCE_KINDS = ['zero', 'model_token'];

function parseTokenSource(v: unknown, path: YamlPath): TokenSource {
  if (typeof v === 'string') return modelRef(v, path);
  if (!isMapping(v)) fail('recipe-invalid', path, `expected a model, {kind: zero} or {kind: model_token, model, token}, found ${typeName(v)}`);
  const kind = v.kind;
  if (typeof kind !== 'string' || !TOKEN_SOURCE_KINDS.includes(kind)) {
    fail('recipe-invalid', [...path, 'kind'], `expected 'zero' or 'model_token', found ${kind === undefined ? 'nothing' : typeName(kind)}${typeof kind === 'string' ? didYouMean(kind, TOKEN_SOURCE_KINDS) : ''}`);
  }
  if (kind === 'zero') {
    checkKeys(v, path, ['kind']);
    return { kind: 'zero' };
  }
  checkKeys(v, path, ['kind', 'model', 'token', 'token_id']);
  const out: TokenSource = { kind: 'model_token', model: modelRef(v.model, [...path, 'model']) };
  const hasToken = v.token !== undefined && v.token !== null;
  const hasId = v.token_id !== undefined && v.token_id !== null;
  // mergekit/tokenizer/config.py ModelTokenEmbedding: exactly one of token and token_id.
  if (hasToken === hasId) fail('recipe-invalid', path, hasToken ? "give 'token' or 'token_id', not both" : "a model_token source needs 'token' (the token's text) or 'token_id'");
  if (hasToken) {
    if (typeof v.token !== 'string' || v.token === '') fail('recipe-invalid', [...path, 'token'], `expected the token's text, found ${typeName(v.token)}`);
    out.token = v.token;
  } else {
    if (typeof v.token_id !== 'number' || !Number.isSafeInteger(v.token_id) || v.token_id < 0) fail('recipe-invalid', [...path, 'token_id'], `expected a non-negative integer, found ${typeName(v.token_id)}`);
    out.token_id = v.token_id;
  }
  return out;
}

function parseTokenizer(v: unknown, path: YamlPath): RecipeTokenizer {
  if (!isMapping(v)) fail('recipe-invalid', path, `expected {source, tokens, pad_to_multiple_of}, found ${typeName(v)}`);
  checkKeys(v, path, TOKENIZER_KEYS);
  const out: RecipeTokenizer = {};
  if (v.source !== undefined && v.source !== null) out.source = modelRef(v.source, [...path, 'source']);
  if (v.pad_to_multiple_of !== undefined && v.pad_to_multiple_of !== null) {
    const m = v.pad_to_multiple_of;
    if (typeof m !== 'number' || !Number.isSafeInteger(m) || m < 1) fail('recipe-invalid', [...path, 'pad_to_multiple_of'], `expected a positive integer, found ${typeName(m)}`);
    out.pad_to_multiple_of = m;
  }
  if (v.tokens !== undefined && v.tokens !== null) {
    if (!isMapping(v.tokens)) fail('recipe-invalid', [...path, 'tokens'], `expected a mapping of token text to {source, force}, found ${typeName(v.tokens)}`);
    const tokens: Record<string, TokenOverride> = {};
    for (const [token, cfg] of Object.entries(v.tokens)) {
      const at = [...path, 'tokens', token];
      if (cfg !== null && !isMapping(cfg)) fail('recipe-invalid', at, `expected {source, force}, found ${typeName(cfg)}`);
      const entry: TokenOverride = {};
      if (cfg) {
        checkKeys(cfg, at, TOKEN_KEYS);
        if (cfg.source !== undefined && cfg.source !== null) entry.source = parseTokenSource(cfg.source, [...at, 'source']);
        if (cfg.force !== undefined && cfg.force !== null) {
          if (typeof cfg.force !== 'boolean') fail('recipe-invalid', [...at, 'force'], `expected true or false, found ${typeName(cfg.force)}`);
          entry.force = cfg.force;
        }
      }
      // mergekit/tokenizer/embed.py builds a row for every listed token; without a source it cannot.
      if (entry.source === undefined) fail('recipe-invalid', [...at, 'source'], `token '${token}' needs a source: a model, {kind: zero} or {kind: model_token, model, token}`);
      tokens[token] = entry;
    }
    out.tokens = tokens;
  }
  return out;
}

function parseChatTemplate(v: unknown, path: YamlPath): string {
  if (typeof v !== 'string' || v === '') fail('recipe-invalid', path, `expected a built-in template name, 'auto' or a Jinja template string, found ${typeName(v)}`);
  if (v === 'auto' || v in CHAT_TEMPLATES || looksLikeTemplate(v)) return v;
  const names = ['auto', ...Object.keys(CHAT_TEMPLATES)];
  fail('recipe-bad-chat-template', path, `unknown chat template '${v}'${didYouMean(v, names)} (built-in: ${names.join(', ')}; or a Jinja template string)`, { valid: names });
}

/** The recipe's vocabulary settings as mergekit reads them (mergekit/plan.py: the `tokenizer:`
 * block's source, default 'union', else tokenizer_source), or null when it gives neither. */
export function recipeTokenizer(recipe: Recipe): { source: string; tokens: Record<string, TokenOverride>; padToMultipleOf?: number } | null {
  if (recipe.tokenizer) return { source: recipe.tokenizer.source ?? 'union', tokens: recipe.tokenizer.tokens ?? {}, ...(recipe.tokenizer.pad_to_multiple_of ? { padToMultipleOf: recipe.tokenizer.pad_to_multiple_of } : {}) };
  if (recipe.tokenizer_source !== undefined) return { source: recipe.tokenizer_source, tokens: {} };
  return null;
}

/** Every model a recipe reads from outside (base first when given), without repeats; for a
 * multi-document recipe, over all its documents, stage names excluded. */
export function referencedModels(recipe: Recipe): string[] {
  return externalModels(recipe);
}

function checkParamValue(spec: ParamSpec, method: string, setting: ParamSetting, path: YamlPath): void {
  const check = (value: unknown, at: YamlPath, inGradient: boolean) => {
    if (spec.kind === 'boolean') {
      if (typeof value !== 'boolean') fail('recipe-bad-parameter', at, `${method} parameter '${spec.name}' is true or false, found ${typeName(value)}`, { parameter: spec.name });
      return;
    }
    if (typeof value !== 'number') fail('recipe-bad-parameter', at, `${method} parameter '${spec.name}' is a number, found ${typeName(value)}`, { parameter: spec.name });
    if (spec.kind === 'integer' && (inGradient || !Number.isInteger(value))) {
      fail('recipe-bad-parameter', at, `${method} parameter '${spec.name}' is one integer${inGradient ? ' (not a gradient)' : ''}, found ${value}`, { parameter: spec.name });
    }
    if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) {
      fail('recipe-bad-parameter', at, `${method} parameter '${spec.name}' must lie in [${spec.min ?? '-inf'}, ${spec.max ?? 'inf'}], found ${value}`, { parameter: spec.name });
    }
  };
  const checkValue = (value: ParamCondition['value'], at: YamlPath) => {
    if (Array.isArray(value)) value.forEach((v, i) => check(v, [...at, i], true));
    else check(value, at, false);
  };
  if (Array.isArray(setting) && setting.some((e) => typeof e === 'object')) {
    (setting as ParamCondition[]).forEach((c, i) => checkValue(c.value, [...path, i, 'value']));
  } else checkValue(setting as ParamCondition['value'], path);
}

function checkParamMap(map: ParamMap | undefined, path: YamlPath, method: MergeMethod, perModel: boolean): void {
  if (!map) return;
  const names = method.params.map((p) => p.name);
  for (const [name, setting] of Object.entries(map)) {
    const spec = method.params.find((p) => p.name === name);
    if (!spec) {
      const valid = names.length ? names.join(', ') : 'none';
      fail('recipe-unknown-parameter', [...path, name], `${method.name} has no parameter '${name}'${didYouMean(name, names)} (valid: ${valid})`, { parameter: name, valid: names });
    }
    if (perModel && spec.scope === 'global') {
      fail('recipe-bad-parameter', [...path, name], `'${name}' is a global parameter of ${method.name} (one value per merge); set it in the top-level or slice parameters, not per model`, { parameter: name });
    }
    checkParamValue(spec, method.name, setting, [...path, name]);
  }
}

/** Checks a structurally valid recipe against its method: known method, known parameters at the
 * right level with the right types, a base model when the method needs one, required parameters. */
export function checkRecipeAgainstMethod(recipe: Recipe, lookup: (name: string) => MergeMethod = getMethod): MergeMethod {
  if (recipe.stages && recipe.stages.length > 0) {
    const names = new Set<string>();
    for (const stage of recipe.stages) {
      if (stage.stages?.length) throw new MergeStudioError('recipe-stages', `stage '${stage.name}' has stages of its own; list every stage at the top level`, { stage: stage.name });
      if (!stage.name) throw new MergeStudioError('recipe-stages', "a stage has no name; every document but the final merge needs a 'name' that later documents use as a model", {});
      if (names.has(stage.name)) throw new MergeStudioError('recipe-stages', `two stages are named '${stage.name}'; stage names must be unique`, { name: stage.name });
      names.add(stage.name);
      try {
        checkRecipeAgainstMethod(stage, lookup);
      } catch (err) {
        if (err instanceof MergeStudioError) throw new MergeStudioError(err.code, `stage '${stage.name}': ${err.message}`, { ...err.details, stage: stage.name });
        throw err;
      }
    }
    stageOrder(recipe);
    const { stages: _stages, ...final } = recipe;
    return checkRecipeAgainstMethod(final, lookup);
  }
  let method: MergeMethod;
  try {
    method = lookup(recipe.merge_method);
  } catch (err) {
    if (err instanceof MergeStudioError) fail(err.code, ['merge_method'], err.message, err.details);
    throw err;
  }
  checkParamMap(recipe.parameters, ['parameters'], method, false);
  recipe.models?.forEach((m, i) => checkParamMap(m.parameters, ['models', i, 'parameters'], method, true));
  recipe.slices?.forEach((s, i) => {
    checkParamMap(s.parameters, ['slices', i, 'parameters'], method, false);
    s.sources.forEach((src, j) => checkParamMap(src.parameters, ['slices', i, 'sources', j, 'parameters'], method, true));
  });
  if (method.base === 'required' && recipe.base_model === undefined) {
    fail('recipe-missing-base', ['base_model'], `${method.name} needs a base_model (the model the others are merged onto); none is given`);
  }
  if (recipe.slices && recipe.base_model !== undefined && method.base !== 'none') {
    recipe.slices.forEach((s, i) => {
      if (!s.sources.some((src) => src.model === recipe.base_model)) {
        fail('recipe-missing-base', ['slices', i, 'sources'], `base_model '${recipe.base_model}' must be one of the slice's sources (found ${s.sources.map((src) => `'${src.model}'`).join(', ')})`);
      }
    });
  }
  // Required per-model parameters must be set somewhere for every non-base input.
  for (const spec of method.params.filter((p) => p.required && p.default === undefined)) {
    const atTop = recipe.parameters?.[spec.name] !== undefined;
    if (spec.scope === 'global') {
      const everySlice = recipe.slices ? recipe.slices.every((s) => s.parameters?.[spec.name] !== undefined) : false;
      if (!atTop && !everySlice) fail('recipe-missing-parameter', ['parameters'], `${method.name} needs the parameter '${spec.name}' (${spec.description})`, { parameter: spec.name });
      continue;
    }
    const needsIt = (model: string) => method.base === 'none' || model !== recipe.base_model;
    recipe.models?.forEach((m, i) => {
      if (!atTop && needsIt(m.model) && m.parameters?.[spec.name] === undefined) {
        fail('recipe-missing-parameter', ['models', i, 'parameters'], `${method.name} needs the parameter '${spec.name}' for model '${m.model}' (${spec.description})`, { parameter: spec.name });
      }
    });
    recipe.slices?.forEach((s, i) => s.sources.forEach((src, j) => {
      if (!atTop && s.parameters?.[spec.name] === undefined && needsIt(src.model) && src.parameters?.[spec.name] === undefined) {
        fail('recipe-missing-parameter', ['slices', i, 'sources', j, 'parameters'], `${method.name} needs the parameter '${spec.name}' for model '${src.model}' (${spec.description})`, { parameter: spec.name });
      }
    }));
    if (recipe.models && method.base === 'none' && recipe.base_model !== undefined && !atTop && !recipe.models.some((m) => m.model === recipe.base_model)) {
      fail('recipe-missing-parameter', ['base_model'], `${method.name} merges the base_model like any other model, so it needs '${spec.name}': list it under models with parameters or set '${spec.name}' at the top level`, { parameter: spec.name });
    }
  }
  checkTokenizerModels(recipe);
  return method;
}

/** Every model a tokenizer setting names must be one of the document's models. */
function checkTokenizerModels(recipe: Recipe): void {
  const models = documentModels(recipe);
  const sourcePath: YamlPath = recipe.tokenizer ? ['tokenizer', 'source'] : ['tokenizer_source'];
  const ts = recipe.tokenizer ? recipe.tokenizer.source : recipe.tokenizer_source;
  if (ts !== undefined && ts !== 'base' && ts !== 'union' && !models.includes(ts)) {
    fail('recipe-invalid', sourcePath, `'${ts}' is neither 'union', 'base' nor one of the recipe's models${didYouMean(ts, ['union', 'base', ...models])}`);
  }
  // mergekit/tokenizer/build.py: with no base_model, the first model stands in for the base.
  for (const [token, cfg] of Object.entries(recipe.tokenizer?.tokens ?? {})) {
    const src = cfg.source;
    const model = typeof src === 'string' ? src : src?.kind === 'model_token' ? src.model : undefined;
    const at: YamlPath = ['tokenizer', 'tokens', token, 'source', ...(typeof src === 'string' ? [] : ['model'])];
    if (model !== undefined && !models.includes(model)) fail('recipe-invalid', at, `token '${token}': '${model}' is not one of the recipe's models${didYouMean(model, models)}`);
  }
}
