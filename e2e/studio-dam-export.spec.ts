// A trained DAM merge exported EXACTLY from the studio (per-channel coefficients, not the
// per-tensor-mean recipe), as a streamed .tar download, checked in Node against independent work:
// the core's exportDamMerge run here on the demo experts from public/zoo with the coefficients the
// download holds (dam/coefficients.safetensors) must write the same files byte for byte, and one
// tensor recomputed by the DAM formula (merged[r, j] = sum_i c_i[j] W_i[r, j]) must equal the
// exported one. The studio adds dam/training.json (its settings and loss curve), as the CLI does.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test, expect } from '@playwright/test';
import { FAMILY, studioWithDemoFamily, trainDam } from './studio-page.ts';
import { COEFFICIENTS_FILE, coefficientLayout, exportDamMerge } from '../src/core/dam/index.ts';
import { openEvalModel } from '../src/core/eval/load.ts';
import { nodeFolderSinks, nodeFolderTree } from '../src/core/io/node-file.ts';
import { openModel } from '../src/core/model/handle.ts';
import { openSafetensorsModel, readTensorF32 } from '../src/core/safetensors/index.ts';

studioWithDemoFamily(async (page) => {
  await expect(page.getByTestId('plan-ok')).toBeVisible({ timeout: 30_000 });
});

const SHARD_MIB = 0.5;

/** Every file under `dir`, as relative paths. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name))).sort();
}

/** float32 -> bfloat16 (round to nearest even) -> float32. */
function bf16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = ((u[0] + 0x7fff + ((u[0] >>> 16) & 1)) >>> 16) << 16;
  return f[0];
}

test('DAM: 2 steps, then "Export exact DAM merge" as a download: byte-identical to the core\'s exportDamMerge of the demo experts with the exported coefficients', async ({ page }) => {
  test.setTimeout(300_000);
  await page.getByLabel('re-evaluate after each change').uncheck();
  await trainDam(page, 2);
  // The panel says which export is exact and which is the per-tensor-mean approximation.
  await expect(page.getByTestId('dam-exact-note')).toContainText('Exact');
  await expect(page.getByTestId('dam-approximation')).toContainText('Approximation');

  // The target is the Export panel's: chosen here, it shows there too (one shared choice).
  await page.getByLabel('Exact DAM export: where it goes').selectOption('download');
  await page.getByLabel('Exact DAM export: folder name').fill('dam-exact');
  await expect(page.getByLabel('Export target')).toHaveValue('download');
  await expect(page.getByLabel('Export name')).toHaveValue('dam-exact');
  await page.getByLabel('Shard size in MiB').fill(String(SHARD_MIB));
  const downloading = page.waitForEvent('download', { timeout: 120_000 });
  await page.getByRole('button', { name: 'Export exact DAM merge' }).click();
  const download = await downloading;
  expect(download.suggestedFilename()).toBe('dam-exact.tar');
  await expect(page.locator('[data-testid="dam-export-status"]:is([data-state="done"], [data-state="error"])')).toBeVisible({ timeout: 120_000 });
  await expect(page.getByTestId('dam-export-status')).toContainText('exact DAM merge: ');
  await expect(page.getByTestId('dam-export-status')).toHaveAttribute('data-state', 'done');
  await expect(page.getByTestId('dam-export-files')).toContainText(COEFFICIENTS_FILE);

  const work = await mkdtemp(join(tmpdir(), 'studio-dam-export-'));
  try {
    await download.saveAs(join(work, 'dam.tar'));
    expect(await download.failure()).toBeNull();
    execFileSync('tar', ['-xf', join(work, 'dam.tar'), '-C', work]);
    const tab = join(work, 'dam-exact');
    const tabFiles = await listFiles(tab);
    for (const f of ['config.json', 'README.md', 'mergekit_config.yml', 'model.safetensors.index.json', 'tokenizer.json', COEFFICIENTS_FILE, 'dam/training.json']) expect(tabFiles).toContain(f);
    expect(tabFiles.filter((f) => /^model-\d+-of-\d+\.safetensors$/.test(f)).length).toBeGreaterThan(1);
    expect(await readFile(join(tab, 'mergekit_config.yml'), 'utf8')).toMatch(/merge_method: dam/);
    expect(await readFile(join(tab, 'README.md'), 'utf8')).toMatch(/Differentiable Adaptive Merging/);
    const training = JSON.parse(await readFile(join(tab, 'dam/training.json'), 'utf8'));
    expect(training.steps).toBe(2);
    expect(training.history).toHaveLength(2);
    expect(training.settings).toMatchObject({ steps: 2, learning_rate: 0.01, batch_size: 2, max_sequences: 4 });

    // The coefficients the tab wrote, read back into the flat layout the core folds with.
    const coeffFile = await openSafetensorsModel(nodeFolderTree(join(tab, 'dam')));
    const refs = JSON.parse(coeffFile.metadata.models) as string[];
    expect(refs).toEqual([`zoo/${FAMILY}-reverse`, `zoo/${FAMILY}-caesar`]);
    const folders = refs.map((r) => join('public/zoo', FAMILY, r.slice(`zoo/${FAMILY}-`.length)));
    const config = (await openEvalModel(nodeFolderTree(folders[0]))).config;
    const layout = coefficientLayout(config, refs.length);
    expect([...coeffFile.tensors.keys()].sort()).toEqual(layout.blocks.map((b) => b.tensor).sort());
    const coefficients = new Float64Array(layout.size);
    let perChannel = false;
    for (const b of layout.blocks) {
      const info = coeffFile.tensors.get(b.tensor)!;
      expect(info.shape).toEqual([refs.length, b.width]);
      const values = await readTensorF32(info);
      coefficients.set(values, b.offset);
      // Trained per channel: within a block the coefficients differ across channels.
      if (b.width > 1 && values.slice(0, b.width).some((v) => v !== values[0])) perChannel = true;
    }
    expect(perChannel).toBe(true);

    // (a) the core's exact export in Node, from the demo experts' own files.
    const experts = await Promise.all(refs.map((ref, i) => openModel(nodeFolderTree(folders[i]), undefined, ref)));
    const ref = join(work, 'reference');
    await exportDamMerge({
      experts, layout, coefficients, sinks: nodeFolderSinks(ref), shardSize: Math.round(SHARD_MIB * 2 ** 20),
      modelRef: (r) => join('public/zoo', FAMILY, r.slice(`zoo/${FAMILY}-`.length)),
    });
    const refFiles = await listFiles(ref);
    expect(tabFiles).toEqual([...refFiles, 'dam/training.json'].sort());
    for (const f of refFiles) {
      const [a, b] = await Promise.all([readFile(join(tab, f)), readFile(join(ref, f))]);
      expect(a.equals(b), `${f} (tab) == ${f} (core's exportDamMerge in Node)`).toBe(true);
    }

    // (b) one learned tensor by the formula, from the experts' weights and the exported coefficients.
    const block = layout.blocks.find((b) => b.tensor === 'model.layers.1.mlp.down_proj.weight')!;
    const weights = await Promise.all(folders.map(async (f) => readTensorF32((await openSafetensorsModel(nodeFolderTree(f))).tensors.get(block.tensor)!)));
    const merged = await readTensorF32((await openSafetensorsModel(nodeFolderTree(tab))).tensors.get(block.tensor)!);
    const sum = new Float32Array(block.rows * block.cols);
    weights.forEach((w, i) => {
      for (let r = 0; r < block.rows; r++) for (let j = 0; j < block.cols; j++) sum[r * block.cols + j] += coefficients[block.offset + i * block.width + j] * w[r * block.cols + j];
    });
    expect(Array.from(merged)).toEqual(Array.from(sum, bf16));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test('DAM: the exact export is offered only with a result, and an expert removed since training is named in a clear error, with nothing kept', async ({ page }) => {
  test.setTimeout(240_000);
  // No DAM result: the export action is not shown (it appears with the coefficients).
  await expect(page.getByRole('button', { name: 'Export exact DAM merge' })).toHaveCount(0);
  await page.getByLabel('re-evaluate after each change').uncheck();
  await page.getByLabel('DAM steps').fill('1');
  await page.getByLabel('DAM batch size').fill('2');
  await page.getByLabel('DAM sequences per expert').fill('4');
  await page.getByRole('button', { name: 'Start DAM' }).click();
  await expect(page.getByTestId('dam-status')).toHaveText('finished', { timeout: 180_000 });
  await page.getByRole('button', { name: `Remove ${FAMILY}-caesar` }).click();
  await page.getByLabel('Exact DAM export: where it goes').selectOption('opfs');
  await page.getByLabel('Exact DAM export: folder name').fill('dam-refused');
  await page.getByRole('button', { name: 'Export exact DAM merge' }).click();
  await expect(page.getByTestId('dam-export-status')).toHaveAttribute('data-state', 'error', { timeout: 30_000 });
  await expect(page.getByTestId('dam-export-status')).toHaveText(`the DAM merge folds 'zoo/${FAMILY}-caesar', which is no longer loaded: add it again in Models to export it`);
  const names = await page.evaluate(async () => {
    const out: string[] = [];
    try {
      const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('exports');
      for await (const name of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) out.push(name);
    } catch {
      // no exports folder: nothing kept
    }
    return out;
  });
  expect(names).toEqual([]);
});
