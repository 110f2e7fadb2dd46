// Multi-stage recipes, as mergekit-multi reads them: several YAML documents, each a merge with a
// `name`; a later document uses an earlier one's name as a model. The one unnamed document (or,
// when all are named, the one no other uses) is the final merge; the others are its stages.
import { MergeStudioError } from '../errors.ts';
import { closestName } from './suggest.ts';
import type { Recipe } from './types.ts';

/** Model references written in one document (base first), stage names included, without repeats. */
export function documentModels(doc: Recipe): string[] {
  const out = new Set<string>();
  if (doc.base_model !== undefined) out.add(doc.base_model);
  for (const m of doc.models ?? []) out.add(m.model);
  for (const s of doc.slices ?? []) for (const src of s.sources) out.add(src.model);
  return [...out];
}

/** The documents of a recipe in writing order: its stages, then the final merge. */
export function recipeDocuments(recipe: Recipe): Recipe[] {
  const { stages, ...final } = recipe;
  return [...(stages ?? []), final];
}

/** Names of the recipe's stages. */
export function stageNames(recipe: Recipe): string[] {
  return (recipe.stages ?? []).map((s) => s.name ?? '');
}

/** The stage a model reference that is no stage probably misspells, if any. */
export function closestStage(recipe: Recipe, ref: string): string | undefined {
  const names = stageNames(recipe);
  return names.includes(ref) ? undefined : closestName(ref, names);
}

/** A hint for a model reference that is no stage, naming the stages ('' for a one-document recipe). */
export function stageHint(recipe: Recipe, ref: string): string {
  const names = stageNames(recipe);
  if (names.length === 0) return '';
  const near = closestStage(recipe, ref);
  return ` (it is not one of the recipe's stages either: ${names.map((n) => `'${n}'`).join(', ')}${near ? `; did you mean '${near}'?` : ''})`;
}

function stageError(message: string, details: Record<string, unknown> = {}): MergeStudioError {
  return new MergeStudioError('recipe-stages', message, details);
}

/** Builds a recipe from parsed documents: picks the final merge, and checks names (present,
 * unique) and that stages do not use each other in a cycle. `label(i)` names document i in errors. */
export function assembleStages(docs: Recipe[], label: (index: number) => string = (i) => `document ${i + 1}`): Recipe {
  if (docs.length === 1) return docs[0];
  const unnamed = docs.flatMap((d, i) => (d.name === undefined ? [i] : []));
  if (unnamed.length > 1) {
    throw stageError(`${unnamed.map(label).join(' and ')} have no name; in a multi-document recipe every document but the final merge needs a 'name' that later documents use as a model`, { documents: unnamed });
  }
  const seen = new Map<string, number>();
  docs.forEach((d, i) => {
    if (d.name === undefined) return;
    const first = seen.get(d.name);
    if (first !== undefined) throw stageError(`${label(first)} and ${label(i)} are both named '${d.name}'; stage names must be unique`, { name: d.name });
    seen.set(d.name, i);
  });
  let finalIndex = unnamed[0];
  if (finalIndex === undefined) {
    const used = new Set(docs.flatMap((d) => documentModels(d)));
    const unused = docs.flatMap((d, i) => (used.has(d.name!) ? [] : [i]));
    if (unused.length !== 1) {
      throw stageError(
        unused.length === 0
          ? 'every document is used by another, so none is the final merge (the stages form a cycle)'
          : `${unused.map((i) => `'${docs[i].name}'`).join(' and ')} are used by no other document, so the final merge is ambiguous; leave the name out of the final one`,
        { documents: unused },
      );
    }
    finalIndex = unused[0];
  }
  const recipe: Recipe = { ...docs[finalIndex], stages: docs.filter((_, i) => i !== finalIndex) };
  stageOrder(recipe);
  return recipe;
}

/** The stages in an order where each comes after the stages it uses; throws on a cycle (a stage
 * that uses itself, directly or through others). Stages the final merge does not need are left out. */
export function stageOrder(recipe: Recipe): Recipe[] {
  const byName = new Map((recipe.stages ?? []).map((s) => [s.name!, s]));
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (doc: Recipe, path: string[], out: Recipe[]) => {
    for (const ref of documentModels(doc)) {
      const stage = byName.get(ref);
      if (!stage || state.get(ref) === 'done') continue;
      if (state.get(ref) === 'visiting') {
        const cycle = [...path.slice(path.indexOf(ref)), ref];
        throw stageError(`stages use each other in a cycle: ${cycle.map((n) => `'${n}'`).join(' -> ')}`, { cycle });
      }
      state.set(ref, 'visiting');
      visit(stage, [...path, ref], out);
      state.set(ref, 'done');
      out.push(stage);
    }
  };
  const order: Recipe[] = [];
  visit(recipe, [], order);
  // Stages nothing uses are never merged, but a cycle among them is still an error in the file.
  for (const stage of recipe.stages ?? []) if (state.get(stage.name!) !== 'done') visit({ merge_method: '', models: [{ model: stage.name! }] }, [], []);
  return order;
}

/** Models a recipe reads from outside (stage names excluded): the final merge's first (its base
 * first), then those only its stages read. */
export function externalModels(recipe: Recipe): string[] {
  const names = new Set(stageNames(recipe));
  const { stages, ...final } = recipe;
  return [...new Set([final, ...(stages ?? [])].flatMap(documentModels))].filter((m) => !names.has(m));
}

/** A copy of the recipe with every outside model reference mapped by `rename` (stage names kept). */
export function renameModels(recipe: Recipe, rename: (ref: string) => string): Recipe {
  const names = new Set(stageNames(recipe));
  const map = (ref: string) => (names.has(ref) ? ref : rename(ref));
  const renameDoc = (doc: Recipe): Recipe => {
    const copy = structuredClone(doc);
    if (copy.base_model !== undefined) copy.base_model = map(copy.base_model);
    copy.models?.forEach((m) => (m.model = map(m.model)));
    copy.slices?.forEach((s) => s.sources.forEach((src) => (src.model = map(src.model))));
    const keep = (ref: string) => ref === 'base' || ref === 'union';
    if (copy.tokenizer_source !== undefined && !keep(copy.tokenizer_source)) copy.tokenizer_source = map(copy.tokenizer_source);
    if (copy.tokenizer?.source !== undefined && !keep(copy.tokenizer.source)) copy.tokenizer.source = map(copy.tokenizer.source);
    for (const cfg of Object.values(copy.tokenizer?.tokens ?? {})) {
      if (typeof cfg.source === 'string') cfg.source = map(cfg.source);
      else if (cfg.source?.kind === 'model_token') cfg.source.model = map(cfg.source.model);
    }
    return copy;
  };
  const out = renameDoc({ ...recipe, stages: undefined });
  delete out.stages;
  if (recipe.stages) out.stages = recipe.stages.map(renameDoc);
  return out;
}
