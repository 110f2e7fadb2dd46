// Side-by-side comparison of two recipes (every parameter as a path and its two values) and of their
// scores (both values and the change).
import type { Recipe } from '../core/recipe/index.ts';

export interface ParamDiffRow {
  path: string;
  a: string | undefined;
  b: string | undefined;
}

function show(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The recipe as path -> value: models are keyed by their names (not their positions), so that
 * adding a model does not shift every later one; parameter values (lists, filters) stay whole. */
export function flattenRecipe(recipe: Recipe): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (prefix: string, value: unknown) => {
    if (value === undefined) return;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(prefix ? `${prefix}.${k}` : k, v);
    } else out.set(prefix, show(value));
  };
  for (const [key, value] of Object.entries(recipe)) {
    if (key === 'models' && Array.isArray(value)) {
      for (const m of value as NonNullable<Recipe['models']>) {
        out.set(`models[${m.model}]`, 'included');
        if (m.parameters) walk(`models[${m.model}].parameters`, m.parameters);
      }
    } else if (key === 'parameters') walk('parameters', value);
    else walk(key, value);
  }
  return out;
}

/** The parameters in which two recipes differ (`same` rows too when asked), sorted by path. */
export function diffRecipes(a: Recipe, b: Recipe, opts: { same?: boolean } = {}): (ParamDiffRow & { same: boolean })[] {
  const fa = flattenRecipe(a);
  const fb = flattenRecipe(b);
  const paths = [...new Set([...fa.keys(), ...fb.keys()])].sort();
  return paths.map((path) => ({ path, a: fa.get(path), b: fb.get(path), same: fa.get(path) === fb.get(path) })).filter((r) => opts.same || !r.same);
}

export interface ScoreDiffRow {
  objective: string;
  a: number | undefined;
  b: number | undefined;
  /** b - a where both exist. */
  delta: number | undefined;
}

export function diffScores(a: Record<string, number>, b: Record<string, number>): ScoreDiffRow[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort().map((objective) => {
    const va = a[objective];
    const vb = b[objective];
    return { objective, a: va, b: vb, delta: va !== undefined && vb !== undefined ? vb - va : undefined };
  });
}
