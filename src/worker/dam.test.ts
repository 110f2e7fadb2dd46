// DAM through the studio engine (Node, CPU): the worker's run trains on each expert's own task files
// with the requested settings — its losses and coefficient means equal a DamRun built directly from
// the core on the same models and data — and a run continued to more steps equals an uninterrupted one.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DamRun, prepareDamProblem } from '../core/dam/index.ts';
import { parseTaskJsonl } from '../core/eval/tasks.ts';
import { nodeFolderTree } from '../core/io/node-file.ts';
import { FIXTURE_LLAMA, writeFixtureModel } from '../../tools/mock-hub/fixture-zoo.ts';
import { StudioEngine } from './engine.ts';
import type { DamUpdate } from './protocol.ts';

let dir: string;
const ARCH = { ...FIXTURE_LLAMA, layers: 2 };
const TEXTS: Record<string, string[]> = {
  add: ['1+2=3', '2+2=4', '3+4=7', '5+1=6'],
  reverse: ['abc cba', 'hello olleh', 'cat tac', 'xyz zyx'],
};
const ppl = (skill: string) => TEXTS[skill].map((text) => JSON.stringify({ text })).join('\n');
const SETTINGS = { learningRate: 0.01, batchSize: 2, seed: 3 };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'studio-dam-'));
  for (const [name, seed] of [['base', 11], ['add', 12], ['reverse', 13]] as const) await writeFixtureModel(join(dir, name), ARCH, seed);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function engineWithModels(): Promise<StudioEngine> {
  const engine = new StudioEngine({ zooUrl: 'http://127.0.0.1:9/zoo/', gpu: false });
  for (const name of ['base', 'add', 'reverse']) {
    const folder = join(dir, name);
    const files = await Promise.all((await readdir(folder)).map(async (f) => ({ path: `${name}/${f}`, file: new File([await readFile(join(folder, f))], f) })));
    await engine.addModel({ kind: 'files', files });
  }
  for (const skill of ['add', 'reverse']) engine.addTaskFile(`${skill}.ppl.jsonl`, ppl(skill));
  return engine;
}

async function reference(steps: number) {
  const sources = ['add', 'reverse'].map((s) => ({ name: s, tree: nodeFolderTree(join(dir, s)), tasks: [parseTaskJsonl(ppl(s), `${s}.ppl.jsonl`)] }));
  const run = new DamRun((await prepareDamProblem(sources)).objective, { ...SETTINGS, steps });
  await run.run();
  return { losses: run.state.history.map((h) => h.loss), means: run.coefficientMeans() };
}

describe('StudioEngine DAM', () => {
  it('trains on the experts\' own task files exactly as the core does, and continues a finished run', async () => {
    const engine = await engineWithModels();
    const updates: DamUpdate[] = [];
    await engine.startDam({ experts: ['add', 'reverse'], steps: 3, ...SETTINGS }, (u) => updates.push(u));
    const ref3 = await reference(3);
    const losses = updates.flatMap((u) => (u.type === 'step' ? [u.loss] : []));
    expect(losses).toEqual(ref3.losses);
    expect(updates.filter((u) => u.type === 'status').map((u) => u.type === 'status' && u.status)).toEqual(['preparing', 'running', 'finished']);
    const coefficients = updates.find((u) => u.type === 'coefficients');
    expect(coefficients?.type === 'coefficients' && coefficients.models).toEqual(['add', 'reverse']);
    expect(coefficients?.type === 'coefficients' && coefficients.means.map((m) => m.means)).toEqual(ref3.means.map((m) => m.means));

    // Continuing to 5 steps equals an uninterrupted 5-step run (batches depend on seed and step only).
    const more: DamUpdate[] = [];
    await engine.startDam({ experts: ['add', 'reverse'], steps: 5, ...SETTINGS }, (u) => more.push(u));
    const ref5 = await reference(5);
    expect(more.flatMap((u) => (u.type === 'step' ? [u.step] : []))).toEqual([4, 5]);
    expect(more.flatMap((u) => (u.type === 'step' ? [u.loss] : []))).toEqual(ref5.losses.slice(3));
  }, 120_000);

  it('stop while the teachers\' logits are being cached ends the run as stopped, with no step taken', async () => {
    const engine = await engineWithModels();
    const updates: DamUpdate[] = [];
    const started = engine.startDam({ experts: ['add', 'reverse'], steps: 3, ...SETTINGS }, (u) => updates.push(u));
    engine.stopDam();
    await started;
    expect(updates).toEqual([{ type: 'status', status: 'preparing' }, { type: 'status', status: 'stopped' }]);
  });

  it('refuses an expert without task data, naming the model and the file it expected', async () => {
    const engine = await engineWithModels();
    const updates: DamUpdate[] = [];
    await expect(engine.startDam({ experts: ['add', 'base'], steps: 1, ...SETTINGS }, (u) => updates.push(u))).rejects.toThrow(/skill 'base' of 'base'.*base\.ppl\.jsonl/);
    expect(updates.at(-1)).toMatchObject({ type: 'status', status: 'failed' });
  });
});
