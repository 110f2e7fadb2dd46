// `merge-studio search` end to end on the stories260K fixture (a real pretrained Llama): two
// "experts" are the model with seeded noise added to its layers, the objective is its perplexity
// passage. The front and best recipes written must agree with an independent evaluation through
// `merge-studio eval`, and a resumed run must equal an uninterrupted one.
import { mkdir, mkdtemp, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeFolderTree } from '../core/io/node-file.ts';
import { loadCausalLM } from '../core/eval/load.ts';
import { evaluateTask } from '../core/eval/metrics.ts';
import { parseTaskJsonl } from '../core/eval/tasks.ts';
import { parseRecipeYaml } from '../core/recipe/yaml.ts';
import { createMergeObjective, openSearchModels } from '../core/search/objective.ts';
import { Prng } from '../core/search/prng.ts';
import { paretoFront } from '../core/search/pareto.ts';
import { parseTrialLines, type TrialRecord } from '../core/search/store.ts';
import { parseEvalArgs, runEval } from './eval.ts';
import { run } from './search.ts';

const ZOO = 'public/zoo/stories260K';
const FILES = ['config.json', 'generation_config.json', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json'];

/** Copies the model, adding noise of `strength` x each layer tensor's RMS (F32 in place). */
async function noisyCopy(dir: string, seed: number, strength: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const f of FILES) await copyFile(join(ZOO, f), join(dir, f));
  const bytes = new Uint8Array(await readFile(join(ZOO, 'model.safetensors')));
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  const rng = new Prng(seed);
  for (const [name, info] of Object.entries(header)) {
    if (!name.startsWith('model.layers.') || info.dtype !== 'F32') continue;
    const start = 8 + headerLength + info.data_offsets[0];
    const values = new Float32Array(bytes.slice(start, 8 + headerLength + info.data_offsets[1]).buffer);
    const rms = Math.sqrt(values.reduce((a, v) => a + v * v, 0) / values.length);
    for (let i = 0; i < values.length; i++) values[i] += strength * rms * rng.normal();
    bytes.set(new Uint8Array(values.buffer), start);
  }
  await writeFile(join(dir, 'model.safetensors'), bytes);
}

let dir: string;
const comparable = (t: TrialRecord) => ({ ...t, seconds: 0, finishedAt: '' });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'search-cli-'));
  await noisyCopy(join(dir, 'models/base'), 0, 0);
  await noisyCopy(join(dir, 'models/noisy-a'), 1, 0.15);
  await noisyCopy(join(dir, 'models/noisy-b'), 2, 0.3);
  await mkdir(join(dir, 'tasks'));
  await copyFile(join(ZOO, 'tasks/story.ppl.jsonl'), join(dir, 'tasks/story.ppl.jsonl'));
  await writeFile(
    join(dir, 'spec.yml'),
    `base_model: models/base
models: [models/noisy-a, models/noisy-b]
space: { kind: global, methods: [task_arithmetic, ties] }
objectives: [{ name: story.perplexity, ref: 1000 }, { name: story.nll_per_token, direction: max }]
tasks: tasks
optimizer: random
budget: { trials: 6 }
seed: 3
`,
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('merge-studio search', () => {
  it('writes trials, a front and best recipes that an independent evaluation confirms', async () => {
    const out = join(dir, 'out');
    expect(await run([join(dir, 'spec.yml'), '--out', out, '--quiet'])).toBe(0);
    const trials = parseTrialLines(await readFile(join(out, 'trials.jsonl'), 'utf8'), 'trials.jsonl') as TrialRecord<never>[];
    expect(trials).toHaveLength(6);
    const ppl = trials.map((t) => t.objectives['story.perplexity']);
    expect(new Set(ppl.map((v) => v.toFixed(6))).size).toBeGreaterThan(1); // the candidates really differ

    // perplexity minimised and nll_per_token maximised pull in opposite directions (perplexity =
    // exp(nll)), so the front must hold exactly the non-dominated trials, i.e. all distinct ones
    const frontier = JSON.parse(await readFile(join(out, 'frontier.json'), 'utf8'));
    const losses = trials.map((t) => [t.objectives['story.perplexity'], -t.objectives['story.nll_per_token']]);
    expect(frontier.front.map((f: { trial: number }) => f.trial).sort()).toEqual(paretoFront(losses).map((i) => trials[i].id).sort());
    expect(frontier.trials).toBe(6);
    const bestTrial = trials[ppl.indexOf(Math.min(...ppl))];
    expect(frontier.best['story.perplexity']).toEqual({ value: bestTrial.objectives['story.perplexity'], trial: bestTrial.id });

    // the exported best recipe (model paths relative to the output folder) evaluates to the same
    // perplexity through merge-studio eval
    const bestYaml = join(out, 'best-story.perplexity.yml');
    const recipe = parseRecipeYaml(await readFile(bestYaml, 'utf8'), { source: bestYaml });
    expect(recipe.base_model).toBe('../models/base');
    const evaluated = await runEval(parseEvalArgs([bestYaml, '--task', join(dir, 'tasks/story.ppl.jsonl')]));
    expect(evaluated.results[0].metrics.perplexity).toBeCloseTo(bestTrial.objectives['story.perplexity'], 6);
  });

  it('resumes: a run stopped after 3 trials and continued equals an uninterrupted run', async () => {
    const out = join(dir, 'resumed');
    expect(await run([join(dir, 'spec.yml'), '--out', out, '--quiet', '--trials', '3'])).toBe(0);
    expect(await run([join(dir, 'spec.yml'), '--out', out, '--quiet'])).toBe(0);
    const resumed = parseTrialLines(await readFile(join(out, 'trials.jsonl'), 'utf8'), 'resumed');
    const straight = parseTrialLines(await readFile(join(dir, 'out', 'trials.jsonl'), 'utf8'), 'straight');
    expect(resumed.map(comparable)).toEqual(straight.map(comparable));
    // another seed is another search: the folder refuses it
    await expect(run([join(dir, 'spec.yml'), '--out', out, '--quiet', '--seed', '4'])).rejects.toThrow(/holds trials of a different search spec/);
  });

  it('scores mean(...) objectives as the average of their parts', async () => {
    const models = await openSearchModels('models/base', ['models/noisy-a'], (ref) => nodeFolderTree(join(dir, ref)));
    const objective = await createMergeObjective({
      models: models.handles,
      tasks: nodeFolderTree(join(dir, 'tasks')),
      objectives: [
        { name: 'story.perplexity', direction: 'min', ref: 1000 },
        { name: 'story.nll_per_token', direction: 'min', ref: 10 },
        { name: 'mean(story.perplexity, story.nll_per_token)', direction: 'min', ref: 1000 },
      ],
    });
    const values = await objective(
      { merge_method: 'linear', models: [{ model: 'models/noisy-a', parameters: { weight: 1 } }] },
      1,
      new AbortController().signal,
    );
    expect(values['story.perplexity']).toBeCloseTo(Math.exp(values['story.nll_per_token']), 9);
    expect(values['mean(story.perplexity, story.nll_per_token)']).toBeCloseTo((values['story.perplexity'] + values['story.nll_per_token']) / 2, 12);
  });

  it('reuses the items a promoted candidate was scored on at a lower fidelity, with unchanged results', async () => {
    // an exact-match task whose answers are the base model's own greedy continuations for half the prompts
    const prompts = ['Once upon a time', 'The cat', 'Lily wanted', 'One day, a', 'The sun was', 'Tom and his'];
    const baseModel = await loadCausalLM(nodeFolderTree(join(dir, 'models/base')));
    const own = await evaluateTask(baseModel.model, baseModel.files.tokenizer, {
      name: 'probe',
      kind: 'exact_match',
      items: prompts.map((prompt) => ({ prompt, answer: '' })),
    });
    const items = prompts.map((prompt, i) => ({ prompt, answer: i % 2 === 0 ? own.perItem[i].output! : 'no' }));
    await mkdir(join(dir, 'tasks-em'), { recursive: true });
    await writeFile(join(dir, 'tasks-em/probe.gen.jsonl'), items.map((it) => JSON.stringify(it)).join('\n'));
    const task = parseTaskJsonl(items.map((it) => JSON.stringify(it)).join('\n'), 'probe.gen.jsonl');

    const models = await openSearchModels('models/base', ['models/noisy-a'], (ref) => nodeFolderTree(join(dir, ref)));
    const evaluated: number[] = [];
    const objective = await createMergeObjective({
      models: models.handles,
      tasks: nodeFolderTree(join(dir, 'tasks-em')),
      objectives: [{ name: 'probe.exact_match', direction: 'max' }],
      onItemsEvaluated: (_, n) => evaluated.push(n),
    });
    const base = { merge_method: 'linear', models: [{ model: 'models/base', parameters: { weight: 1 } }] };
    const signal = new AbortController().signal;
    const atThird = await objective(base, 1 / 3, signal);
    const atFull = await objective(base, 1, signal);
    expect(evaluated).toEqual([2, 4]); // 2 items, then only the 4 not yet scored
    // the same values as evaluating each subset from scratch with the eval module
    const direct = async (limit: number) => (await evaluateTask(baseModel.model, baseModel.files.tokenizer, task, { limit })).metrics.exact_match;
    expect(atThird['probe.exact_match']).toBe(await direct(2));
    expect(atFull['probe.exact_match']).toBe(await direct(6));
    expect(atFull['probe.exact_match']).toBe(0.5);
  });

  it('rejects bad arguments and specs with clear messages', async () => {
    await expect(run([join(dir, 'spec.yml')])).rejects.toThrow(/--out DIR is required/);
    await expect(run([join(dir, 'spec.yml'), '--out', join(dir, 'x'), '--optimizer', 'bayes'])).rejects.toThrow(/--optimizer must be one of/);
    await writeFile(join(dir, 'bad.yml'), (await readFile(join(dir, 'spec.yml'), 'utf8')).replace('story.perplexity, ref', 'story.perplexty, ref'));
    await expect(run([join(dir, 'bad.yml'), '--out', join(dir, 'bad')])).rejects.toThrow(/story.perplexty.*did you mean 'perplexity'/);
  });
});
