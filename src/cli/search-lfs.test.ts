// `merge-studio search` in the layer-wise space with several methods on the demo zoo: trials that
// mix methods are multi-stage recipes; the best one is written as mergekit-multi YAML that
// `merge-studio merge` turns into a model folder scoring what the search measured.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Recipe } from '../core/recipe/index.ts';
import { parseRecipeYaml } from '../core/recipe/yaml.ts';
import { parseTrialLines, type TrialRecord } from '../core/search/store.ts';
import { parseEvalArgs, runEval } from './eval.ts';
import { parseMergeArgs, runMerge } from './merge.ts';
import { run } from './search.ts';

const ZOO = resolve(process.env.ZOO_DIR ?? 'public/zoo');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'search-lfs-'));
  await writeFile(
    join(dir, 'spec.yml'),
    `base_model: ${ZOO}/tiny-llama/base
models: [${ZOO}/tiny-llama/reverse, ${ZOO}/tiny-llama/caesar]
space: { kind: layerwise, methods: [ties, linear, slerp], block_size: 2 }
objectives: [{ name: caesar.perplexity, ref: 1000 }]
tasks: ${ZOO}/tasks
limit: 6
fidelity: { levels: [1] }
optimizer: random
budget: { trials: 3 }
seed: 1
`,
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('merge-studio search, layer-wise with several methods', () => {
  it('writes mixed-method trials and a multi-document best recipe that merges to what was scored', async () => {
    const out = join(dir, 'out');
    expect(await run([join(dir, 'spec.yml'), '--out', out, '--quiet'])).toBe(0);
    const trials = parseTrialLines(await readFile(join(out, 'trials.jsonl'), 'utf8'), 'trials.jsonl') as TrialRecord<Recipe>[];
    expect(trials).toHaveLength(3);
    expect(trials.every((t) => (t.recipe.stages?.length ?? 0) >= 2)).toBe(true);

    const perplexities = trials.map((t) => t.objectives['caesar.perplexity']);
    expect(new Set(perplexities).size).toBe(3); // the candidates really differ
    const bestYaml = join(out, 'best-caesar.perplexity.yml');
    const text = await readFile(bestYaml, 'utf8');
    const best = parseRecipeYaml(text, { source: bestYaml });
    expect(best.name).toBeUndefined(); // mergekit-multi writes the unnamed final to --out-path
    expect(text.match(/^---$/gm)?.length).toBe(best.stages!.length);
    const scored = trials[perplexities.indexOf(Math.min(...perplexities))];
    expect(best.stages!.map((s) => s.merge_method)).toEqual(scored.recipe.stages!.map((s) => s.merge_method));

    const folder = join(dir, 'merged');
    await runMerge(parseMergeArgs([bestYaml, '--out', folder]));
    const evaluated = await runEval(parseEvalArgs([folder, '--task', join(ZOO, 'tasks/caesar.ppl.jsonl'), '--limit', '6']));
    expect(evaluated.results[0].metrics.perplexity).toBeCloseTo(scored.objectives['caesar.perplexity'], 9);
  });
});
