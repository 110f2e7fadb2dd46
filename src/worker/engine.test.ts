// The studio engine in Node (CPU backends): partial re-merging of the resident model gives the same
// scores as a fresh merge, only the tensors whose parameters changed are re-merged, stale
// evaluations are cancelled, and exports equal the engine's own export of the same recipe.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpuBackend, execute, plan } from '../core/engine/index.ts';
import { memorySinks } from '../core/io/memory.ts';
import { nodeFolderTree } from '../core/io/node-file.ts';
import { loadCausalLM } from '../core/eval/load.ts';
import type { Recipe } from '../core/recipe/index.ts';
import { FIXTURE_LLAMA, writeFixtureModel } from '../../tools/mock-hub/fixture-zoo.ts';
import { StudioEngine } from './engine.ts';
import type { EngineEvent, EvalStage } from './protocol.ts';

let dir: string;
const ARCH = { ...FIXTURE_LLAMA, layers: 3 };
const PPL = ['abc', 'hello world', '1+2=3', 'the cat sat', 'zz yy xx', 'merge'].map((text) => JSON.stringify({ text })).join('\n');
const GEN = ['1+1=', '2+2=', 'ab='].map((prompt) => JSON.stringify({ prompt, answer: '2' })).join('\n');

async function engineWithModels(): Promise<StudioEngine> {
  const engine = new StudioEngine({ zooUrl: 'http://127.0.0.1:9/zoo/', gpu: false });
  for (const name of ['base', 'add', 'reverse']) {
    const folder = join(dir, name);
    const files = await Promise.all((await readdir(folder)).map(async (f) => ({ path: `${name}/${f}`, file: new File([await readFile(join(folder, f))], f) })));
    const summary = await engine.addModel({ kind: 'files', files });
    expect(summary).toMatchObject({ ref: name, numLayers: 3, architecture: 'llama', origin: 'local' });
  }
  engine.addTaskFile('story.ppl.jsonl', PPL);
  engine.addTaskFile('sum.gen.jsonl', GEN);
  return engine;
}

function recipe(layerWeights: number[]): Recipe {
  return { merge_method: 'task_arithmetic', base_model: 'base', models: [{ model: 'add', parameters: { weight: layerWeights } }, { model: 'reverse', parameters: { weight: 0.5 } }] };
}

async function scores(engine: StudioEngine, r: Recipe, stages = [0]): Promise<EvalStage[]> {
  return engine.evaluate({ recipe: r, tasks: ['story.ppl.jsonl', 'sum.gen.jsonl'], stages, backend: 'cpu' }, 'live', () => undefined);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'studio-engine-'));
  for (const [name, seed] of [['base', 11], ['add', 12], ['reverse', 13]] as const) await writeFixtureModel(join(dir, name), ARCH, seed);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('StudioEngine', () => {
  it('describes a model: parameters per layer and outside, a tensor per module group', async () => {
    const engine = await engineWithModels();
    const folder = join(dir, 'base');
    const files = await Promise.all((await readdir(folder)).map(async (f) => ({ path: `base/${f}`, file: new File([await readFile(join(folder, f))], f) })));
    const s = await engine.addModel({ kind: 'files', files });
    const h = ARCH.hidden;
    const kv = (ARCH.kvHeads * h) / ARCH.heads;
    const perLayer = 2 * h + 2 * h * h + 2 * kv * h + 3 * h * ARCH.intermediate;
    expect(s.paramsPerLayer).toEqual([perLayer, perLayer, perLayer]);
    expect(s.outsideLayerParams).toBe(2 * ARCH.vocab.length * h + h);
    expect(s.parameters).toBe(3 * perLayer + s.outsideLayerParams);
    expect(s.layerTensors).toEqual({ attention: expect.stringMatching(/^model\.layers\.0\.self_attn\./), mlp: expect.stringMatching(/^model\.layers\.0\.mlp\./), other: expect.stringMatching(/^model\.layers\.0\..*layernorm/) });
    expect(s.edgeTensors).toEqual({ pre: 'model.embed_tokens.weight', post: 'lm_head.weight' });
    const report = await engine.compatibility(['base', 'add', 'reverse']);
    expect(report?.verdict).toBe('compatible');
  });

  it('scores token ids as given: a model as it is gives the log-probs of the model loaded directly; too short a sequence is refused', async () => {
    const engine = await engineWithModels();
    const sequences = [[1, 5, 9, 3], [2, 7], [0, 4, 4, 4, 8, 1]];
    const got = await engine.scoreTokens({ recipe: { merge_method: 'passthrough', models: [{ model: 'add' }] }, backend: 'cpu', sequences }, 'tokens');
    expect(got).toMatchObject({ evalBackend: 'cpu', mergeBackend: 'cpu' });
    const { model } = await loadCausalLM(nodeFolderTree(join(dir, 'add')), { backend: 'cpu' });
    const want = await model.sequenceLogProbs(sequences.map((s) => Int32Array.from(s)));
    expect(got.logprobs.map((r) => r.length)).toEqual([3, 1, 5]);
    got.logprobs.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(want[i][j], 6)));
    await expect(engine.scoreTokens({ recipe: { merge_method: 'passthrough', models: [{ model: 'add' }] }, backend: 'cpu', sequences: [[1, 2], [3]] }, 'tokens')).rejects.toThrow(/sequence 1 holds 1 token id/);
  });

  it('re-merges only the tensors of the layer that changed, and scores exactly as a fresh merge', async () => {
    const engine = await engineWithModels();
    const first = await scores(engine, recipe([1, 1, 1]));
    expect(first[0].remerged).toBe(3 * 9 + 3);
    expect(first[0].full).toBe(true);
    const again = await scores(engine, recipe([1, 1, 1]));
    expect(again[0].remerged).toBe(0);
    expect(again[0].scores).toEqual(first[0].scores);

    const edited = await scores(engine, recipe([1, 0.2, 1]));
    expect(edited[0].remerged).toBe(9); // the nine tensors of layer 1
    const fresh = await scores(await engineWithModels(), recipe([1, 0.2, 1]));
    expect(fresh[0].remerged).toBe(3 * 9 + 3);
    expect(edited[0].scores).toEqual(fresh[0].scores);
    const ppl = (s: EvalStage[]) => s[0].scores.find((x) => x.metric === 'perplexity')!.value;
    expect(ppl(edited)).not.toBe(ppl(first));
    expect(edited[0].scores.map((s) => s.objective).sort()).toEqual(['story.perplexity', 'sum.exact_match']);
  });

  it('scores a nested subset first, then refines, reporting each stage', async () => {
    const engine = await engineWithModels();
    const events: EngineEvent[] = [];
    const stages = await engine.evaluate({ recipe: recipe([1, 1, 1]), tasks: ['story.ppl.jsonl'], stages: [2, 4, 100], backend: 'cpu' }, 'live', (e) => events.push(e));
    expect(stages.map((s) => s.items)).toEqual([2, 4, 6]);
    expect(stages.map((s) => s.full)).toEqual([false, false, true]);
    expect(events.filter((e) => e.type === 'stage')).toHaveLength(3);
    expect(events.some((e) => e.type === 'progress' && e.progress.phase === 'evaluate')).toBe(true);
  });

  it('a newer evaluation supersedes the one in flight; cancel ends it with an AbortError', async () => {
    const engine = await engineWithModels();
    const stale = scores(engine, recipe([1, 1, 1]));
    const current = scores(engine, recipe([0.5, 0.5, 0.5]));
    await expect(stale).rejects.toMatchObject({ name: 'AbortError' });
    expect((await current)[0].full).toBe(true);
    const cancelled = scores(engine, recipe([0.3, 0.3, 0.3]));
    engine.cancel('live');
    await expect(cancelled).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('exports what the engine exports for the same recipe, and refuses unloaded models by name', async () => {
    const engine = await engineWithModels();
    const r = recipe([1, 0.25, 0.75]);
    const written = memorySinks();
    const out = await engine.exportModel(r, { kind: 'sinks', sinks: written }, 'export', () => undefined, { shardSize: 40_000 });
    const data = Object.fromEntries(written.files);
    expect(out.files.filter((f) => f.name.endsWith('.safetensors')).length).toBeGreaterThan(1);
    const reference = memorySinks();
    const handles = new Map([...['base', 'add', 'reverse']].map((ref) => [ref, (engine as unknown as { handles: Map<string, never> }).handles.get(ref)!]));
    await execute(plan(r, handles), { sinks: reference, backend: cpuBackend, shardSize: 40_000 });
    expect(Object.keys(data).sort()).toEqual([...reference.files.keys()].sort());
    for (const [name, bytes] of reference.files) expect(data[name], name).toEqual(bytes);
    expect(engine.check({ ...r, base_model: 'nope' })).toEqual({ ok: false, error: expect.stringContaining("'nope'") });
  });
});
