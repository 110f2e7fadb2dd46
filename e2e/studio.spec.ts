// The studio end to end in Chromium with WebGPU (SwiftShader here): demo models from the page's own
// origin, a task_arithmetic recipe shaped by a keyboard- and mouse-moved layer point, live
// evaluation on a subset, the frontier, an export whose files are re-read here with the project's
// reader and compared with the CPU engine's merge of the same recipe, and a bad YAML.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, expect, type Page } from '@playwright/test';
import { decodeToF32 } from '../src/core/dtype.ts';
import { cpuBackend, execute, plan } from '../src/core/engine/index.ts';
import { memorySinks, memoryTree } from '../src/core/io/memory.ts';
import { nodeFolderTree } from '../src/core/io/node-file.ts';
import { openModel, type ModelHandle } from '../src/core/model/handle.ts';
import { parseRecipeYaml } from '../src/core/recipe/index.ts';
import { renameModels } from '../src/core/recipe/stages.ts';
import { openSafetensorsModel, readTensorBytes } from '../src/core/safetensors/index.ts';

// STUDIO_BASE_URL / STUDIO_ZOO point the test at another build (e.g. one with a fixture zoo).
const ZOO = process.env.STUDIO_ZOO ?? join(import.meta.dirname, '..', 'dist', 'zoo');
if (process.env.STUDIO_BASE_URL) test.use({ baseURL: process.env.STUDIO_BASE_URL });

interface Manifest {
  families: Record<string, { models: Record<string, { path: string; role: string }> }>;
  tasks: Record<string, { files: Record<string, string> }>;
}

async function demoChoice() {
  const text = await readFile(join(ZOO, 'manifest.json'), 'utf8').catch(() => {
    throw new Error(`${ZOO}/manifest.json is missing: the studio test needs the demo zoo (public/zoo, made by tools/zoo/generate.py) in the build`);
  });
  const manifest = JSON.parse(text) as Manifest;
  const family = 'tiny-llama' in manifest.families ? 'tiny-llama' : Object.keys(manifest.families)[0];
  const names = Object.keys(manifest.families[family].models);
  const experts = names.filter((n) => manifest.families[family].models[n].role !== 'base').slice(0, 2);
  const skill = Object.keys(manifest.tasks).find((t) => experts.includes(t)) ?? Object.keys(manifest.tasks)[0];
  return { family, experts, skill, manifest };
}

async function screenshot(page: Page, name: string) {
  if (process.env.STUDIO_DEBUG) console.log(new Date().toISOString(), name);
  await page.screenshot({ path: test.info().outputPath(`${name}.png`), fullPage: true });
}

test('studio: demo models, task_arithmetic, layer edits, live evaluation, frontier, export == CPU engine, bad YAML', async ({ page }) => {
  test.setTimeout(300_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  if (process.env.STUDIO_DEBUG) page.on('console', (m) => console.log(`[page ${m.type()}] ${m.text()}`));
  await page.setViewportSize({ width: 1400, height: 1000 });
  const { family, experts, skill, manifest } = await demoChoice();
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Merge Studio' })).toBeVisible();

  // 1. models: the studio opens on the demo base and two experts; an expert removed comes back with its Add button
  for (const name of ['base', ...experts]) await expect(page.getByTestId(`model-${family}-${name}`)).toBeVisible({ timeout: 30_000 });
  await page.getByRole('button', { name: `Remove ${family}-${experts[1]}` }).click();
  await expect(page.getByTestId(`model-${family}-${experts[1]}`)).toHaveCount(0);
  await page.getByRole('button', { name: `Add demo ${family}-${experts[1]}` }).click();
  await expect(page.getByTestId(`model-${family}-${experts[1]}`)).toBeVisible({ timeout: 30_000 });
  await expect(page.getByRole('radio', { name: `Use ${family}-base as the base model` })).toBeChecked();
  await expect(page.getByTestId('compatibility')).toContainText('compatible');

  // 2. method
  await page.getByLabel('Method', { exact: true }).selectOption('task_arithmetic');
  const yaml = page.getByTestId('recipe-yaml');
  await expect(yaml).toHaveValue(/merge_method: task_arithmetic/);
  await expect(page.getByTestId('plan-ok')).toBeVisible();

  // 3. a layer point moved with the keyboard: 5 steps up from weight 1 on layer 1 of the first expert
  const e1 = `${family}-${experts[0]}`;
  const point = page.getByRole('slider', { name: `Layer 1 weight, ${e1}` });
  await expect(point).toHaveAttribute('aria-valuenow', '1');
  await point.focus();
  const before = await yaml.inputValue();
  for (let i = 0; i < 5; i++) await point.press('ArrowDown');
  await expect(yaml).not.toHaveValue(before);
  const moved = Number(await point.getAttribute('aria-valuenow'));
  expect(moved).toBeLessThan(1);
  let recipe = parseRecipeYaml(await yaml.inputValue());
  const w1 = recipe.models!.find((m) => m.model === `zoo/${e1}`)!.parameters!.weight as number[];
  expect(w1[1]).toBeCloseTo(moved, 6);
  expect(w1.filter((_, i) => i !== 1).every((v) => v === 1)).toBe(true);

  // ... and a point of the second expert dragged with the mouse
  const e2 = `${family}-${experts[1]}`;
  const dragPoint = page.getByRole('slider', { name: `Layer 0 weight, ${e2}` });
  const box = (await dragPoint.boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2 + 30, { steps: 5 });
  await page.mouse.up();
  await expect(dragPoint).not.toHaveAttribute('aria-valuenow', '1');
  const dragged = Number(await dragPoint.getAttribute('aria-valuenow'));
  expect(dragged).toBeLessThan(1);
  recipe = parseRecipeYaml(await yaml.inputValue());
  const w2 = recipe.models!.find((m) => m.model === `zoo/${e2}`)!.parameters!.weight as number[];
  expect(w2[0]).toBeCloseTo(dragged, 6);

  // ... and, split by module, a point of the MLP curve alone: the recipe gets mergekit filters
  await page.getByLabel('separate attention / MLP / rest').check();
  const mlpPoint = page.getByRole('slider', { name: `Layer 0 weight (MLP), ${e1}` });
  await mlpPoint.focus();
  await mlpPoint.press('Shift+ArrowDown');
  await expect(yaml).toHaveValue(/filter: mlp/);
  recipe = parseRecipeYaml(await yaml.inputValue());
  const split = recipe.models!.find((m) => m.model === `zoo/${e1}`)!.parameters!.weight as { filter?: string; value: number | number[] }[];
  expect(split.map((c) => c.filter)).toEqual(['self_attn', 'mlp', undefined]);
  expect((split[1].value as number[])[0]).toBeCloseTo(Number(await mlpPoint.getAttribute('aria-valuenow')), 6);
  expect(split[0].value).toEqual(w1);
  await expect(page.getByRole('slider', { name: `Layer 1 weight (attention), ${e1}` })).toHaveAttribute('aria-valuenow', String(moved));
  await screenshot(page, 'after-edits');

  // 4. live evaluation on a small subset
  await screenshot(page, 'before-eval');
  await page.getByLabel('Subset size', { exact: true }).fill('4');
  await page.getByLabel('Refined subset size').fill('4');
  const taskBox = page.getByRole('checkbox', { name: `Task ${skill}.gen.jsonl` });
  await taskBox.click();
  await expect(taskBox).toBeChecked();
  const score = page.getByTestId(`score-${skill}.exact_match`);
  await expect(score).toBeVisible({ timeout: 120_000 });
  await expect(page.getByTestId('scores')).toContainText(/4 of \d+/);
  test.info().annotations.push({ type: 'live-eval', description: (await page.getByTestId('scores').textContent()) ?? '' });

  // 5. the frontier has the evaluated recipe
  await expect(page.getByTestId('frontier-point')).toHaveCount(1, { timeout: 30_000 });
  await screenshot(page, 'after-eval');

  // ... a sweep of lambda adds one point per value, and clicking a point's Load restores its recipe
  await page.getByLabel('Sweep parameter').selectOption({ label: 'lambda' });
  await page.getByLabel('Sweep from').fill('0.5');
  await page.getByLabel('Sweep to').fill('1.5');
  await page.getByLabel('Sweep steps').fill('2');
  await page.getByRole('button', { name: 'Run sweep' }).click();
  await expect(page.getByTestId('frontier-point')).toHaveCount(3, { timeout: 180_000 });
  await page.getByText('All evaluated recipes').click();
  await page.getByRole('button', { name: 'Load recipe 2' }).click();
  await expect(yaml).toHaveValue(/lambda: 0\.5/);
  await page.getByRole('button', { name: 'Load recipe 1' }).click();
  await expect(yaml).not.toHaveValue(/lambda/);

  // a dropped JSONL task file: a malformed one is refused with its line number, a good one is added
  const taskInput = page.locator('input[type=file][accept*="jsonl"]');
  await taskInput.setInputFiles({ name: 'mine.gen.jsonl', mimeType: 'text/plain', buffer: Buffer.from('{"prompt": "1+1=", "answer": "2"}\n{"prompt": 3}\n') });
  await expect(page.getByTestId('task-error')).toContainText('mine.gen.jsonl:2');
  await taskInput.setInputFiles({ name: 'mine.gen.jsonl', mimeType: 'text/plain', buffer: Buffer.from('{"prompt": "1+1=", "answer": "2"}\n') });
  await expect(page.getByRole('checkbox', { name: 'Task mine.gen.jsonl' })).toBeChecked();
  await page.getByRole('checkbox', { name: 'Task mine.gen.jsonl' }).uncheck();

  // 6. export as one streamed download (a tar served by the service worker, written to disk as it
  // is merged); unpacked with the system's tar, re-read with the project's reader and compared
  // with the CPU engine
  await screenshot(page, 'before-export');
  const out = await mkdtemp(join(tmpdir(), 'studio-export-'));
  await page.getByLabel('Export target').selectOption('download');
  await page.getByLabel('Export name').fill('studio-merge');
  await page.getByLabel('Shard size in MiB').fill('0.5');
  const downloading = page.waitForEvent('download', { timeout: 120_000 });
  await page.getByRole('button', { name: 'Export merged model' }).click();
  const download = await downloading;
  expect(download.suggestedFilename()).toBe('studio-merge.tar');
  await download.saveAs(join(out, 'studio-merge.tar'));
  expect(await download.failure()).toBeNull();
  await expect(page.getByTestId('export-status')).toHaveAttribute('data-state', 'done', { timeout: 120_000 });
  execFileSync('tar', ['-xf', join(out, 'studio-merge.tar'), '-C', out]);
  const downloads = new Map<string, Uint8Array>();
  for (const name of await readdir(join(out, 'studio-merge'))) downloads.set(name, new Uint8Array(await readFile(join(out, 'studio-merge', name))));
  const listed = (await page.getByTestId('export-files').getByRole('listitem').allTextContents()).map((t) => t.replace(/ \(.*\)$/, ''));
  expect([...downloads.keys()].sort()).toEqual([...listed].sort());
  for (const f of ['config.json', 'model.safetensors.index.json', 'mergekit_config.yml', 'README.md', 'tokenizer.json']) expect(downloads.has(f), f).toBe(true);
  expect(listed.filter((f) => f.endsWith('.safetensors')).length).toBeGreaterThan(1);

  // The written recipe names the demo models by their folders (public/zoo/...), which
  // `merge-studio merge` resolves, instead of the studio's ids (zoo/<family>-<name>).
  const exportedRecipe = parseRecipeYaml(new TextDecoder().decode(downloads.get('mergekit_config.yml')!));
  const folderOf = (ref: string) => `public/zoo/${manifest.families[family].models[ref.slice(`zoo/${family}-`.length)].path}`;
  expect(exportedRecipe).toEqual(renameModels(parseRecipeYaml(await yaml.inputValue()), folderOf));
  const handles = new Map<string, ModelHandle>();
  for (const name of ['base', ...experts]) {
    const ref = folderOf(`zoo/${family}-${name}`);
    handles.set(ref, await openModel(nodeFolderTree(join(ZOO, family, name)), undefined, ref));
  }
  const reference = memorySinks();
  await execute(plan(exportedRecipe, handles), { sinks: reference, backend: cpuBackend });
  const exported = await openSafetensorsModel(memoryTree(downloads, 'export'));
  const expected = await openSafetensorsModel(memoryTree(reference.files, 'cpu'));
  expect([...exported.tensors.keys()].sort()).toEqual([...expected.tensors.keys()].sort());
  let identical = 0;
  let total = 0;
  for (const [name, info] of expected.tensors) {
    const got = exported.tensors.get(name)!;
    expect(got.dtype, name).toBe(info.dtype);
    expect(got.shape, name).toEqual(info.shape);
    const a = decodeToF32(await readTensorBytes(got), got.dtype);
    const b = decodeToF32(await readTensorBytes(info), info.dtype);
    const far: string[] = [];
    for (let i = 0; i < b.length; i++) {
      // The studio merges on the GPU: f32 sums in another order may round to the neighbouring bf16.
      if (!(Math.abs(a[i] - b[i]) <= Math.abs(b[i]) * 2 ** -7 + 1e-6)) far.push(`${name}[${i}]: ${a[i]} vs ${b[i]}`);
      if (a[i] === b[i]) identical++;
    }
    expect(far.slice(0, 5), `${far.length} values of ${name} differ by more than one bf16 step`).toEqual([]);
    total += b.length;
  }
  expect(identical / total).toBeGreaterThan(0.99);
  test.info().annotations.push({ type: 'export', description: `${listed.length} files; ${identical}/${total} values identical to the CPU engine` });
  await rm(out, { recursive: true, force: true });

  // 7. a bad YAML shows its error inline and leaves the recipe as it was
  const good = await yaml.inputValue();
  await yaml.fill('merge_method: task_arithmetc\nmodels:\n  - model: zoo/x\n    parameters: {weight: 1}\n');
  await page.getByRole('button', { name: 'Apply YAML' }).click();
  await expect(page.getByTestId('yaml-error')).toContainText("did you mean 'task_arithmetic'");
  await expect(page.getByLabel('Method', { exact: true })).toHaveValue('task_arithmetic');
  await page.getByRole('button', { name: 'Revert' }).click();
  await expect(yaml).toHaveValue(good);
  await screenshot(page, 'final');
  expect(errors).toEqual([]);
});
