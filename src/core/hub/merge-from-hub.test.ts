// Merging models loaded from the (mock) Hub by id gives byte-for-byte the same output as merging
// the same folders from disk, downloading each byte at most once; models of different
// architectures are refused before any weight is read.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockHub, type MockHub } from '../../../tools/mock-hub/server.ts';
import { writeFixtureZoo } from '../../../tools/mock-hub/fixture-zoo.ts';
import { execute, plan } from '../engine/index.ts';
import { MergeStudioError } from '../errors.ts';
import { memorySinks, memorySource } from '../io/memory.ts';
import { nodeFolderTree } from '../io/node-file.ts';
import type { FileTree } from '../io/types.ts';
import { openModel, type ModelHandle } from '../model/handle.ts';
import { compatibilityReport } from '../model/inventory.ts';
import { parseRecipeYaml } from '../recipe/index.ts';
import { readSafetensorsHeader } from '../safetensors/index.ts';
import { nodeHubCache } from './node-cache.ts';
import { hubTree } from './tree.ts';

let dir: string;
let hub: MockHub;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ms-hub-merge-'));
  await writeFixtureZoo(join(dir, 'zoo'));
  hub = await startMockHub({ port: 0, root: join(dir, 'zoo') });
});
afterAll(async () => {
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

const RECIPE = (base: string, a: string, b: string) => `
merge_method: task_arithmetic
base_model: ${base}
models:
  - model: ${a}
    parameters: {weight: 0.7}
  - model: ${b}
    parameters: {weight: 0.3}
dtype: bfloat16
`;

async function mergeWith(recipeText: string, open: (ref: string) => Promise<FileTree>): Promise<Map<string, Uint8Array>> {
  const recipe = parseRecipeYaml(recipeText, { source: 'test.yml' });
  const refs = [recipe.base_model!, ...recipe.models!.map((m) => m.model)];
  const handles = new Map<string, ModelHandle>();
  for (const ref of refs) handles.set(ref, await openModel(await open(ref), undefined, ref));
  const sinks = memorySinks();
  await execute(plan(recipe, handles), { sinks });
  const weights = sinks.files.get('model.safetensors')!;
  const header = await readSafetensorsHeader(memorySource(weights, 'merged'));
  return new Map([...header.tensors].map(([name, t]) => [name, weights.slice(t.offset, t.offset + t.bytes)]));
}

describe('merging from the Hub', () => {
  it('gives the same tensors as the local folders, each byte downloaded at most once', async () => {
    const cache = nodeHubCache(join(dir, 'cache'));
    hub.resetStats();
    const fromHub = await mergeWith(RECIPE('zoo/tiny-llama-base', 'zoo/tiny-llama-add', 'zoo/tiny-llama-reverse'), (ref) => hubTree({ repo: ref, hubUrl: hub.url, cache }));
    const local = (m: string) => join(dir, 'zoo', 'tiny-llama', m);
    const fromDisk = await mergeWith(RECIPE(local('base'), local('add'), local('reverse')), async (ref) => nodeFolderTree(ref));
    expect([...fromHub.keys()].sort()).toEqual([...fromDisk.keys()].sort());
    for (const [name, bytes] of fromDisk) expect(Buffer.from(fromHub.get(name)!).equals(Buffer.from(bytes)), name).toBe(true);

    let modelBytes = 0;
    let files = 0;
    for (const m of ['base', 'add', 'reverse']) {
      for (const f of ['model.safetensors', 'config.json', 'tokenizer.json', 'tokenizer_config.json']) {
        modelBytes += (await readFile(join(local(m), f))).byteLength;
        files += 1;
      }
    }
    // Every file at most once, plus one 1-byte size probe per file touched.
    expect(hub.stats.fileBytes).toBeLessThanOrEqual(modelBytes + files);
    expect(hub.stats.fileBytes).toBeGreaterThan(modelBytes * 0.9);
  });

  it('the inventory of Hub models compares tokenizers by the listing\'s content ids, without downloading them', async () => {
    const handles = [];
    for (const id of ['zoo/tiny-llama-base', 'zoo/tiny-llama-add']) handles.push(await openModel(await hubTree({ repo: id, hubUrl: hub.url }), undefined, id));
    hub.resetStats();
    const report = await compatibilityReport([...handles, await openModel(nodeFolderTree(join(dir, 'zoo', 'tiny-llama', 'reverse')), undefined, 'local reverse')]);
    expect(report.tokenizer.identical).toBe(true);
    expect(report.tokenizer.groups).toEqual([['zoo/tiny-llama-base', 'zoo/tiny-llama-add', 'local reverse']]);
    expect(hub.stats.requests.filter((r) => r.url.includes('tokenizer'))).toEqual([]);
  });

  it('puts the token of a gated input in none of the exported files', async () => {
    const recipe = parseRecipeYaml(RECIPE('zoo/gated', 'zoo/tiny-llama-add', 'zoo/tiny-llama-reverse'), { source: 'gated.yml' });
    const handles = new Map<string, ModelHandle>();
    for (const ref of [recipe.base_model!, ...recipe.models!.map((m) => m.model)]) {
      handles.set(ref, await openModel(await hubTree({ repo: ref, hubUrl: hub.url, accessToken: hub.gatedToken }), undefined, ref));
    }
    const sinks = memorySinks();
    await execute(plan(recipe, handles), { sinks });
    expect(sinks.files.size).toBeGreaterThan(2);
    const needle = Buffer.from(hub.gatedToken);
    for (const [name, bytes] of sinks.files) expect(Buffer.from(bytes).includes(needle), name).toBe(false);
  });

  it('refuses models of different architectures before reading weights', async () => {
    hub.resetStats();
    const recipe = parseRecipeYaml(`merge_method: linear\nmodels:\n  - model: zoo/tiny-llama-base\n    parameters: {weight: 0.5}\n  - model: zoo/tiny-qwen2-base\n    parameters: {weight: 0.5}\n`, { source: 'mixed.yml' });
    const handles = new Map<string, ModelHandle>();
    for (const m of recipe.models!) handles.set(m.model, await openModel(await hubTree({ repo: m.model, hubUrl: hub.url }), undefined, m.model));
    const headerBytes = hub.stats.fileBytes;
    const err = (() => {
      try {
        plan(recipe, handles);
        return null;
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(MergeStudioError);
    expect((err as MergeStudioError).code).toBe('plan-incompatible');
    expect(hub.stats.fileBytes).toBe(headerBytes);
  });
});
