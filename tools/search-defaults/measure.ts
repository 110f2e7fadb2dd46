// Measures candidate default search settings on the demo family (tiny-llama base + reverse + caesar,
// their exact-match tasks: what "Try the demo" loads and ticks), CPU merge + CPU evaluation, against
// the hand-set recipe the studio shows (task_arithmetic, every weight 1, lambda 1).
//   npx tsx tools/search-defaults/measure.ts [seeds]
import { join } from 'node:path';
import { nodeFolderTree } from '../../src/core/io/node-file.ts';
import type { Recipe } from '../../src/core/recipe/index.ts';
import { createMergeObjective, openSearchModels } from '../../src/core/search/objective.ts';
import { SearchRun } from '../../src/core/search/run.ts';
import { createSpace } from '../../src/core/search/spaces.ts';
import { DEFAULT_SEARCH, searchSpecOf, type SearchSettings } from '../../src/app/search-defaults.ts';

const ZOO = join(import.meta.dirname, '..', '..', 'public', 'zoo');
const OBJECTIVES = ['reverse.exact_match', 'caesar.exact_match'];

export async function demoObjective(limit: number) {
  const models = await openSearchModels('base', ['reverse', 'caesar'], (ref) => nodeFolderTree(join(ZOO, 'tiny-llama', ref)));
  const specs = OBJECTIVES.map((name) => ({ name, direction: 'max' as const }));
  const objective = await createMergeObjective({ models: models.handles, tasks: nodeFolderTree(join(ZOO, 'tasks')), objectives: specs, limit });
  return { objective, numLayers: models.numLayers };
}

export const HAND_SET: Recipe = { merge_method: 'task_arithmetic', base_model: 'base', models: [{ model: 'reverse', parameters: { weight: 1 } }, { model: 'caesar', parameters: { weight: 1 } }] };

export async function runSearch(settings: SearchSettings) {
  const { objective, numLayers } = await demoObjective(settings.limit);
  const spec = searchSpecOf(settings, 'base', ['reverse', 'caesar'], OBJECTIVES);
  const space = createSpace(spec.space, { base: spec.base, experts: spec.experts, numLayers, randomSeed: spec.seed });
  const run = await SearchRun.open<Recipe>({ objectives: spec.objectives, optimizer: spec.optimizer, fidelity: spec.fidelity, budget: spec.budget, seed: spec.seed }, space, objective);
  const started = performance.now();
  await run.start();
  const seconds = (performance.now() - started) / 1000;
  const full = run.trials.filter((t) => t.fidelity === 1);
  const mean = (o: Record<string, number>) => OBJECTIVES.reduce((a, k) => a + o[k], 0) / OBJECTIVES.length;
  const best = full.reduce((a, t) => (a && mean(a.objectives) >= mean(t.objectives) ? a : t), full[0]);
  const hand = await objective(HAND_SET, 1, new AbortController().signal);
  return { seconds, trials: run.trials.length, full: full.length, best: best?.objectives, bestMean: best ? mean(best.objectives) : NaN, hand, handMean: mean(hand) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const variants: [string, Partial<SearchSettings>][] = JSON.parse(process.argv[2] ?? '[["default", {}]]');
  const seeds = Number(process.argv[3] ?? 3);
  for (const [name, patch] of variants) {
    for (let seed = 0; seed < seeds; seed++) {
      const r = await runSearch({ ...DEFAULT_SEARCH, ...patch, seed });
      console.log(`${name} seed ${seed}: best mean ${r.bestMean.toFixed(3)} ${JSON.stringify(r.best)} vs hand ${r.handMean.toFixed(3)} ${JSON.stringify(r.hand)}; ${r.trials} trials (${r.full} full) in ${r.seconds.toFixed(1)} s`);
    }
  }
}
