// How recipes written by the studio (the export's mergekit_config.yml and model card, the YAML
// panel's download) name the demo models. Inside the studio a demo model is `zoo/tiny-llama-base`
// (the id the mock Hub serves it under), which `merge-studio merge` would look up on the Hub; in a
// written recipe it is the model's folder in the repository, `public/zoo/tiny-llama/base`, which
// the CLI resolves from the recipe's folder or, failing that, the current folder (run it from the
// repository root). Importing such a recipe maps the folders back to the studio's ids.
import { renameModels } from '../core/recipe/stages.ts';
import type { Recipe } from '../core/recipe/types.ts';
import type { DemoCatalog } from './protocol.ts';

/** The demo zoo's folder relative to the repository root (what `npm start` serves as /zoo/). */
export const DEMO_ZOO_FOLDER = 'public/zoo';

export function demoModelPath(path: string): string {
  return `${DEMO_ZOO_FOLDER}/${path.replace(/^\/+|\/+$/g, '')}`;
}

/** The reference a written recipe uses for `ref`: a demo model's folder, anything else as it is. */
export function exportRef(ref: string, catalog: DemoCatalog | null | undefined): string {
  const demo = catalog?.models.find((m) => m.ref === ref);
  return demo ? demoModelPath(demo.path) : ref;
}

/** The recipe as the studio writes it for the CLI. */
export function recipeForExport(recipe: Recipe, catalog: DemoCatalog | null | undefined): Recipe {
  return renameModels(recipe, (ref) => exportRef(ref, catalog));
}

/** A written recipe read back into the studio: demo folders become the studio's ids again. */
export function recipeFromExport(recipe: Recipe, catalog: DemoCatalog | null | undefined): Recipe {
  const byPath = new Map((catalog?.models ?? []).map((m) => [demoModelPath(m.path), m.ref]));
  return renameModels(recipe, (ref) => byPath.get(ref.replace(/^\.\//, '').replace(/\/+$/, '')) ?? ref);
}
