import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { externalModels, parseRecipeYaml, recipeToYaml, renameModels, stageOrder } from './index.ts';
import { errorOf } from '../error-of.ts';

// mergekit's docs/multimerge.md example, its three documents in one file as mergekit-multi reads it.
const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8');
const MULTI = ['multimerge-1.yml', 'multimerge-2.yml', 'multimerge-3.yml'].map(fixture).join('---\n');

describe('multi-document recipes', () => {
  it('read mergekit-multi documents: the unnamed one is the final merge, the named ones its stages', () => {
    const recipe = parseRecipeYaml(MULTI, { source: 'multi.yml' });
    expect(recipe.merge_method).toBe('dare_ties');
    expect(recipe.name).toBeUndefined();
    expect(recipe.stages?.map((s) => [s.name, s.merge_method])).toEqual([['first-merge', 'linear'], ['second-merge', 'slerp']]);
    expect(stageOrder(recipe).map((s) => s.name)).toEqual(['first-merge', 'second-merge']);
    expect(externalModels(recipe)).toEqual([
      'mistralai/Mistral-7B-v0.1', 'teknium/OpenHermes-2.5-Mistral-7B', 'BioMistral/BioMistral-7B', 'NousResearch/Hermes-2-Pro-Mistral-7B',
    ]);
  });

  it('write every document back with the same data, and read back to the same recipe', () => {
    const recipe = parseRecipeYaml(MULTI);
    const text = recipeToYaml(recipe);
    const data = (t: string) => parseAllDocuments(t).map((d) => (Array.isArray(d) ? null : d.toJS()));
    expect(data(text)).toEqual(data(MULTI));
    expect(parseRecipeYaml(text)).toEqual(recipe);
  });

  it('pick as final the one document no other uses when all are named', () => {
    const named = ['multimerge-3.yml', 'multimerge-1.yml', 'multimerge-2.yml'].map(fixture);
    named[0] = `name: final\n${named[0]}`;
    const recipe = parseRecipeYaml(named.join('---\n'));
    expect(recipe.name).toBe('final');
    expect(recipe.stages?.map((s) => s.name)).toEqual(['first-merge', 'second-merge']);
    const two = `${fixture('multimerge-1.yml')}---\nname: other\n${fixture('multimerge-1.yml').replace('name: first-merge\n', '')}`;
    expect(errorOf(() => parseRecipeYaml(two)).message).toMatch(/'first-merge' and 'other' are used by no other document, so the final merge is ambiguous/);
  });

  it('rename outside models only, keeping stage names', () => {
    const recipe = renameModels(parseRecipeYaml(MULTI), (ref) => `../${ref}`);
    expect(recipe.stages![1].base_model).toBe('first-merge');
    expect(recipe.stages![1].models![0].model).toBe('../NousResearch/Hermes-2-Pro-Mistral-7B');
    expect(recipe.models!.map((m) => m.model)).toEqual(['second-merge', '../teknium/OpenHermes-2.5-Mistral-7B']);
    expect(recipe.base_model).toBe('../mistralai/Mistral-7B-v0.1');
  });

  it('stay one plain recipe for one document (a trailing --- is no document)', () => {
    const one = parseRecipeYaml(`${fixture('ties.yml')}---\n`);
    expect(one.stages).toBeUndefined();
    expect(recipeToYaml(one)).not.toContain('---');
  });
});
