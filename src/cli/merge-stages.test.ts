// `merge-studio merge` on a multi-document (mergekit-multi) recipe over the demo zoo: the folder it
// writes holds what the engine merges in memory, and mergekit_config.yml every document.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeToMemory, plan } from '../core/engine/index.ts';
import { nodeFolderTree } from '../core/io/node-file.ts';
import { openModel, type ModelHandle } from '../core/model/handle.ts';
import { parseRecipeYaml } from '../core/recipe/index.ts';
import { openSafetensorsModel, readTensorF32 } from '../core/safetensors/index.ts';
import { parseMergeArgs, runMerge } from './merge.ts';

const ZOO = resolve(process.env.ZOO_DIR ?? 'public/zoo', 'tiny-llama');
const recipeText = (attnStage: string) => `name: ties-stage
merge_method: ties
base_model: ${ZOO}/base
models:
  - model: ${ZOO}/caesar
    parameters: {weight: 0.7, density: 0.5}
  - model: ${ZOO}/sort
    parameters: {weight: 0.5, density: 0.5}
dtype: float32
---
name: linear-stage
merge_method: linear
models:
  - model: ${ZOO}/caesar
    parameters: {weight: 0.5}
  - model: ${ZOO}/sort
    parameters: {weight: 0.5}
dtype: float32
---
merge_method: linear
models:
  - model: ${attnStage}
    parameters: {weight: [{filter: self_attn, value: 1}, {value: 0}]}
  - model: linear-stage
    parameters: {weight: [{filter: self_attn, value: 0}, {value: 1}]}
dtype: float32
`;

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'merge-stages-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('merge-studio merge with a multi-document recipe', () => {
  it('writes the merged model and every document of the recipe', async () => {
    const yml = join(work, 'staged.yml');
    await writeFile(yml, recipeText('ties-stage'));
    const out = join(work, 'out');
    const result = await runMerge(parseMergeArgs([yml, '--out', out]));
    const recipe = parseRecipeYaml(recipeText('ties-stage'));
    expect(parseRecipeYaml(await readFile(join(out, 'mergekit_config.yml'), 'utf8'))).toEqual(recipe);
    const handles = new Map<string, ModelHandle>();
    for (const m of ['base', 'caesar', 'sort']) handles.set(`${ZOO}/${m}`, await openModel(nodeFolderTree(join(ZOO, m)), undefined, `${ZOO}/${m}`));
    const expected = await mergeToMemory(plan(recipe, handles));
    const written = await openSafetensorsModel(nodeFolderTree(out));
    expect(result.tensors).toBe(expected.size);
    for (const [name, values] of expected) expect(await readTensorF32(written.tensors.get(name)!), name).toEqual(values);
    expect(existsSync(join(out, 'tokenizer.json'))).toBe(true);
  });

  it('names a misspelt stage and the one it probably means, writing nothing', async () => {
    const yml = join(work, 'typo.yml');
    await writeFile(yml, recipeText('ties-stag'));
    const out = join(work, 'typo-out');
    const err = await runMerge(parseMergeArgs([yml, '--out', out])).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/ties-stag.*did you mean 'ties-stage'\?/s);
    expect(existsSync(out)).toBe(false);
  });
});
