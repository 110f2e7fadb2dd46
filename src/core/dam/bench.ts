// Measurements for the README's "DAM — measured" section (Node only, not a test):
//   npx tsx src/core/dam/bench.ts --zoo public/zoo --family tiny-llama --experts reverse,caesar [--steps 150]
//     [--batch 8] [--lr 0.001] [--limit 150] [--train ppl,mc] [--dam-only] [--json OUT.json]
// Every merge is scored by the eval module on the same seeded subset of each expert's skill's
// generation task (exact match). DAM is distilled on the experts' other held-out files (by default
// perplexity texts and multiple-choice prompts with their right answers), whose prompts the
// generator keeps disjoint from the generation items.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { plan } from '../engine/index.ts';
import { runtimeForPlan } from '../eval/merged.ts';
import { createRuntime, generationLimit } from '../eval/load.ts';
import { evaluateTask } from '../eval/metrics.ts';
import type { CausalLM } from '../eval/runtime.ts';
import { parseTaskJsonl, type EvalTask } from '../eval/tasks.ts';
import type { TextTokenizer } from '../eval/tokenizer.ts';
import { nodeFolderTree } from '../io/node-file.ts';
import { openModel, type ModelHandle } from '../model/handle.ts';
import type { Recipe } from '../recipe/types.ts';
import { prepareDamProblem } from './data.ts';
import { DamRun } from './train.ts';

function flag(argv: string[], name: string, fallback: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
}

async function task(zoo: string, file: string): Promise<EvalTask> {
  return parseTaskJsonl(await readFile(join(zoo, 'tasks', file), 'utf8'), file);
}

async function main(argv: string[]): Promise<void> {
  const zoo = flag(argv, 'zoo', 'public/zoo');
  const family = flag(argv, 'family', 'tiny-llama');
  const skills = flag(argv, 'experts', 'reverse,caesar').split(',');
  const steps = Number(flag(argv, 'steps', '150'));
  const batchSize = Number(flag(argv, 'batch', '8'));
  const learningRate = Number(flag(argv, 'lr', '0.001'));
  const limit = Number(flag(argv, 'limit', '150'));
  const trainKinds = flag(argv, 'train', 'ppl,mc').split(',');
  const jsonOut = flag(argv, 'json', '');
  const dir = (name: string) => join(zoo, family, name);
  const handles = new Map<string, ModelHandle>();
  for (const name of ['base', ...skills]) handles.set(name, await openModel(nodeFolderTree(dir(name)), undefined, name));
  const evalTasks = await Promise.all(skills.map((s) => task(zoo, `${s}.gen.jsonl`)));
  const maxNewTokens = await generationLimit(handles.get('base')!.tree);
  const rows: { method: string; scores: number[]; mean: number; seconds: number; note?: string }[] = [];

  const score = async (method: string, model: CausalLM, tokenizer: TextTokenizer, seconds: number, note?: string) => {
    const scores: number[] = [];
    for (const t of evalTasks) scores.push((await evaluateTask(model, tokenizer, t, { limit, seed: 0, maxNewTokens })).metrics.exact_match);
    const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
    rows.push({ method, scores, mean, seconds, ...(note ? { note } : {}) });
    console.log(`| ${method} | ${scores.map((s) => s.toFixed(3)).join(' | ')} | ${mean.toFixed(3)} | ${seconds.toFixed(1)} s |${note ? ` ${note}` : ''}`);
    model.dispose();
  };
  const recipes: [string, Recipe][] = [
    ...skills.map((s): [string, Recipe] => [`expert ${s} alone`, { merge_method: 'linear', models: [{ model: s, parameters: { weight: 1 } }], dtype: 'float32' }]),
    ['uniform averaging', { merge_method: 'linear', models: skills.map((s) => ({ model: s, parameters: { weight: 1 } })), dtype: 'float32' }],
    ['task_arithmetic (w=1, lambda=1)', { merge_method: 'task_arithmetic', base_model: 'base', models: skills.map((s) => ({ model: s, parameters: { weight: 1 } })), parameters: { lambda: 1 }, dtype: 'float32' }],
    ['ties (w=1, density=0.5)', { merge_method: 'ties', base_model: 'base', models: skills.map((s) => ({ model: s, parameters: { weight: 1, density: 0.5 } })), dtype: 'float32' }],
  ];
  console.log(`| method | ${skills.map((s) => `${s} EM`).join(' | ')} | mean | merge/train time |`);
  console.log(`|---|${skills.map(() => '---|').join('')}---|---|`);
  for (const [label, recipe] of argv.includes('--dam-only') ? [] : recipes) {
    const started = performance.now();
    const merged = await runtimeForPlan(plan(recipe, handles));
    await score(label, merged.model, merged.tokenizer, (performance.now() - started) / 1000);
  }

  const started = performance.now();
  const sources = await Promise.all(skills.map(async (s) => ({ name: s, tree: handles.get(s)!.tree, tasks: await Promise.all(trainKinds.map((k) => task(zoo, `${s}.${k}.jsonl`))) })));
  const problem = await prepareDamProblem(sources);
  const teacherSeconds = (performance.now() - started) / 1000;
  const run = new DamRun(problem.objective, { steps, batchSize, learningRate });
  run.subscribe((e) => {
    if (e.type === 'step' && (e.record.step % 25 === 0 || e.record.step === 1)) console.error(`  step ${e.record.step} loss ${e.record.loss.toFixed(5)} KL ${e.record.distillation.map((d) => d.toFixed(4)).join('/')} ${e.record.seconds.toFixed(1)} s`);
  });
  const uniformLoss = problem.objective.evaluate(run.state.coefficients, problem.objective.experts.map((e) => e.targets.map((_, i) => i))).loss;
  await run.run();
  const finalLoss = problem.objective.evaluate(run.state.coefficients, problem.objective.experts.map((e) => e.targets.map((_, i) => i))).loss;
  const wall = (performance.now() - started) / 1000;
  const weights = new Map([...problem.objective.mergedWeights(run.state.coefficients)].map(([k, v]) => [k, Float32Array.from(v)]));
  const note = `${steps} steps x ${batchSize} seqs/expert, lr ${learningRate}; logits cache ${teacherSeconds.toFixed(1)} s, training ${run.state.trainingSeconds.toFixed(1)} s; full-data loss ${uniformLoss.toFixed(4)} -> ${finalLoss.toFixed(4)}`;
  await score('DAM', await createRuntime(problem.config, weights), problem.tokenizer, wall, note);
  if (jsonOut) await writeFile(jsonOut, JSON.stringify({ family, skills, limit, steps, batchSize, learningRate, trainKinds, rows, history: run.state.history, coefficients: run.coefficientMeans() }, null, 1));
}

main(process.argv.slice(2)).catch((err) => {
  console.error(err);
  process.exit(1);
});
