// The CLI against clumsy and hostile input (issue 18): --out paths that are links, files or kernel
// pseudo file systems, staging folders of killed runs, merges that overflow, model paths that are
// files, config.json sizes that the tensors contradict, search specs that fail their check. Each
// case asserts the exact message and that nothing is left on disk.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MergeStudioError } from '../core/errors.ts';
import { parseEvalArgs, runEval } from './eval.ts';
import { parseMergeArgs, runMerge } from './merge.ts';
import { run as runSearch } from './search.ts';

const ZOO = resolve('public/zoo/tiny-llama');
const TASK = resolve('public/zoo/tasks/caesar.gen.jsonl');

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cli-robust-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function messageOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(MergeStudioError);
    return (err as Error).message;
  }
  throw new Error('expected an error');
}

async function recipe(name: string, weight = '1', model = `${ZOO}/caesar`): Promise<string> {
  const path = join(work, name);
  await writeFile(path, `models:\n  - model: ${model}\n    parameters: {weight: ${weight}}\nbase_model: ${ZOO}/base\nmerge_method: task_arithmetic\n`);
  return path;
}

/** A copy of a zoo model with config.json changed. */
async function modelWithConfig(name: string, change: Record<string, unknown>): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  for (const f of await readdir(`${ZOO}/caesar`)) await copyFile(`${ZOO}/caesar/${f}`, join(dir, f));
  const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(dir, 'config.json'), JSON.stringify({ ...config, ...change }));
  return dir;
}

const merge = (r: string, out: string, ...more: string[]) => runMerge(parseMergeArgs([r, '--out', out, ...more]));

describe('--out is checked once, before any work', () => {
  it('/proc/self/x is refused at once (Node mkdir -p would spin there forever)', async () => {
    expect(await messageOf(merge(await recipe('ok.yml'), '/proc/self/x'))).toBe('--out /proc/self/x: /proc/self is on procfs, a kernel pseudo file system, not a regular one; choose a folder on a disk');
  });

  it('a symbolic link to an empty folder is refused up front, and the folder is left as it was', async () => {
    const target = join(work, 'empty-target');
    await mkdir(target);
    const link = join(work, 'out-link');
    await symlink(target, link);
    expect(await messageOf(merge(await recipe('ok.yml'), link))).toBe(`--out ${link}: is a symbolic link (to ${target}); give the folder's own path or a new folder`);
    expect(await readdir(target)).toEqual([]);
    expect((await readdir(work)).filter((f) => f.startsWith('out-link.partial'))).toEqual([]);
  });

  it('a path under a file, and a file, are refused with what they are', async () => {
    const file = await recipe('ok.yml');
    expect(await messageOf(merge(file, join(file, 'x')))).toBe(`--out ${join(file, 'x')}: ${file} is a file, so no folder can be created under it`);
    expect(await messageOf(merge(file, file))).toBe(`--out ${file}: is a file, not a folder; choose a new folder`);
  });
});

describe('staging folders of killed runs', () => {
  it('the next run removes OUT.partial-PID of dead processes only, next to the same --out', async () => {
    const out = join(work, 'stale-out');
    // A process that has exited (its PID is free) and one that is still running.
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => dead.once('exit', r));
    const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      const names = [`stale-out.partial-${dead.pid}`, `stale-out.partial-${live.pid}`, 'stale-out.partial-abc', `other.partial-${dead.pid}`];
      for (const n of names) {
        await mkdir(join(work, n, 'sub'), { recursive: true });
        await writeFile(join(work, n, 'sub', 'model-00001-of-00002.safetensors'), 'x');
      }
      await merge(await recipe('ok.yml'), out);
      expect(existsSync(join(out, 'config.json'))).toBe(true);
      const left = (await readdir(work)).filter((f) => f.includes('.partial'));
      expect(left.sort()).toEqual([`other.partial-${dead.pid}`, `stale-out.partial-${live.pid}`, 'stale-out.partial-abc'].sort());
    } finally {
      live.kill();
    }
  });
});

describe('non-finite merges through the CLI', () => {
  it('task_arithmetic weight 1e308: exit with the tensor and parameter named, no --out and no staging folder left', async () => {
    const out = join(work, 'overflow-out');
    const r = await recipe('overflow.yml', '1e308');
    const message = await messageOf(merge(r, out));
    expect(message).toMatch(/^tensor 'model\.embed_tokens\.weight': \d+ of \d+ merged values \(\d+%\) are NaN or infinite \(first: element \d+ = -?(Infinity|NaN)\); the inputs are finite, so the recipe's parameters overflowed: check task_arithmetic weight 1e\+308 on model '.*\/tiny-llama\/caesar'; nothing was written/);
    expect(existsSync(out)).toBe(false);
    expect((await readdir(work)).filter((f) => f.startsWith('overflow-out'))).toEqual([]);
    // Knowingly: the flag writes it.
    await merge(r, out, '--allow-non-finite');
    expect(existsSync(join(out, 'config.json'))).toBe(true);
  });

  it('eval of a recipe merged in memory refuses non-finite tensors too', async () => {
    const message = await messageOf(runEval(parseEvalArgs([await recipe('overflow-eval.yml', '1e308'), '--task', TASK, '--limit', '1'])));
    expect(message).toMatch(/^tensor 'model\.embed_tokens\.weight': \d+ of \d+ merged values .* check task_arithmetic weight 1e\+308 on model '.*\/tiny-llama\/caesar'; nothing was written/);
  });
});

describe('model paths and config.json sizes', () => {
  it('a model path that is a file says so', async () => {
    const notes = join(work, 'notes.txt');
    await writeFile(notes, 'not a model');
    expect(await messageOf(merge(await recipe('file-model.yml', '1', notes), join(work, 'file-model-out')))).toBe(
      `${notes}: is a file, not a model folder (give the folder that holds config.json and the .safetensors files)`,
    );
  });

  it('num_hidden_layers 1e9 is refused against the tensors, in merge (plan) and eval', async () => {
    const dir = await modelWithConfig('billion-layers', { num_hidden_layers: 1e9 });
    expect(await messageOf(merge(await recipe('billion.yml', '1', dir), join(work, 'billion-out')))).toBe(
      `${dir}/config.json: 'num_hidden_layers' is 1000000000, but the safetensors files hold 4 layer(s) (layer indices 0 to 3)`,
    );
    expect(await messageOf(runEval(parseEvalArgs([dir, '--task', TASK, '--limit', '1'])))).toBe(
      `${dir}/config.json: num_hidden_layers is 1000000000, but the tensors hold 4 layer(s) (model.layers.0 to model.layers.3)`,
    );
  });

  it('negative and non-integer layer counts are named', async () => {
    const neg = await modelWithConfig('negative-layers', { num_hidden_layers: -2 });
    expect(await messageOf(merge(await recipe('neg.yml', '1', neg), join(work, 'neg-out')))).toBe(`${neg}/config.json: 'num_hidden_layers' must be a non-negative integer, found -2`);
    const half = await modelWithConfig('half-layers', { num_hidden_layers: 2.5 });
    expect(await messageOf(runEval(parseEvalArgs([half, '--task', TASK, '--limit', '1'])))).toBe(`${half}/config.json: 'num_hidden_layers' must be a positive integer, found 2.5`);
  });

  it('huge hidden, vocabulary and intermediate sizes are refused naming the key and the tensor', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ vocab_size: 1e12 }, /config\.json\)?: vocab_size is 1000000000000, but model\.embed_tokens\.weight has \d+ rows \(shape \[\d+,\d+\]\)$/],
      [{ hidden_size: 1e9, num_attention_heads: 1e6 }, /config\.json\)?: hidden_size is 1000000000, but model\.embed_tokens\.weight has \d+ columns/],
      [{ intermediate_size: 1e10 }, /config\.json\)?: intermediate_size is 10000000000, but model\.layers\.0\.mlp\.gate_proj\.weight has \d+ rows/],
    ];
    for (const [i, [change, expected]] of cases.entries()) {
      const dir = await modelWithConfig(`huge-${i}`, change);
      expect(await messageOf(runEval(parseEvalArgs([dir, '--task', TASK, '--limit', '1'])))).toMatch(expected);
      // The same config as the first model of a recipe evaluated in memory: the merged config
      // is checked against the tensors the plan produces (the plan itself sets vocab_size from
      // the merged embeddings).
      if ('vocab_size' in change) continue;
      const r = join(work, `huge-${i}.yml`);
      await writeFile(r, `models:\n  - model: ${dir}\n    parameters: {weight: 1}\n  - model: ${ZOO}/base\n    parameters: {weight: 0}\nmerge_method: linear\n`);
      expect(await messageOf(runEval(parseEvalArgs([r, '--task', TASK, '--limit', '1'])))).toMatch(expected);
    }
  });
});

describe('search specs that fail leave no --out', () => {
  async function spec(name: string, text: string): Promise<string> {
    const path = join(work, name);
    await writeFile(path, text);
    return path;
  }
  const BASE = `base_model: ${ZOO}/base\nmodels: [${ZOO}/caesar, ${ZOO}/reverse]\nobjectives: [caesar.exact_match]\ntasks: ${resolve('public/zoo/tasks')}\nbudget: {trials: 1}\n`;

  it('ranges outside a method domain fail the spec check, naming the key and line', async () => {
    const path = await spec('bad-ranges.yml', `${BASE}space:\n  kind: global\n  methods: [ties]\n  ranges:\n    density: [-1, -0.5]\n`);
    const out = join(work, 'search-ranges-out');
    expect(await messageOf(runSearch([path, '--out', out, '--quiet']))).toBe(
      `${path}: line 10: space.ranges.density [-1, -0.5] lies outside ties's 'density' domain [0, 1]; every value the search tries must be valid`,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('a model that is a file, or no tasks folder, fails before --out is created', async () => {
    const notes = join(work, 'notes.txt');
    await writeFile(notes, 'not a model');
    const out = join(work, 'search-file-out');
    const path = await spec('file-model.yml', BASE.replace(`${ZOO}/base`, notes));
    expect(await messageOf(runSearch([path, '--out', out, '--quiet']))).toBe(`${notes}: is a file, not a folder`);
    expect(existsSync(out)).toBe(false);
    const noTasks = await spec('no-tasks.yml', BASE.replace(/tasks: .*\n/, ''));
    expect(await messageOf(runSearch([noTasks, '--out', out, '--quiet']))).toBe(`${noTasks}: 'tasks' (the folder of task JSONL files) is required unless every objective names a benchmark`);
    expect(existsSync(out)).toBe(false);
  });
});
