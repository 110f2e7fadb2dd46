// Planning: from a recipe and the opened models (headers only) to the list of output tensors, each
// with its inputs, method and resolved parameters. Every incompatibility (missing tensors, shape
// mismatches, layer ranges past a model's end) is collected and reported together here, before
// any tensor byte is read.
import { canDecodeToF32, dtypeBits, isFloatDType, type DType } from '../dtype.ts';
import { MergeStudioError } from '../errors.ts';
import { getMethod } from '../methods/index.ts';
import type { MergeMethod, ParamValue } from '../methods/types.ts';
import { withLayerIndex, weightTemplate, expectedLayerTensors, type TensorRole } from '../model/architecture.ts';
import type { ModelConfig, ModelHandle } from '../model/handle.ts';
import { checkRecipeAgainstMethod, RECIPE_DTYPES, recipeTokenizer, referencedModels } from '../recipe/validate.ts';
import { CHAT_TEMPLATES } from '../tokenizer/chat-templates.ts';
import { PermutedRows } from '../tokenizer/rows.ts';
import { buildMergedVocabulary, tokenRules, vocabulariesDiffer, vocabularyOf, whyNoVocabulary, type MergedVocabulary, type ModelVocabulary } from '../tokenizer/vocab.ts';
import { documentModels, stageHint, stageNames, stageOrder } from '../recipe/stages.ts';
import { recipeSlices, resolveParams, type TensorSite } from '../recipe/params.ts';
import type { Recipe } from '../recipe/types.ts';
import type { TensorInfo } from '../safetensors/index.ts';
import { cpuBackend, type MergeBackend } from './backend.ts';
import { stageModel } from './stages.ts';

/** One input tensor of a step. */
export interface PlanInput {
  /** Model reference as written in the recipe. */
  model: string;
  /** Position among the step's inputs in recipe order (the key of deterministic random masks). */
  index: number;
  tensor: string;
  info: TensorInfo;
  /** Take only the leading [rows, cols] block (embeddings of different vocabulary sizes). */
  crop?: [number, number];
  /** Embedding / lm_head rows read in the merged vocabulary's order (tokenizer_source). */
  permuted?: PermutedRows;
}

export interface PlanStep {
  output: string;
  shape: number[];
  /** Output dtype of this tensor. */
  dtype: DType;
  role: TensorRole;
  method: string;
  /** The non-base inputs, in recipe order; parallel to `modelParams`. */
  models: PlanInput[];
  base?: PlanInput;
  modelParams: Record<string, ParamValue>[];
  global: Record<string, ParamValue>;
  /** Gradient position the parameters were resolved at. */
  t: number;
  /** Bytes read for this step. */
  inputBytes: number;
}

export interface Plan {
  recipe: Recipe;
  method: MergeMethod;
  steps: PlanStep[];
  /** Layer count of the merged model. */
  numLayers: number;
  /** config.json of the merged model. */
  config: ModelConfig;
  /** Model whose tokenizer files are copied into an export (the start of a merged one). */
  tokenizerModel: ModelHandle;
  /** The merged vocabulary when the recipe sets tokenizer_source / tokenizer (or the models'
   * vocabularies differ, which merges them as 'union'): embed_tokens and lm_head follow it. */
  vocabulary?: PlanVocabulary;
  /** The chat template the export writes into tokenizer_config.json (recipe `chat_template`). */
  chatTemplate?: string;
  seed: number;
  /** Things the user should know that do not stop the merge. */
  notices: string[];
  totalInputBytes: number;
  /** Plans of the stages a multi-document recipe merges on the way (in merge order); their
   * tensors are computed when the final merge reads them, never written. */
  stages?: StagePlan[];
}

export interface PlanVocabulary {
  merged: MergedVocabulary;
  /** True when the recipe said nothing and the differing vocabularies were merged as 'union';
   * the exported mergekit_config.yml then says `tokenizer_source: union`. */
  implicit: boolean;
}

export interface StagePlan {
  name: string;
  plan: Plan;
}

export interface PlanOptions {
  /** Output dtype, overriding the recipe's out_dtype/dtype. */
  outDtype?: DType;
  /** Seed overriding the recipe's random_seed (of every document of a multi-stage recipe). */
  seed?: number;
  /** Where the tensors of a multi-stage recipe's stages are merged (default: the CPU). */
  stageBackend?: MergeBackend;
}

const TORCH_DTYPE: Partial<Record<DType, string>> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function shapeText(s: number[]): string {
  return `[${s.join(', ')}]`;
}

/** Plans a merge. `handles` maps each model reference of the recipe to its opened model. A
 * multi-stage recipe is planned stage by stage: each stage becomes a model the later documents
 * read, whose tensors are merged on demand. */
export function plan(recipe: Recipe, handles: ReadonlyMap<string, ModelHandle>, options: PlanOptions = {}): Plan {
  if (!recipe.stages || recipe.stages.length === 0) return planDocument(recipe, handles, options, recipe);
  checkRecipeAgainstMethod(recipe);
  const missing = referencedModels(recipe).filter((m) => !handles.has(m));
  if (missing.length > 0) throw missingModels(missing, recipe);
  const known = new Map(handles);
  const stages: StagePlan[] = [];
  for (const stage of stageOrder(recipe)) {
    const name = stage.name!;
    let stagePlan: Plan;
    try {
      stagePlan = planDocument(stage, known, options, recipe);
    } catch (err) {
      if (err instanceof MergeStudioError) throw new MergeStudioError(err.code, `stage '${name}': ${err.message}`, { ...err.details, stage: name });
      throw err;
    }
    known.set(name, stageModel(name, stagePlan, known.get(stage.base_model ?? documentModels(stage)[0])!, options.stageBackend ?? cpuBackend));
    stages.push({ name, plan: stagePlan });
  }
  const { stages: _stages, ...finalDocument } = recipe;
  const final = planDocument(finalDocument, known, options, recipe);
  // A stage tensor costs the reads of its own merge, not its size: count what comes off the disk.
  const stageSteps = new Map<string, Map<string, PlanStep>>();
  for (const { name, plan: p } of [...stages, { name: '', plan: final }]) {
    for (const step of p.steps) {
      for (const input of [...step.models, ...(step.base ? [step.base] : [])]) {
        const read = stageSteps.get(input.model)?.get(input.tensor);
        if (read && !input.crop) step.inputBytes += read.inputBytes - input.info.bytes;
      }
    }
    p.totalInputBytes = p.steps.reduce((sum, step) => sum + step.inputBytes, 0);
    stageSteps.set(name, new Map(p.steps.map((step) => [step.output, step])));
  }
  const unused = stageNames(recipe).filter((n) => !stages.some((s) => s.name === n));
  return {
    ...final,
    recipe,
    stages,
    notices: [...new Set([...stages.flatMap((s) => s.plan.notices.map((n) => `stage '${s.name}': ${n}`)), ...final.notices])].concat(
      unused.map((n) => `stage '${n}' is not used by the final merge, so it is not merged`),
    ),
  };
}

function missingModels(absent: string[], recipe: Recipe): MergeStudioError {
  return new MergeStudioError('plan-missing-model', `no opened model for ${absent.map((m) => `'${m}'${stageHint(recipe, m)}`).join(', ')}`, { models: absent });
}

/** Stages in a weighted sum are not merged where their weight is exactly 0 (the sum and the sum
 * of weights are unchanged), so a {0, 1} selector over stages merges only the selected stage. */
const SKIPS_ZERO_WEIGHT_INPUTS = new Set(['linear']);

/** Plans one document; `whole` is the recipe it belongs to (for hints about stage names). */
function planDocument(recipe: Recipe, handles: ReadonlyMap<string, ModelHandle>, options: PlanOptions, whole: Recipe): Plan {
  const method = getMethod(recipe.merge_method);
  checkRecipeAgainstMethod(recipe);
  const stages = new Set(stageNames(whole));
  const models = documentModels(recipe);
  const absent = models.filter((m) => !handles.has(m));
  if (absent.length > 0) throw missingModels(absent, whole);
  const handle = (m: string) => handles.get(m)!;
  const problems: string[] = [];
  const notices: string[] = [...new Set(models.flatMap((m) => handle(m).notices))];

  const configModel = handle(recipe.base_model ?? models[0]);
  let numLayersIn = configModel.numLayers;
  // Models of different families (llama and qwen2) have tensors that do not correspond: that is the
  // cause to name, before any layer-count advice ('slices' cannot pair them). mergekit refuses them too.
  const families = new Map<string, string[]>();
  for (const m of models) families.set(handle(m).architecture.name, [...(families.get(handle(m).architecture.name) ?? []), m]);
  if (families.size > 1) {
    const [first] = families.keys();
    // Alone: what else goes wrong between them (layer ranges, shapes) follows from it.
    throw report([`models of different architectures (${[...families].map(([a, ms]) => `${a}: ${ms.map((m) => `'${m}'`).join(', ')}`).join('; ')}): `
      + `their tensors do not correspond, so they cannot be merged; keep models of one architecture (e.g. remove the ${[...families.keys()].filter((a) => a !== first).join(', ')} models)`]);
  }
  if (recipe.models) {
    const counts = recipe.models.map((m) => [m.model, handle(m.model).numLayers] as const);
    if (recipe.base_model !== undefined) counts.push([recipe.base_model, configModel.numLayers]);
    const odd = counts.filter(([, n]) => n !== counts[0][1]);
    if (odd.length > 0) {
      problems.push(`models have different layer counts (${counts.map(([m, n]) => `'${m}': ${n}`).join(', ')}); merge them layer range by layer range with 'slices'`);
    }
    numLayersIn = counts[0][1];
  }
  const slices = recipeSlices(recipe, numLayersIn);
  slices.forEach((s, i) => s.sources.forEach((src, j) => {
    const have = handle(src.model).numLayers;
    if (src.start + s.length > have) {
      problems.push(`slices[${i}].sources[${j}]: layer_range [${src.start}, ${src.start + s.length}] goes past the end of '${src.model}', which has ${have} layers`);
    }
  }));
  if (problems.length > 0) throw report(problems);

  const vocabulary = planVocabulary(recipe, models, handle, notices);
  const chatTemplate = recipe.chat_template === undefined ? undefined : resolveChatTemplate(recipe.chat_template, models.map(handle));

  const outDtypeName = recipe.out_dtype ?? recipe.dtype;
  const forcedDtype: DType | undefined = options.outDtype ?? (outDtypeName ? RECIPE_DTYPES[outDtypeName] : undefined);
  const baseIsInput = method.base !== 'none';
  const steps: PlanStep[] = [];
  const missing: string[] = [];
  const mismatched: string[] = [];
  const cropped: string[] = [];
  const unsupported: string[] = [];
  const unset: string[] = [];
  const countProblems: string[] = [];
  const countsChecked = new Set<string>();
  let outputLayer = 0;

  const planTensor = (output: string, role: TensorRole, site: TensorSite, sliceIndex: number, inputNames: string[]) => {
    const slice = slices[sliceIndex];
    const infos: (TensorInfo | undefined)[] = slice.sources.map((src, i) => handle(src.model).tensors.get(inputNames[i]));
    const lacking = slice.sources.flatMap((src, i) => (infos[i] ? [] : [`'${src.model}'${inputNames[i] !== output ? ` (as ${inputNames[i]})` : ''}`]));
    if (lacking.length > 0) {
      missing.push(`${output}: missing in ${lacking.join(', ')}`);
      return;
    }
    const present = infos as TensorInfo[];
    const undecodable = present.flatMap((t, i) => (isFloatDType(t.dtype) && canDecodeToF32(t.dtype) ? [] : [`'${slice.sources[i].model}' ${t.dtype}`]));
    if (undecodable.length > 0) {
      unsupported.push(`${output}: ${undecodable.join(', ')} (merging needs float tensors: F32, F16, BF16, F64 or F8)`);
      return;
    }
    let shape = present[0].shape;
    let crop: [number, number] | undefined;
    let permuted: PermutedRows | undefined;
    if (vocabulary && role.embedLike && present.every((t) => t.shape.length === 2)) {
      if (!present.every((t) => t.shape[1] === shape[1])) {
        mismatched.push(`${output}: ${slice.sources.map((src, i) => `'${src.model}' ${shapeText(present[i].shape)}`).join(', ')} (the embedding width differs)`);
        return;
      }
      permuted = new PermutedRows(vocabulary.merged, new Map(slice.sources.map((src, i) => [src.model, present[i]])), recipe.base_model);
      shape = [vocabulary.merged.size, shape[1]];
    } else if (!present.every((t) => sameShape(t.shape, shape))) {
      if (role.embedLike && present.every((t) => t.shape.length === 2)) {
        crop = [Math.min(...present.map((t) => t.shape[0])), Math.min(...present.map((t) => t.shape[1]))];
        shape = crop;
        cropped.push(`${output}: inputs ${present.map((t) => shapeText(t.shape)).join(' / ')} cut to the common ${shapeText(crop)}`);
      } else {
        mismatched.push(`${output}: ${slice.sources.map((src, i) => `'${src.model}' ${shapeText(present[i].shape)}`).join(', ')}`);
        return;
      }
    }
    const resolved = resolveParams(recipe, output, site, numLayersIn, method.params, { inputTensorNames: inputNames });
    const inputs = resolved.inputs.map((r, i): PlanInput & { isBase: boolean; params: Record<string, ParamValue> } => ({
      model: r.model,
      index: r.index,
      tensor: inputNames[i],
      info: present[i],
      ...(crop && !sameShape(present[i].shape, crop) ? { crop } : {}),
      ...(permuted ? { permuted } : {}),
      isBase: r.isBase,
      params: r.params,
    }));
    const baseInput = baseIsInput ? inputs.find((i) => i.isBase) : undefined;
    let others = inputs.filter((i) => i !== baseInput);
    if (SKIPS_ZERO_WEIGHT_INPUTS.has(method.name) && others.some((i) => i.params.weight !== 0)) others = others.filter((i) => i.params.weight !== 0 || !stages.has(i.model));
    const countKey = `${others.length}:${baseInput ? 1 : 0}`;
    if (!countsChecked.has(countKey)) {
      countsChecked.add(countKey);
      const problem = inputCountProblem(method, others.length, baseInput !== undefined);
      if (problem) countProblems.push(`${output} (slice ${sliceIndex}): ${problem}`);
    }
    // A required parameter set only under filters that miss this tensor is caught here, not mid-export.
    for (const spec of method.params.filter((p) => p.required)) {
      if (spec.scope === 'global' && resolved.global[spec.name] === undefined) unset.push(`${output}: '${spec.name}'`);
      if (spec.scope === 'model') for (const i of others) if (i.params[spec.name] === undefined) unset.push(`${output}: '${spec.name}' of '${i.model}'`);
    }
    const strip = ({ model, index, tensor, info, crop: c, permuted: p }: PlanInput): PlanInput => ({ model, index, tensor, info, ...(c ? { crop: c } : {}), ...(p ? { permuted: p } : {}) });
    const sourceDtype = (baseInput ?? inputs[0]).info.dtype;
    const dtype = forcedDtype ?? (isFloatDType(sourceDtype) && TORCH_DTYPE[sourceDtype] ? sourceDtype : 'F32');
    const elements = shape.reduce((a, b) => a * b, 1);
    steps.push({
      output,
      shape: [...shape],
      dtype,
      role: { ...role, layer: site.layer },
      method: method.name,
      models: others.map(strip),
      ...(baseInput ? { base: strip(baseInput) } : {}),
      modelParams: others.map((i) => i.params),
      global: resolved.global,
      t: resolved.t,
      inputBytes: [...others, ...(baseInput ? [baseInput] : [])].reduce((s, i) => s + (i.crop || i.permuted ? (elements * dtypeBits(i.info.dtype)) / 8 : i.info.bytes), 0),
    });
  };

  // The model whose tensor list defines a slice's outputs: the base when it is a source, else the first.
  const referenceOf = (sliceIndex: number) => {
    const s = slices[sliceIndex];
    return s.sources.find((src) => src.model === recipe.base_model) ?? s.sources[0];
  };

  const planOutside = (position: 'pre' | 'post') => {
    const sliceIndex = position === 'pre' ? 0 : slices.length - 1;
    const slice = slices[sliceIndex];
    const ref = handle(referenceOf(sliceIndex).model);
    const names = [...ref.tensors.keys()].filter((n) => ref.roleOf(n).position === position);
    // An lm_head that only some inputs have is still merged; tied models give their embeddings.
    for (const template of ref.architecture.postWeights) {
      if (position === 'post' && template.tiedTo && !names.includes(template.name) && slice.sources.some((s) => handle(s.model).tensors.has(template.name))) {
        names.push(template.name);
      }
    }
    for (const name of names) {
      const template = weightTemplate(ref.architecture, name);
      const inputNames = slice.sources.map((s) => {
        const h = handle(s.model);
        return !h.tensors.has(name) && template?.tiedTo && h.tensors.has(template.tiedTo) ? template.tiedTo : name;
      });
      planTensor(name, ref.roleOf(name), { layer: null, position }, sliceIndex, inputNames);
    }
  };

  planOutside('pre');
  slices.forEach((slice, sliceIndex) => {
    const refSource = referenceOf(sliceIndex);
    const ref = handle(refSource.model);
    const byLayer = new Map<number, string[]>();
    for (const name of ref.tensors.keys()) {
      const l = ref.roleOf(name).layer;
      if (l !== null) byLayer.set(l, [...(byLayer.get(l) ?? []), name]);
    }
    for (let offset = 0; offset < slice.length; offset++) {
      const refLayer = refSource.start + offset;
      const names = byLayer.get(refLayer) ?? [];
      for (const expected of expectedLayerTensors(ref.architecture, refLayer)) {
        if (!names.includes(expected)) missing.push(`${expected}: expected in every ${ref.architecture.name} layer, missing in '${refSource.model}'`);
      }
      for (const name of names) {
        const output = withLayerIndex(name, outputLayer);
        const inputNames = slice.sources.map((src) => withLayerIndex(name, src.start + offset));
        planTensor(output, ref.roleOf(name), { layer: outputLayer }, sliceIndex, inputNames);
      }
      outputLayer++;
    }
  });
  planOutside('post');

  if (missing.length > 0 || mismatched.length > 0 || unsupported.length > 0 || unset.length > 0 || countProblems.length > 0) {
    const lines = [
      ...countProblems,
      ...(missing.length ? [`${missing.length} tensor(s) missing:`, ...missing.map((m) => `  ${m}`)] : []),
      ...(mismatched.length ? [`${mismatched.length} tensor(s) with different shapes:`, ...mismatched.map((m) => `  ${m}`)] : []),
      ...(unsupported.length ? [`${unsupported.length} tensor(s) of a type that cannot be merged:`, ...unsupported.map((m) => `  ${m}`)] : []),
      ...(unset.length ? [`${unset.length} required parameter value(s) not set for some tensors (no filter matches and no default):`, ...unset.map((m) => `  ${m}`)] : []),
    ];
    throw report(lines, { missing, mismatched, unsupported, unset, inputCounts: countProblems });
  }
  notices.push(...cropped.map((c) => `embedding sizes differ: ${c}`));
  const outputs = new Set(steps.map((s) => s.output));
  for (const m of models) {
    const extra = [...handle(m).tensors.keys()].filter((n) => handle(m).roleOf(n).position !== 'layer' && !outputs.has(n) && !steps.some((s) => s.models.concat(s.base ?? []).some((i) => i.tensor === n)));
    if (extra.length > 0) notices.push(`'${m}': ${extra.length} tensor(s) outside the layers are not in the merge (${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ', ...' : ''})`);
  }

  const config = outputConfig(configModel.config, configModel.architecture.numLayersKey, outputLayer, steps, forcedDtype);
  // mergekit/merge.py _update_config_vocab: vocab_size is the merged vocabulary, padded.
  if (vocabulary) config.vocab_size = vocabulary.merged.size;
  const tokenizerRef = vocabulary ? vocabulary.merged.tokenizerModel : recipe.tokenizer_source === undefined || recipe.tokenizer_source === 'base' ? (recipe.base_model ?? models[0]) : recipe.tokenizer_source;
  if (handle(tokenizerRef).tokenizerFiles.length === 0) notices.push(`'${tokenizerRef}' has no tokenizer files (tokenizer.json, tokenizer_config.json, ...): the export will have none`);
  return {
    recipe,
    method,
    steps,
    numLayers: outputLayer,
    config,
    tokenizerModel: handle(tokenizerRef),
    ...(vocabulary ? { vocabulary } : {}),
    ...(chatTemplate !== undefined ? { chatTemplate } : {}),
    seed: options.seed ?? recipe.random_seed ?? 0,
    notices,
    totalInputBytes: steps.reduce((s, p) => s + p.inputBytes, 0),
  };
}

/** The merged vocabulary of a document: what the recipe's tokenizer settings say, or 'union' when
 * it says nothing and the models' token tables differ (instead of cutting embeddings to the
 * smallest); undefined when the vocabulary is the base's as it is. */
function planVocabulary(recipe: Recipe, models: string[], handle: (m: string) => ModelHandle, notices: string[]): PlanVocabulary | undefined {
  let setting = recipeTokenizer(recipe);
  const sourceKey = recipe.tokenizer ? 'tokenizer.source' : 'tokenizer_source';
  const loaded = new Map<string, ModelVocabulary | null | undefined>(models.map((m) => [m, vocabularyOf(handle(m))]));
  let implicit = false;
  if (!setting) {
    // Only when every model's tokenizer was read (the CLI and the studio read them; a stage carries
    // its tokenizer model's vocabulary, or the one it merged).
    const known = [...loaded.values()].filter((v): v is ModelVocabulary => !!v);
    if ([...loaded.values()].some((v) => v === undefined) || known.length < 2 || !vocabulariesDiffer(known)) return undefined;
    setting = { source: 'union', tokens: {} };
    implicit = true;
  }
  const unread = models.filter((m) => loaded.get(m) === undefined);
  if (unread.length > 0) {
    throw new MergeStudioError('plan-vocabulary-not-loaded', `${sourceKey}: the tokenizers of ${unread.map((m) => `'${m}'`).join(', ')} were not read before planning (call loadVocabulary on every model first)`, { models: unread });
  }
  const base = recipe.base_model ?? models[0];
  const merged = buildMergedVocabulary({ source: setting.source, sourceKey, tokens: setting.tokens, padToMultipleOf: setting.padToMultipleOf, base, models, vocabularyOf: (m) => loaded.get(m) ?? null, whyNot: (m) => whyNoVocabulary(handle(m)) });
  // The overrides' errors (a token a model lacks, a row past its end) surface now, not mid-export.
  tokenRules(merged, models, recipe.base_model);
  if (merged.assumedBase.length) notices.push(`${merged.assumedBase.map((m) => `'${m}'`).join(', ')} ha${merged.assumedBase.length > 1 ? 've' : 's'} no tokenizer.json: read as having the vocabulary of '${base}' (as mergekit does)`);
  if (merged.stripped.length) notices.push(`'${merged.tokenizerModel}': ${merged.stripped.length} token(s) at or past its vocab_size are left out of the merged vocabulary (mergekit strips them)`);
  const sizes = models.map((m) => `'${m}' ${loaded.get(m)?.rows ?? '?'}`).join(', ');
  notices.push(
    implicit
      ? `vocabularies differ (${sizes} rows): embed_tokens and lm_head are merged over the union vocabulary (${merged.count} tokens${merged.size !== merged.count ? `, ${merged.size} rows` : ''}) with mergekit's rules, as 'tokenizer_source: union' would; set tokenizer_source to 'base' or a model to keep one vocabulary`
      : `${sourceKey} '${setting.source}': embed_tokens and lm_head follow the merged vocabulary of ${merged.count} tokens${merged.size !== merged.count ? ` (${merged.size} rows with pad_to_multiple_of)` : ''}${merged.appended.length ? `, ${merged.appended.length} added to the tokenizer of '${merged.tokenizerModel}'` : ''}`,
  );
  return { merged, implicit };
}

/** A recipe's chat_template as the text to write (mergekit/merge.py _set_chat_template): a
 * built-in name, 'auto' (the template most input models carry), or the template itself. */
function resolveChatTemplate(value: string, handles: ModelHandle[]): string | undefined {
  if (value in CHAT_TEMPLATES) return CHAT_TEMPLATES[value];
  if (value !== 'auto') return value;
  const unread = handles.filter((h) => vocabularyOf(h) === undefined);
  if (unread.length > 0) throw new MergeStudioError('plan-vocabulary-not-loaded', `chat_template: auto: the tokenizers of ${unread.map((h) => `'${h.id}'`).join(', ')} were not read before planning`, { models: unread.map((h) => h.id) });
  const counts = new Map<string, number>();
  for (const h of handles) {
    const t = vocabularyOf(h)?.chatTemplate?.trim();
    if (t) counts.set(t, (counts.get(t) ?? 0) + 1);
  }
  // Counter.most_common: the highest count, the first seen among equals. None: nothing is set.
  let best: string | undefined;
  for (const [t, n] of counts) if (best === undefined || n > counts.get(best)!) best = t;
  return best;
}

/** The method's own input-count and base checks, run on empty tensors so they cost nothing; other
 * errors an empty tensor may raise are not about the recipe and are ignored here. */
function inputCountProblem(method: MergeMethod, models: number, hasBase: boolean): string | undefined {
  const empty = () => new Float32Array(0);
  try {
    method.mergeCpu({
      tensorName: '(input count check)',
      shape: [0],
      models: Array.from({ length: models }, empty),
      modelParams: Array.from({ length: models }, () => ({})),
      modelIndices: Array.from({ length: models }, (_, i) => i),
      ...(hasBase ? { base: empty() } : {}),
      global: {},
      seed: 0,
    });
  } catch (err) {
    if (err instanceof MergeStudioError && (err.code === 'model-count' || err.code === 'missing-base')) return err.message.replace(" for tensor '(input count check)'", '').replace("; tensor '(input count check)' has", '; the recipe gives');
  }
  return undefined;
}

function report(lines: string[], details: Record<string, unknown> = {}): MergeStudioError {
  const shown = lines.length > 40 ? [...lines.slice(0, 40), `  ... and ${lines.length - 40} more`] : lines;
  return new MergeStudioError('plan-incompatible', `the models cannot be merged as the recipe says:\n${shown.join('\n')}`, { problems: lines, ...details });
}

/** config.json of the merged model: the config model's, with layer count, dtype, vocabulary size
 * and embedding tying made true of what is written. */
function outputConfig(base: ModelConfig, numLayersKey: string, numLayers: number, steps: PlanStep[], forced: DType | undefined): ModelConfig {
  const config: ModelConfig = structuredClone(base);
  config[numLayersKey] = numLayers;
  const dtypes = new Set(steps.map((s) => s.dtype));
  const dtype = forced ?? (dtypes.size === 1 ? [...dtypes][0] : undefined);
  if (dtype && TORCH_DTYPE[dtype]) config.torch_dtype = TORCH_DTYPE[dtype];
  const embed = steps.find((s) => s.role.module === 'embedding' && s.shape.length === 2);
  if (embed && typeof config.vocab_size === 'number' && config.vocab_size !== embed.shape[0]) config.vocab_size = embed.shape[0];
  if (steps.some((s) => s.output === 'lm_head.weight') && config.tie_word_embeddings === true) config.tie_word_embeddings = false;
  return config;
}
