// `merge-studio eval` with Hub ids (a model, and a recipe's models), read from the mock Hub on
// loopback serving the demo zoo: scores must equal those of the same local folders.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockHub, type MockHub } from '../../tools/mock-hub/server.ts';
import { parseEvalArgs, runEval } from './eval.ts';

const ZOO = resolve('public/zoo');
const TASKS = [join(ZOO, 'tasks/caesar.gen.jsonl'), join(ZOO, 'tasks/reverse.ppl.jsonl')].join(',');
let dir: string;
let hub: MockHub;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ms-eval-hub-'));
  hub = await startMockHub({ port: 0, root: ZOO });
});
afterAll(async () => {
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

const scores = (out: Awaited<ReturnType<typeof runEval>>) => out.results.map((r) => ({ task: r.task, metrics: r.metrics, perItem: r.perItem }));

describe('merge-studio eval with Hub ids', () => {
  it('scores a Hub model exactly like its local folder', async () => {
    hub.resetStats();
    const fromHub = await runEval(parseEvalArgs(['zoo/tiny-llama-caesar', '--task', TASKS, '--limit', '20', '--hub-url', hub.url, '--no-cache']));
    expect(hub.stats.fileBytes).toBeGreaterThan(0);
    const local = await runEval(parseEvalArgs([join(ZOO, 'tiny-llama/caesar'), '--task', TASKS, '--limit', '20']));
    expect(scores(fromHub)).toEqual(scores(local));
    expect(fromHub.results[0].metrics.exact_match).toBeGreaterThan(0.9); // the caesar expert really ran
  });

  it('merges a recipe of Hub ids in memory like the same recipe of folders', async () => {
    const recipe = (base: string, a: string, b: string) =>
      `merge_method: task_arithmetic\nbase_model: ${base}\nmodels:\n  - model: ${a}\n    parameters: {weight: 1}\n  - model: ${b}\n    parameters: {weight: 1}\ndtype: float32\n`;
    await writeFile(join(dir, 'hub.yml'), recipe('zoo/tiny-llama-base', 'zoo/tiny-llama-reverse', 'zoo/tiny-llama-caesar'));
    await writeFile(join(dir, 'local.yml'), recipe(join(ZOO, 'tiny-llama/base'), join(ZOO, 'tiny-llama/reverse'), join(ZOO, 'tiny-llama/caesar')));
    const fromHub = await runEval(parseEvalArgs([join(dir, 'hub.yml'), '--task', TASKS, '--limit', '12', `--hub-url=${hub.url}`, '--cache-dir', join(dir, 'cache')]));
    const local = await runEval(parseEvalArgs([join(dir, 'local.yml'), '--task', TASKS, '--limit', '12']));
    expect(scores(fromHub)).toEqual(scores(local));
  });

  it('names a missing repo, and refuses a path that is neither a folder nor a Hub id', async () => {
    await expect(runEval(parseEvalArgs(['zoo/tiny-llama-nope', '--task', TASKS, '--hub-url', hub.url, '--no-cache']))).rejects.toThrow(/zoo\/tiny-llama-nope/);
    await expect(runEval(parseEvalArgs(['./no/such/folder', '--task', TASKS]))).rejects.toThrow(/no such file or folder/);
  });
});
