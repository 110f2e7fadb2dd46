// DAM through the studio engine (Node, CPU): the worker's run trains on each expert's own task files
// with the requested settings — its losses and coefficient means equal a DamRun built directly from
// the core on the same models and data — and a run continued to more steps equals an uninterrupted one.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COEFFICIENTS_FILE, DamRun, exportDamMerge, prepareDamProblem } from '../core/dam/index.ts';
import { memorySinks } from '../core/io/memory.ts';
import { openModel } from '../core/model/handle.ts';
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
  return { losses: run.state.history.map((h) => h.loss), means: run.coefficientMeans(), layout: run.objective.layout, coefficients: run.state.coefficients };
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

  it('exports the DAM result exactly: every file equals the core\'s exportDamMerge of the same experts and coefficients, plus dam/training.json', async () => {
    const engine = await engineWithModels();
    const noEvents = () => undefined;
    await expect(engine.exportDam({ kind: 'memory' }, 'export', noEvents)).rejects.toThrow(/no DAM result to export yet: train DAM first/);
    await engine.startDam({ experts: ['add', 'reverse'], steps: 3, ...SETTINGS }, noEvents);
    const progress: string[] = [];
    const out = await engine.exportDam({ kind: 'memory' }, 'export', (e) => e.type === 'progress' && progress.push(e.progress.phase), { shardSize: 4096 });
    const ref = await reference(3);
    const handles = await Promise.all(['add', 'reverse'].map((name) => openModel(nodeFolderTree(join(dir, name)), undefined, name)));
    const expected = memorySinks();
    await exportDamMerge({ experts: handles, layout: ref.layout, coefficients: ref.coefficients, sinks: expected, shardSize: 4096 });
    const got = out.data!;
    expect(Object.keys(got).sort()).toEqual([...expected.files.keys(), 'dam/training.json'].sort());
    expect(Object.keys(got).filter((f) => f.endsWith('.safetensors') && !f.startsWith('dam/')).length).toBeGreaterThan(1);
    for (const [name, bytes] of expected.files) expect(Buffer.from(got[name]).equals(Buffer.from(bytes)), name).toBe(true);
    expect(got[COEFFICIENTS_FILE].length).toBeGreaterThan(0);
    const training = JSON.parse(new TextDecoder().decode(got['dam/training.json']));
    expect(training.steps).toBe(3);
    expect(training.history.map((h: { loss: number }) => h.loss)).toEqual(ref.losses);
    expect(progress.length).toBeGreaterThan(0);
    expect(out.files.map((f) => f.name).sort()).toEqual(Object.keys(got).sort());

    // A model of the result removed: the export says which and what to do.
    engine.removeModel('reverse');
    await expect(engine.exportDam({ kind: 'memory' }, 'export', noEvents)).rejects.toThrow(/folds 'reverse', which is no longer loaded: add it again in Models/);
  }, 120_000);

  it('refuses to export while DAM trains, and a cancelled export leaves nothing in its sinks', async () => {
    const engine = await engineWithModels();
    await engine.startDam({ experts: ['add', 'reverse'], steps: 1, ...SETTINGS }, () => undefined);
    let running!: Promise<void>;
    const started = new Promise<void>((resolve) => {
      running = engine.startDam({ experts: ['add', 'reverse'], steps: 40, ...SETTINGS }, (u) => u.type === 'step' && resolve());
    });
    await started;
    await expect(engine.exportDam({ kind: 'memory' }, 'export', () => undefined)).rejects.toThrow(/DAM is still training: pause or stop it/);
    engine.pauseDam();
    await running;
    const sinks = memorySinks();
    const exporting = engine.exportDam({ kind: 'sinks', sinks }, 'export', (e) => e.type === 'progress' && e.progress.phase === 'merge' && engine.cancel('export'));
    await expect(exporting).rejects.toThrow(/cancel/);
    expect([...sinks.files.keys()]).toEqual([]);
  }, 120_000);
});
