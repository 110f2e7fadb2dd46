import { describe, expect, it } from 'vitest';
import { parseRecipeYaml } from '../core/recipe/index.ts';
import { diffRecipes, diffScores, flattenRecipe } from './recipe-diff.ts';

const A = parseRecipeYaml(`
merge_method: task_arithmetic
base_model: b
parameters:
  lambda: 1
models:
  - model: mx
    parameters:
      weight: 0.5
  - model: my
    parameters:
      weight: [0, 1]
`);
const B = parseRecipeYaml(`
merge_method: ties
base_model: b
parameters:
  lambda: 1
models:
  - model: mz
    parameters:
      weight: 0.3
  - model: mx
    parameters:
      weight: 0.6
      density: 0.5
`);

describe('recipe diff', () => {
  it('flattens models by name, not position', () => {
    const f = flattenRecipe(A);
    expect(f.get('models[mx].parameters.weight')).toBe('0.5');
    expect(f.get('models[my].parameters.weight')).toBe('[0,1]');
    expect(f.get('parameters.lambda')).toBe('1');
    expect(f.get('merge_method')).toBe('task_arithmetic');
  });

  it('lists exactly the parameters that differ, with both values', () => {
    expect(diffRecipes(A, B)).toEqual([
      { path: 'merge_method', a: 'task_arithmetic', b: 'ties', same: false },
      { path: 'models[mx].parameters.density', a: undefined, b: '0.5', same: false },
      { path: 'models[mx].parameters.weight', a: '0.5', b: '0.6', same: false },
      { path: 'models[my]', a: 'included', b: undefined, same: false },
      { path: 'models[my].parameters.weight', a: '[0,1]', b: undefined, same: false },
      { path: 'models[mz]', a: undefined, b: 'included', same: false },
      { path: 'models[mz].parameters.weight', a: undefined, b: '0.3', same: false },
    ]);
    expect(diffRecipes(A, A)).toEqual([]);
    expect(diffRecipes(A, B, { same: true }).filter((r) => r.same).map((r) => r.path)).toEqual(['base_model', 'models[mx]', 'parameters.lambda']);
  });

  it('diffs scores over the union of objectives', () => {
    expect(diffScores({ 'a.acc': 0.5, 'b.ppl': 10 }, { 'a.acc': 0.75, 'c.em': 1 })).toEqual([
      { objective: 'a.acc', a: 0.5, b: 0.75, delta: 0.25 },
      { objective: 'b.ppl', a: 10, b: undefined, delta: undefined },
      { objective: 'c.em', a: undefined, b: 1, delta: undefined },
    ]);
  });
});
