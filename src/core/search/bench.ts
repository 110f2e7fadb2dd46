// Measurements for the README's "Automated search — measured" section (Node only, not a test):
//   npx tsx src/core/search/bench.ts baselines SPEC.yml        experts, base and hand-set task arithmetic
//   npx tsx src/core/search/bench.ts grid SPEC.yml             a hand grid of task arithmetic and TIES settings
//   npx tsx src/core/search/bench.ts report DIR... [--target-hv H] [--target-mean M]   runs of `merge-studio search`
// Baselines are scored by the same objective function the search uses, at fidelity 1.
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { nodeFolderTree } from '../io/node-file.ts';
import type { Recipe, RecipeModel } from '../recipe/types.ts';
import { createMergeObjective, openSearchModels } from './objective.ts';
import { hypervolume } from './pareto.ts';
import { lossReference, toLosses } from './objectives.ts';
import { parseSearchSpec, type SearchSpec } from './spec.ts';
import { parseTrialLines } from './store.ts';

/** A spec's models opened from disk and its objective function (the one a search uses). */
async function specObjective(specPath: string, limit?: number) {
  const spec = parseSearchSpec(await readFile(specPath, 'utf8'), specPath);
  const from = (p: string) => (isAbsolute(p) ? p : join(dirname(resolve(specPath)), p));
  const models = await openSearchModels(spec.base, spec.experts, (ref) => nodeFolderTree(from(ref)));
  const objective = await createMergeObjective({
    models: models.handles,
    tasks: nodeFolderTree(from(spec.tasks!)),
    objectives: spec.objectives,
    limit: limit ?? spec.limit,
  });
  return { spec, objective };
}

/** Every expert at one weight over the spec's base (TIES with a density), float32. */
function handSet(spec: SearchSpec, method: 'task_arithmetic' | 'ties', weight: number, lambda: number, density?: number): Recipe {
  return {
    merge_method: method,
    base_model: spec.base,
    models: spec.experts.map((model): RecipeModel => ({ model, parameters: density === undefined ? { weight } : { weight, density } })),
    parameters: { lambda },
    dtype: 'float32',
  };
}

async function baselines(specPath: string, limit?: number): Promise<void> {
  const { spec, objective } = await specObjective(specPath, limit);
  const alone = (model: string): Recipe => ({ merge_method: 'linear', models: [{ model, parameters: { weight: 1 } }], dtype: 'float32' });
  const taskArithmetic = (weight: number, lambda: number) => handSet(spec, 'task_arithmetic', weight, lambda);
  const rows: [string, Recipe][] = [
    ['base', alone(spec.base)],
    ...spec.experts.map((e): [string, Recipe] => [`expert ${e.split('/').pop()}`, alone(e)]),
    ['task_arithmetic w=1 lambda=1', taskArithmetic(1, 1)],
    [`task_arithmetic w=1/${spec.experts.length} lambda=1`, taskArithmetic(1 / spec.experts.length, 1)],
    ['task_arithmetic w=1 lambda=0.5', taskArithmetic(1, 0.5)],
  ];
  const ref = lossReference(spec.objectives);
  for (const [label, recipe] of rows) {
    const started = performance.now();
    const values = await objective(recipe, 1, new AbortController().signal);
    const hv = hypervolume([toLosses(values, spec.objectives)], ref);
    const mean = spec.objectives.reduce((a, o) => a + values[o.name], 0) / spec.objectives.length;
    console.log(
      `| ${label} | ${spec.objectives.map((o) => values[o.name].toFixed(3)).join(' | ')} | ${mean.toFixed(3)} | ${hv.toFixed(4)} | ${((performance.now() - started) / 1000).toFixed(1)} s |`,
    );
  }
}

/** The hand grid the issue compares a single-objective search with: task arithmetic (one weight for
 * every expert x lambda) and TIES (weight x density, lambda 1), scored like a full-fidelity trial. */
async function grid(specPath: string, limit?: number): Promise<void> {
  const { spec, objective } = await specObjective(specPath, limit);
  const recipe = (method: 'task_arithmetic' | 'ties', weight: number, lambda: number, density?: number) => handSet(spec, method, weight, lambda, density);
  const rows: [string, Recipe][] = [];
  for (const weight of [0.5, 0.75, 1, 1.25]) for (const lambda of [0.5, 0.75, 1, 1.25]) rows.push([`task_arithmetic w=${weight} lambda=${lambda}`, recipe('task_arithmetic', weight, lambda)]);
  for (const weight of [0.5, 1]) for (const density of [0.3, 0.5, 0.7, 0.9]) rows.push([`ties w=${weight} density=${density}`, recipe('ties', weight, 1, density)]);
  let best = { label: '', value: -Infinity };
  for (const [label, r] of rows) {
    const values = await objective(r, 1, new AbortController().signal);
    const mean = spec.objectives.reduce((a, o) => a + values[o.name], 0) / spec.objectives.length;
    if (mean > best.value) best = { label, value: mean };
    console.log(`| ${label} | ${spec.objectives.map((o) => values[o.name].toFixed(3)).join(' | ')} | ${mean.toFixed(3)} |`);
  }
  console.log(`best of ${rows.length}: ${best.label} ${best.value.toFixed(4)}`);
}

async function report(dirs: string[], target?: number, targetMean?: number): Promise<void> {
  for (const dir of dirs) {
    const spec = JSON.parse(await readFile(join(dir, 'spec.json'), 'utf8')) as SearchSpec;
    const trials = parseTrialLines(await readFile(join(dir, 'trials.jsonl'), 'utf8'), dir);
    const ref = lossReference(spec.objectives);
    const full: number[][] = [];
    let cost = 0;
    let seconds = 0;
    let hv = 0;
    let reached: { cost: number; seconds: number; trials: number } | null = null;
    let reachedMean: { cost: number; seconds: number; trials: number } | null = null;
    let bestMean = -Infinity;
    for (const [i, t] of trials.entries()) {
      cost += t.fidelity;
      seconds += t.seconds;
      if (t.fidelity !== 1) continue;
      full.push(toLosses(t.objectives, spec.objectives));
      hv = hypervolume(full, ref);
      bestMean = Math.max(bestMean, spec.objectives.reduce((a, o) => a + t.objectives[o.name], 0) / spec.objectives.length);
      if (target !== undefined && !reached && hv >= target - 1e-12) reached = { cost, seconds, trials: i + 1 };
      if (targetMean !== undefined && !reachedMean && bestMean >= targetMean - 1e-12) reachedMean = { cost, seconds, trials: i + 1 };
    }
    const best = spec.objectives.map((o, k) => Math.max(...full.map((l) => (o.direction === 'max' ? -l[k] : l[k])))).map((v) => v.toFixed(3));
    console.log(
      `| ${dir.split('/').pop()} | ${spec.space.kind} | ${spec.optimizer.kind} | ${spec.fidelity.levels.map((l) => l.toFixed(3)).join(',')} | ${trials.length} (${full.length} full) | ${cost.toFixed(2)} | ${seconds.toFixed(0)} s | ${hv.toFixed(4)} | ${best.join(' / ')} | ${bestMean.toFixed(3)} |` +
        [target, targetMean]
          .map((t, k) => {
            if (t === undefined) return '';
            const r = k === 0 ? reached : reachedMean;
            return ` ${r ? `cost ${r.cost.toFixed(2)}, ${r.seconds.toFixed(0)} s, ${r.trials} trials` : 'not reached'} |`;
          })
          .join(''),
    );
  }
}

const [command, ...args] = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = Number(args[i + 1]);
  args.splice(i, 2);
  return v;
};
if (command === 'baselines') await baselines(args[0], flag('--limit'));
else if (command === 'grid') await grid(args[0], flag('--limit'));
else if (command === 'report') {
  const target = flag('--target-hv');
  const targetMean = flag('--target-mean');
  await report(args, target, targetMean);
} else {
  console.error('usage: bench.ts baselines|grid SPEC.yml [--limit N] | report DIR... [--target-hv H] [--target-mean M]');
  process.exitCode = 2;
}
