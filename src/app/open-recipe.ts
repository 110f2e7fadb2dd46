// Making a recipe the current one (a link, a history entry, a restored session, a DAM result): the
// models it names are opened first where that needs no user action (demo models, Hub ids), then
// the recipe is set as it is.
import { referencedModels, type Recipe } from '../core/recipe/index.ts';
import { asOneStep, setModelReopener } from './recipe-undo.ts';
import { sourceOf, type ReopenableSource } from './model-sources.ts';
import { useStudio } from './store.ts';

/** How a model named in a recipe can be opened: its earlier source, the demo zoo, or the Hub. */
export function sourceFor(ref: string): ReopenableSource | null {
  const known = sourceOf(ref);
  if (known !== undefined) return known;
  const { catalog, settings } = useStudio.getState();
  if (catalog?.models.some((m) => m.ref === ref)) return { kind: 'demo', ref };
  const hub = /^([\w.-]+\/[\w.-]+)(?:@(.+))?$/.exec(ref);
  if (hub) return { kind: 'hub', repo: hub[1], revision: hub[2], hubUrl: settings.hubUrl, cache: settings.hubCache };
  return null;
}

/** Opens the given sources that are not loaded yet; returns the refs that could not be opened. */
export async function openSources(wanted: { ref: string; source: ReopenableSource | null }[]): Promise<string[]> {
  const missing: string[] = [];
  for (const { ref, source } of wanted) {
    if (useStudio.getState().models.some((m) => m.ref === ref)) continue;
    if (!source) {
      missing.push(ref);
      continue;
    }
    const { settings } = useStudio.getState();
    await useStudio.getState().addModel(source.kind === 'hub' ? { ...source, token: settings.token.trim() || undefined } : source, ref);
    if (!useStudio.getState().models.some((m) => m.ref === ref)) missing.push(ref);
  }
  return missing;
}

/** Sets `recipe` as the current recipe after opening its models; one undo step when `undoable`.
 * Returns the models that are still not loaded (a local folder, or one that failed to open). */
export async function openRecipe(recipe: Recipe, undoable = true): Promise<string[]> {
  return asOneStep(async () => {
    const missing = await openSources(referencedModels(recipe).map((ref) => ({ ref, source: sourceFor(ref) })));
    useStudio.getState().setRecipe(recipe);
    return missing;
  }, undoable);
}

export function missingMessage(missing: string[]): string | null {
  return missing.length ? `Not loaded: ${missing.join(', ')} — a local folder has to be added again in Models (the browser cannot reopen it without you picking it); a Hub id may have failed to open (see Models).` : null;
}

// Undo/redo reopens the models a recipe names and that were removed meanwhile, as one quiet step.
setModelReopener((refs) => void asOneStep(() => openSources(refs.map((ref) => ({ ref, source: sourceFor(ref) }))), false));
