// The studio scores the demo merge on a benchmark read from a Hub dataset (the mock Hub serving
// synthetic datasets in the real schemas, tools/benchmarks/synthetic.ts). The scores shown must equal
// the engine's own scoring of the recipe on screen, computed here in Node: the same recipe merged
// with the CPU engine, evaluateBenchmark on the same documents.
import { join } from 'node:path';
import { test, expect } from '@playwright/test';
import { syntheticDatasets } from '../tools/benchmarks/synthetic.ts';
import { startMockHub, type MockHub } from '../tools/mock-hub/server.ts';
import { formatScore } from '../src/app/format.ts';
import { BENCHMARKS } from '../src/core/benchmarks/definitions.ts';
import { evaluateBenchmark } from '../src/core/benchmarks/evaluate.ts';
import { openHubDatasetSplit } from '../src/core/benchmarks/hub-dataset.ts';
import { loadBenchmark } from '../src/core/benchmarks/load.ts';
import { plan } from '../src/core/engine/index.ts';
import { runtimeForPlan } from '../src/core/eval/merged.ts';
import { nodeFolderTree } from '../src/core/io/node-file.ts';
import { openModel, type ModelHandle } from '../src/core/model/handle.ts';
import { parseRecipeYaml, referencedModels } from '../src/core/recipe/index.ts';

const ZOO = process.env.STUDIO_ZOO ?? join(import.meta.dirname, '..', 'dist', 'zoo');
if (process.env.STUDIO_BASE_URL) test.use({ baseURL: process.env.STUDIO_BASE_URL });

let hub: MockHub;
test.beforeAll(async () => {
  hub = await startMockHub({ port: 0, root: ZOO, datasets: syntheticDatasets({ evalRows: 40, trainRows: 10 }) });
});
test.afterAll(async () => {
  await hub?.close();
});

test('benchmarks: arc_easy read from a Hub dataset scores the merge on screen as the engine does', async ({ page }) => {
  test.setTimeout(240_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.setViewportSize({ width: 1400, height: 1000 });
  await page.goto('/');
  await expect(page.getByTestId('model-tiny-llama-base')).toBeVisible({ timeout: 30_000 });
  await page.getByText('Settings').click();
  await page.getByLabel('Hub URL').fill(hub.url);

  const form = page.getByRole('form', { name: 'Add a benchmark' });
  await form.getByLabel('Benchmark', { exact: true }).selectOption('arc_easy');
  await form.getByLabel('Benchmark documents').fill('12');
  await form.getByRole('button', { name: 'Add from the Hub' }).click();
  const box = page.getByRole('checkbox', { name: 'Task arc_easy' });
  await expect(box).toBeChecked({ timeout: 60_000 });
  await expect(page.getByText('arc_easy (12 of 40 docs)')).toBeVisible();
  // Only the benchmark: untick whatever demo task is ticked.
  for (const other of await page.getByRole('checkbox', { name: /^Task / }).all()) {
    if ((await other.getAttribute('aria-label')) !== 'Task arc_easy' && (await other.isChecked())) await other.uncheck();
  }

  await page.getByRole('button', { name: 'Full evaluation' }).click();
  const acc = page.getByTestId('score-arc_easy.acc');
  const accNorm = page.getByTestId('score-arc_easy.acc_norm');
  await expect(page.getByTestId('scores')).toContainText('12 of 12 (all)', { timeout: 120_000 });
  const shown = { acc: await acc.textContent(), accNorm: await accNorm.textContent() };

  // The same recipe and documents through the engine in Node.
  const recipe = parseRecipeYaml(await page.getByTestId('recipe-yaml').inputValue());
  const handles = new Map<string, ModelHandle>();
  for (const ref of referencedModels(recipe)) {
    const m = /^zoo\/tiny-llama-(\w+)$/.exec(ref);
    expect(m, ref).not.toBeNull();
    handles.set(ref, await openModel(nodeFolderTree(join(ZOO, 'tiny-llama', m![1])), undefined, ref));
  }
  const loaded = await loadBenchmark(BENCHMARKS.get('arc_easy')!, {
    openSplit: (d, split) => openHubDatasetSplit({ id: d.path, config: d.config, split, hubUrl: hub.url }),
    limit: 12,
  });
  const merged = await runtimeForPlan(plan(recipe, handles));
  try {
    const r = await evaluateBenchmark(merged.model, merged.tokenizer, loaded);
    expect(shown).toEqual({ acc: formatScore('acc', r.metrics.acc), accNorm: formatScore('acc_norm', r.metrics.acc_norm) });
  } finally {
    merged.model.dispose();
  }

  await form.getByLabel('Benchmark', { exact: true }).selectOption('piqa');
  await page.getByLabel('Hub URL').fill(`${hub.url}/nowhere`);
  await form.getByRole('button', { name: 'Add from the Hub' }).click();
  await expect(page.getByTestId('task-error')).toContainText('baber/piqa');
  expect(errors).toEqual([]);
});
