// The model card as Hub metadata: the front matter is valid YAML with the fields the Hub reads, for
// a real plan of the demo models (the card the export writes) and after the publish step adds
// Hub ids, licenses and measured scores.
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { modelCard, plan } from '../engine/index.ts';
import { nodeFolderTree } from '../io/node-file.ts';
import { openModel, type ModelHandle } from '../model/handle.ts';
import { parseRecipeYaml } from '../recipe/index.ts';
import { parseFrontMatter, publishCard, readLicense, renderModelCard, scoresFromEvalJson, sharedLicense } from './model-card.ts';

const ZOO = resolve('public/zoo/tiny-llama');

async function demoPlan(refs: Record<string, string>) {
  const recipe = parseRecipeYaml(`name: card-test\nmerge_method: ties\nbase_model: ${refs.base}\nmodels:\n  - model: ${refs.a}\n    parameters: {weight: 0.5, density: 0.5}\n  - model: ${refs.b}\n    parameters: {weight: 0.5, density: 0.5}\nparameters: {normalize: true}\ndtype: bfloat16\n`);
  const handles = new Map<string, ModelHandle>();
  const folder: Record<string, string> = { [refs.base]: 'base', [refs.a]: 'caesar', [refs.b]: 'reverse' };
  for (const [ref, name] of Object.entries(folder)) handles.set(ref, await openModel(nodeFolderTree(resolve(ZOO, name)), undefined, ref));
  return plan(recipe, handles);
}

/** The front matter block, parsed strictly as YAML (as the Hub does). */
function hubMetadata(card: string): Record<string, unknown> {
  const m = /^---\n([\s\S]*?)\n---\n/.exec(card);
  expect(m, 'the card starts with a --- front matter block').not.toBeNull();
  return parseYaml(m![1], { strict: true, uniqueKeys: true }) as Record<string, unknown>;
}

describe('model card as Hub metadata', () => {
  it('the export card of Hub-id inputs: base_model lists every input, tags, library_name, the recipe as mergekit YAML', async () => {
    const p = await demoPlan({ base: 'zoo/tiny-llama-base', a: 'zoo/tiny-llama-caesar', b: 'zoo/tiny-llama-reverse' });
    const card = modelCard(p);
    const meta = hubMetadata(card);
    expect(meta).toEqual({ base_model: ['zoo/tiny-llama-base', 'zoo/tiny-llama-caesar', 'zoo/tiny-llama-reverse'], base_model_relation: 'merge', library_name: 'transformers', tags: ['merge', 'mergekit', 'merge-studio'] });
    const yamlBlock = /```yaml\n([\s\S]*?)```/.exec(card)![1];
    expect(parseRecipeYaml(yamlBlock)).toEqual(p.recipe);
  });

  it('local folders are listed in the text but not put in base_model (they are not Hub ids)', async () => {
    const p = await demoPlan({ base: './base', a: './caesar', b: '/abs/reverse' });
    const meta = hubMetadata(modelCard(p));
    expect(meta.base_model).toBeUndefined();
    expect(modelCard(p)).toContain('- `./caesar`');
  });

  it('license only when every input shares one; read from the inputs\' own cards', async () => {
    expect(await readLicense(nodeFolderTree(resolve(ZOO, 'base')))).toBe('apache-2.0');
    expect(sharedLicense([{ ref: 'a', license: 'mit' }, { ref: 'b', license: 'mit' }])).toBe('mit');
    expect(sharedLicense([{ ref: 'a', license: 'mit' }, { ref: 'b', license: 'apache-2.0' }])).toBeUndefined();
    expect(sharedLicense([{ ref: 'a', license: 'mit' }, { ref: 'b' }])).toBeUndefined();
    const card = renderModelCard({ title: 't', method: 'linear', inputs: [{ ref: 'o/a', hubId: 'o/a', license: 'mit' }, { ref: 'o/b', hubId: 'o/b', license: 'apache-2.0' }], recipeYaml: 'merge_method: linear\n' });
    expect(hubMetadata(card).license).toBeUndefined();
  });

  it('model-index carries each measured metric with its task and item count; the publish step rewrites base_model', async () => {
    const p = await demoPlan({ base: 'zoo/tiny-llama-base', a: 'zoo/tiny-llama-caesar', b: 'zoo/tiny-llama-reverse' });
    const evalJson = { target: 'x', backend: 'cpu', limit: 20, seed: 0, results: [
      { task: 'caesar.gen', kind: 'generate', items: 20, metrics: { exact_match: 0.85 }, seconds: 1 },
      { task: 'reverse.ppl', kind: 'perplexity', items: 20, metrics: { perplexity: 3.25, nll_per_token: 1.1787, tokens: 400 }, seconds: 1 },
    ] };
    const scores = scoresFromEvalJson(evalJson);
    expect(scores).toEqual([
      { task: 'caesar.gen', metric: 'exact_match', value: 0.85, items: 20 },
      { task: 'reverse.ppl', metric: 'perplexity', value: 3.25, items: 20 },
      { task: 'reverse.ppl', metric: 'nll_per_token', value: 1.1787, items: 20 },
    ]);
    const card = publishCard(modelCard(p), { hubIds: ['org/base', 'org/expert'], licenses: ['apache-2.0', 'apache-2.0'], scores });
    const meta = hubMetadata(card);
    expect(meta.base_model).toEqual(['org/base', 'org/expert']);
    expect(meta.license).toBe('apache-2.0');
    const index = meta['model-index'] as { name: string; results: { task: { type: string }; dataset: { name: string; type: string; args: { items: number } }; metrics: { type: string; value: number }[] }[] }[];
    expect(index).toHaveLength(1);
    expect(index[0].name).toBe('card-test');
    expect(index[0].results.map((r) => [r.task.type, r.dataset.name, r.dataset.args.items, r.metrics[0].type, r.metrics[0].value])).toEqual([
      ['text-generation', 'caesar.gen', 20, 'exact_match', 0.85],
      ['text-generation', 'reverse.ppl', 20, 'perplexity', 3.25],
      ['text-generation', 'reverse.ppl', 20, 'nll_per_token', 1.1787],
    ]);
    expect(parseFrontMatter(card).body).toMatch(/\| caesar\.gen \| exact_match \| 0\.8500 \| 20 \|[\s\S]*## Recipe/);
    expect(() => scoresFromEvalJson({ nope: 1 })).toThrow(/merge-studio eval --json/);
  });
});
