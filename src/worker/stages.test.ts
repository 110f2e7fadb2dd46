// The studio engine with a multi-stage recipe (a search trial of the layer-wise space): it checks,
// evaluates, re-merges only the tensors a changed stage feeds, and exports every document.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpuBackend, execute, plan } from '../core/engine/index.ts';
import { memorySinks } from '../core/io/memory.ts';
import { parseRecipeYaml, type Recipe } from '../core/recipe/index.ts';
import { FIXTURE_LLAMA, writeFixtureModel } from '../../tools/mock-hub/fixture-zoo.ts';
import { StudioEngine } from './engine.ts';

let dir: string;
const ARCH = { ...FIXTURE_LLAMA, layers: 3 };
const PPL = ['abc', 'hello world', '1+2=3', 'the cat sat', 'zz yy xx', 'merge'].map((text) => JSON.stringify({ text })).join('\n');

async function engineWithModels(): Promise<StudioEngine> {
  const engine = new StudioEngine({ zooUrl: 'http://127.0.0.1:9/zoo/', gpu: false });
  for (const name of ['base', 'add', 'reverse']) {
    const folder = join(dir, name);
    const files = await Promise.all((await readdir(folder)).map(async (f) => ({ path: `${name}/${f}`, file: new File([await readFile(join(folder, f))], f) })));
    await engine.addModel({ kind: 'files', files });
  }
  engine.addTaskFile('story.ppl.jsonl', PPL);
  return engine;
}

/** Attention from a TIES stage, everything else from a task-arithmetic stage with `lambda`. */
function staged(lambda: number): Recipe {
  return parseRecipeYaml(`name: ties-stage
merge_method: ties
base_model: base
models:
  - model: add
    parameters: {weight: 0.6, density: 0.5}
  - model: reverse
    parameters: {weight: 0.4, density: 0.5}
dtype: float32
---
name: ta-stage
merge_method: task_arithmetic
base_model: base
models:
  - model: add
    parameters: {weight: 0.5}
  - model: reverse
    parameters: {weight: 0.5}
parameters: {lambda: ${lambda}}
dtype: float32
---
merge_method: linear
models:
  - model: ties-stage
    parameters: {weight: [{filter: self_attn, value: 1}, {value: 0}]}
  - model: ta-stage
    parameters: {weight: [{filter: self_attn, value: 0}, {value: 1}]}
dtype: float32
`);
}

const evaluate = (engine: StudioEngine, r: Recipe) => engine.evaluate({ recipe: r, tasks: ['story.ppl.jsonl'], stages: [0], backend: 'cpu' }, 'live', () => undefined);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'studio-stages-'));
  for (const [name, seed] of [['base', 11], ['add', 12], ['reverse', 13]] as const) await writeFixtureModel(join(dir, name), ARCH, seed);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('StudioEngine with a multi-stage recipe', () => {
  it('evaluates it, and re-merges only the tensors the changed stage feeds', async () => {
    const engine = await engineWithModels();
    expect(engine.check(staged(1))).toEqual({ ok: true, notices: [], steps: 3 * 9 + 3, layers: 3 });
    const first = await evaluate(engine, staged(1));
    expect(first[0].remerged).toBe(3 * 9 + 3);
    expect((await evaluate(engine, staged(1)))[0].remerged).toBe(0);
    // lambda of the task-arithmetic stage: every tensor but the 4 attention projections per layer
    const edited = await evaluate(engine, staged(0.7));
    expect(edited[0].remerged).toBe(3 * 5 + 3);
    const fresh = await evaluate(await engineWithModels(), staged(0.7));
    expect(edited[0].scores).toEqual(fresh[0].scores);
    expect(edited[0].scores[0].value).not.toBe(first[0].scores[0].value);
  });

  it('exports what the engine exports, mergekit_config.yml with every document', async () => {
    const engine = await engineWithModels();
    const r = staged(1);
    const written = memorySinks();
    const out = await engine.exportModel(r, { kind: 'sinks', sinks: written }, 'export', () => undefined);
    expect(out.files.map((f) => [f.name, f.bytes])).toEqual([...written.files].map(([name, bytes]) => [name, bytes.byteLength]));
    const data = Object.fromEntries(written.files);
    const reference = memorySinks();
    const handles = new Map(['base', 'add', 'reverse'].map((ref) => [ref, (engine as unknown as { handles: Map<string, never> }).handles.get(ref)!]));
    await execute(plan(r, handles), { sinks: reference, backend: cpuBackend });
    expect(Object.keys(data).sort()).toEqual([...reference.files.keys()].sort());
    for (const [name, bytes] of reference.files) expect(data[name], name).toEqual(bytes);
    expect(parseRecipeYaml(new TextDecoder().decode(data['mergekit_config.yml']))).toEqual(r);
    const typo = { ...r, models: [{ model: 'ties-stag', parameters: { weight: 1 } }] };
    expect(engine.check(typo)).toEqual({ ok: false, error: expect.stringContaining("did you mean 'ties-stage'?") });
  });
});
