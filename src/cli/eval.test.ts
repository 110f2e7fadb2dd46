// `merge-studio eval` on the stories260K fixture: llama2.c's greedy stories as exact-match items,
// its perplexity passage, and a recipe merged in memory.
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MergeStudioError } from '../core/errors.ts';
import { parseEvalArgs, runEval } from './eval.ts';

const DIR = 'public/zoo/stories260K';
const TASKS = [`${DIR}/tasks/story.gen.jsonl`, `${DIR}/tasks/story.ppl.jsonl`];
const reference = JSON.parse(readFileSync(`${DIR}/reference.json`, 'utf8')) as { ppl: { perplexity: number } };

describe('merge-studio eval', () => {
  it('reproduces run.c greedy stories and perplexity on a model folder', async () => {
    const out = await runEval(parseEvalArgs([DIR, '--task', TASKS.join(','), '--max-new-tokens', '50']));
    expect(out.results.map((r) => [r.task, r.kind, r.items])).toEqual([['story.gen', 'exact_match', 3], ['story.ppl', 'perplexity', 1]]);
    expect(out.results[0].metrics.exact_match).toBe(1);
    expect(Math.abs(out.results[1].metrics.perplexity / reference.ppl.perplexity - 1)).toBeLessThan(1e-3);
    // Cut at 20 tokens the stories no longer match the 50-token answers.
    const short = await runEval(parseEvalArgs([DIR, '--task', TASKS[0], '--max-new-tokens', '20', '--limit', '2']));
    expect(short.results[0].items).toBe(2);
    expect(short.results[0].metrics.exact_match).toBe(0);
  });

  it('merges a recipe in memory and evaluates it without writing a model', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'eval-cli-'));
    try {
      const model = resolve(DIR);
      // A merge of the model with itself is the model: the metrics must not move.
      await writeFile(join(dir, 'self.yml'), `merge_method: linear\ndtype: float32\nmodels:\n  - model: ${model}\n    parameters:\n      weight: 0.4\n  - model: ${model}/.\n    parameters:\n      weight: 0.6\n`);
      const out = await runEval(parseEvalArgs([join(dir, 'self.yml'), '--task', TASKS[1]]));
      expect(out.target).toMatch(/merged in memory/);
      expect(Math.abs(out.results[0].metrics.perplexity / reference.ppl.perplexity - 1)).toBeLessThan(1e-3);
      expect(await readdir(dir)).toEqual(['self.yml']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects bad arguments with a usage message', () => {
    const cases: [string[], RegExp][] = [
      [[DIR], /--task is required \(a JSONL file, a benchmark name or a task YAML\)/],
      [[DIR, '--task', 'x.jsonl', '--limit', '0'], /--limit: expected a positive integer, found '0'/],
      [[DIR, '--task', 'x.jsonl', '--backend', 'tpu'], /--backend: expected cpu or gpu, found 'tpu'/],
      [[DIR, '--task', 'x.jsonl', '--frobnicate', '1'], /unknown option --frobnicate/],
      [['--task', 'x.jsonl'], /no model folder or recipe given/],
    ];
    for (const [argv, re] of cases) {
      expect(() => parseEvalArgs(argv)).toThrow(MergeStudioError);
      expect(() => parseEvalArgs(argv)).toThrow(re);
    }
  });

  it('names a missing task file and refuses an architecture outside the Llama family', async () => {
    await expect(runEval(parseEvalArgs([DIR, '--task', 'nope.gen.jsonl']))).rejects.toThrow(/nope\.gen\.jsonl: cannot read the task file/);
    const dir = await mkdtemp(join(tmpdir(), 'eval-cli-'));
    try {
      await writeFile(join(dir, 'config.json'), JSON.stringify({ model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], n_embd: 64 }));
      await expect(runEval(parseEvalArgs([dir, '--task', TASKS[1]]))).rejects.toThrow(/model_type 'gpt2' \(GPT2LMHeadModel\) is outside the Llama family/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
