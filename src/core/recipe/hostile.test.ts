// Hostile or careless recipe text gets a message naming the file, line and key, never the YAML
// library's or the JS engine's own words (stack overflows, "null" for NaN, prototype keys).
import { describe, expect, it } from 'vitest';
import { MergeStudioError } from '../errors.ts';
import { parseSearchSpec } from '../search/spec.ts';
import { parseRecipeYaml } from './yaml.ts';
import { tooDeepLine } from './yaml-depth.ts';

function messageOf(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(MergeStudioError);
    return (err as Error).message;
  }
  throw new Error('expected an error');
}

const RECIPE = 'models:\n  - model: a\n    parameters: {weight: 1}\nbase_model: b\nmerge_method: task_arithmetic\n';

describe('hostile recipe text', () => {
  it('a 3000-level block mapping is refused at the line where it gets too deep', () => {
    const deep = Array.from({ length: 3000 }, (_, i) => `${' '.repeat(i)}a:`).join('\n') + '\n';
    expect(messageOf(() => parseRecipeYaml(deep, { source: 'deep.yml' }))).toBe('deep.yml: line 101: the YAML nests more than 100 levels deep, which no recipe or spec needs (is this the right file?)');
    expect(messageOf(() => parseSearchSpec(deep, 'spec.yml'))).toBe('spec.yml: line 101: the YAML nests more than 100 levels deep, which no recipe or spec needs (is this the right file?)');
  });

  it('3000 nested flow lists and block sequences are refused too', () => {
    expect(messageOf(() => parseRecipeYaml(`merge_method: linear\nmodels: ${'['.repeat(3000)}${']'.repeat(3000)}\n`, { source: 'r.yml' }))).toBe(
      'r.yml: line 2: the YAML nests more than 100 levels deep, which no recipe or spec needs (is this the right file?)',
    );
    expect(tooDeepLine(`x:\n${'- '.repeat(3000)}a\n`)).toBe(2);
    // Ordinary recipes, quoted brackets and comments do not count.
    expect(tooDeepLine(`${RECIPE}name: "${'['.repeat(500)}" # ${'{'.repeat(500)}\n`)).toBeUndefined();
  });

  it('.nan and .inf weights are named as such, not as "null"', () => {
    for (const [text, shown] of [['.nan', '.nan'], ['.inf', '.inf'], ['-.inf', '-.inf']]) {
      expect(messageOf(() => parseRecipeYaml(RECIPE.replace('weight: 1', `weight: ${text}`), { source: 'r.yml' }))).toBe(
        `r.yml: line 3: models[0].parameters.weight: expected a number, a boolean or a gradient list, found ${shown} (not a finite number)`,
      );
    }
    expect(messageOf(() => parseRecipeYaml(RECIPE.replace('weight: 1', 'weight: [0, .nan]'), { source: 'r.yml' }))).toBe(
      'r.yml: line 3: models[0].parameters.weight[1]: gradient entries must be numbers or booleans, found .nan (not a finite number)',
    );
  });

  it('a top-level __proto__ key is an unknown key, and __proto__ as a parameter is refused', () => {
    expect(messageOf(() => parseRecipeYaml(`__proto__: {a: 1}\n${RECIPE}`, { source: 'r.yml' }))).toMatch(/^r\.yml: line 1: __proto__: unknown key '__proto__'.* \(valid here: name, merge_method, /);
    expect(messageOf(() => parseRecipeYaml(RECIPE.replace('{weight: 1}', '{weight: 1, __proto__: {x: 1}}'), { source: 'r.yml' }))).toBe(
      "r.yml: line 3: models[0].parameters.__proto__: '__proto__' is not a parameter name",
    );
    // Names of Object.prototype members are not valid dtypes either.
    expect(messageOf(() => parseRecipeYaml(`${RECIPE}dtype: constructor\n`, { source: 'r.yml' }))).toMatch(/^r\.yml: line 6: dtype: unknown dtype string "constructor"/);
  });
});
