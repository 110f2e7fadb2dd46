// A recipe the studio writes must run in the product's CLI (issue 18, item 8): the worker exports a
// merge of the real demo models (served over HTTP as the studio reads them), and
// `merge-studio merge` on the exported mergekit_config.yml, run from the repository root, writes
// the same files byte for byte.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMergeArgs, runMerge } from '../cli/merge.ts';
import { parseRecipeYaml, recipeToYaml } from '../core/recipe/index.ts';
import { StudioEngine } from './engine.ts';
import { serveZoo } from './zoo-server.test-helper.ts';
import { recipeForExport, recipeFromExport } from './export-refs.ts';

const zoo = serveZoo();
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'export-replay-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const RECIPE = `merge_method: ties
base_model: zoo/tiny-llama-base
models:
  - model: zoo/tiny-llama-caesar
    parameters: {weight: 0.8, density: 0.6}
  - model: zoo/tiny-llama-reverse
    parameters: {weight: [0.4, 1], density: 0.7}
parameters: {lambda: 1.1}
tokenizer_source: base
dtype: bfloat16
`;

describe('recipes exported by the studio replay in merge-studio merge', () => {
  it('the export names demo models by their public/zoo folders and the CLI reproduces every file byte for byte', async () => {
    const engine = new StudioEngine({ zooUrl: zoo.url, gpu: false });
    const catalog = await engine.demoCatalog();
    for (const name of ['base', 'caesar', 'reverse']) await engine.addModel({ kind: 'demo', ref: `zoo/tiny-llama-${name}` });
    const recipe = parseRecipeYaml(RECIPE);
    const exported = await engine.exportModel(recipe, { kind: 'memory' }, 'export', () => undefined);
    const studioDir = join(work, 'studio-export');
    await mkdir(studioDir);
    for (const [name, bytes] of Object.entries(exported.data!)) await writeFile(join(studioDir, name), bytes);

    const yaml = await readFile(join(studioDir, 'mergekit_config.yml'), 'utf8');
    expect(yaml).not.toContain('zoo/tiny-llama-');
    expect(parseRecipeYaml(yaml)).toEqual({
      ...recipe,
      base_model: 'public/zoo/tiny-llama/base',
      models: [
        { model: 'public/zoo/tiny-llama/caesar', parameters: { weight: 0.8, density: 0.6 } },
        { model: 'public/zoo/tiny-llama/reverse', parameters: { weight: [0.4, 1], density: 0.7 } },
      ],
    });
    const card = await readFile(join(studioDir, 'README.md'), 'utf8');
    expect(card).toContain('Base model: `public/zoo/tiny-llama/base`');
    expect(card).not.toContain('zoo/tiny-llama-');

    // Replayed from the repository root (the test's cwd), with the recipe elsewhere.
    const cliOut = join(work, 'cli-out');
    await runMerge(parseMergeArgs([join(studioDir, 'mergekit_config.yml'), '--out', cliOut]));
    const files = (await readdir(studioDir)).sort();
    expect((await readdir(cliOut)).sort()).toEqual(files);
    expect(files).toContain('model.safetensors');
    for (const f of files) expect(Buffer.compare(await readFile(join(cliOut, f)), await readFile(join(studioDir, f))), f).toBe(0);

    // The YAML panel's download uses the same names, and importing it maps them back.
    expect(recipeToYaml(recipeForExport(recipe, catalog))).toBe(yaml);
    expect(recipeFromExport(parseRecipeYaml(yaml), catalog)).toEqual(recipe);
  }, 60_000);
});
