// The studio against the mock Hub (tools/mock-hub, started here on a free port over the zoo the
// page serves): Hub ids with revision and token, the errors a user meets shown in the page (no such
// repo, gated without / with a wrong token, a corrupt shard), the token kept off URLs; then layer
// stacking totals and a small search whose trials load back into the recipe.
import { join } from 'node:path';
import { test, expect } from '@playwright/test';
import { startMockHub, type MockHub } from '../tools/mock-hub/server.ts';

const ZOO = process.env.STUDIO_ZOO ?? join(import.meta.dirname, '..', 'dist', 'zoo');
if (process.env.STUDIO_BASE_URL) test.use({ baseURL: process.env.STUDIO_BASE_URL });

let hub: MockHub;
test.beforeAll(async () => {
  hub = await startMockHub({ port: 0, root: ZOO });
});
test.afterAll(async () => {
  await hub?.close();
});

test('Hub ids: models load through the mock Hub; bad ids, gated repos and corrupt files show their error', async ({ page }) => {
  test.setTimeout(180_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const urls: string[] = [];
  page.on('request', (r) => urls.push(r.url()));
  await page.setViewportSize({ width: 1400, height: 1000 });
  await page.goto('/');
  await page.getByText('Settings').click();
  await page.getByLabel('Hub URL').fill(hub.url);
  await expect(page.getByTestId('token-storage')).toContainText('memory only');

  const hubForm = page.getByRole('form', { name: 'Add from the Hub' });
  const add = async (repo: string, revision = '', token = '') => {
    await hubForm.getByLabel('Repo id').fill(repo);
    await hubForm.getByLabel('Revision').fill(revision);
    await hubForm.getByLabel('Token').fill(token);
    await hubForm.getByRole('button', { name: 'Add' }).click();
  };
  const error = page.getByTestId('model-error');

  await add('zoo/does-not-exist');
  await expect(error).toContainText('zoo/does-not-exist', { timeout: 30_000 });
  await expect(error).toContainText(/no such model/);

  await add('zoo/gated');
  await expect(error).toContainText('zoo/gated', { timeout: 30_000 });
  await expect(error).toContainText(/401|token|gated/i);

  await add('zoo/gated', '', 'hf_wrong_token_123');
  await expect(error).toContainText(/403|token|denied|gated/i, { timeout: 30_000 });

  await add('zoo/corrupt-shard');
  await expect(error).toContainText(/corrupt-shard/, { timeout: 30_000 });
  await expect(error).toContainText(/safetensors|header|JSON/i);

  await add('zoo/gated', 'main', hub.gatedToken);
  await expect(page.getByTestId('model-gated')).toBeVisible({ timeout: 30_000 });
  await expect(page.getByTestId('model-gated')).toContainText('hub');
  expect(urls.filter((u) => u.includes(hub.gatedToken))).toEqual([]);
  expect(errors).toEqual([]);
});

test('layer stacking shows the resulting layer and parameter counts; a search runs and its trial loads', async ({ page }) => {
  test.setTimeout(300_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.setViewportSize({ width: 1400, height: 1000 });
  await page.goto('/');
  const rows = page.getByRole('table', { name: 'Loaded models' }).getByRole('row');
  await expect(rows).toHaveCount(4, { timeout: 30_000 });
  const yaml = page.getByTestId('recipe-yaml');
  await expect(page.getByTestId('plan-ok')).toBeVisible({ timeout: 30_000 });

  // the schema form validates as you type: a decimal typed key by key, then a bad value
  const lambda = page.getByLabel('lambda', { exact: true });
  await lambda.pressSequentially('0.75');
  await expect(lambda).toHaveValue('0.75');
  await expect(yaml).toHaveValue(/lambda: 0\.75/);
  await lambda.pressSequentially('x');
  await expect(page.getByRole('alert').filter({ hasText: "lambda: '0.75x' is not a number" })).toBeVisible();
  await expect(yaml).toHaveValue(/lambda: 0\.75/);
  await lambda.fill('');

  // stacking: one slice of the whole base, then a second copy of its first two layers
  await page.getByRole('button', { name: 'Stack layers instead' }).click();
  const totals = page.getByTestId('stack-totals');
  const layersOf = async () => Number(/(\d+) layers/.exec((await totals.textContent()) ?? '')![1]);
  const baseLayers = await layersOf();
  expect(baseLayers).toBeGreaterThan(1);
  await page.getByRole('button', { name: 'Add slice' }).click();
  await page.getByLabel('Slice 2 end layer (exclusive)').fill('2');
  await expect(totals).toContainText(`${baseLayers + 2} layers`);
  await expect(yaml).toHaveValue(/merge_method: passthrough/);
  await expect(yaml).toHaveValue(/layer_range: \[ 0, 2 \]/);
  await expect(page.getByTestId('plan-ok')).toContainText(`${baseLayers + 2} layers`, { timeout: 30_000 });
  await page.getByRole('button', { name: 'Move slice 2 up' }).click();
  await expect(page.getByLabel('Slice 1 end layer (exclusive)')).toHaveValue('2');
  await page.getByRole('button', { name: 'Back to layer-wise fusion' }).click();
  await expect(yaml).toHaveValue(/merge_method: task_arithmetic/);
  await expect(page.getByTestId('plan-ok')).toContainText(`${baseLayers} layers`, { timeout: 30_000 });

  // a small search: one fidelity level, three trials
  const task = page.getByRole('group', { name: /tasks$/ }).first().getByRole('checkbox').first();
  await page.getByLabel('re-evaluate after each change').uncheck();
  await task.click();
  await expect(task).toBeChecked();
  await page.getByLabel('Budget in trials').fill('3');
  await page.getByLabel('Fidelity levels').fill('1');
  await page.getByLabel('Items per task at full fidelity').fill('3');
  await page.getByRole('button', { name: 'Start search' }).click();
  await expect(page.getByTestId('search-status')).toContainText('done', { timeout: 240_000 });
  await expect(page.getByTestId('search-status')).toContainText('3 trials');
  await page.getByText(/^Trials \(3\)$/).click();
  await page.getByRole('button', { name: 'Load trial 2' }).click();
  await expect(yaml).toHaveValue(/merge_method: (task_arithmetic|ties)/);
  await page.screenshot({ path: test.info().outputPath('search.png'), fullPage: true });

  // the trials were saved (IndexedDB, shared by the page and its worker): after a reload, the same search shows them again and continues to a
  // larger budget, evaluating only the new trials
  const savedTrials = () => page.evaluate(() => new Promise<{ id: number; finishedAt: string }[]>((resolve, reject) => {
    const open = indexedDB.open('merge-studio-search');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const all = open.result.transaction('trials', 'readonly').objectStore('trials').getAll();
      all.onsuccess = () => resolve((all.result as { trial: { id: number; finishedAt: string } }[]).map((r) => ({ id: r.trial.id, finishedAt: r.trial.finishedAt })).sort((a, b) => a.id - b.id));
      all.onerror = () => reject(all.error);
    };
  }));
  const before = await savedTrials();
  expect(before.map((t) => t.id)).toEqual([0, 1, 2]);
  await page.reload();
  await expect(page.getByTestId('plan-ok')).toBeVisible({ timeout: 30_000 });
  await page.getByLabel('re-evaluate after each change').uncheck();
  const sameTask = page.getByRole('group', { name: /tasks$/ }).first().getByRole('checkbox').first();
  await sameTask.click();
  await page.getByLabel('Budget in trials').fill('4');
  await page.getByLabel('Fidelity levels').fill('1');
  await page.getByLabel('Items per task at full fidelity').fill('3');
  await page.getByRole('button', { name: 'Start search' }).click();
  await expect(page.getByTestId('search-status')).toContainText('done', { timeout: 240_000 });
  await expect(page.getByTestId('search-status')).toContainText('4 trials');
  const after = await savedTrials();
  expect(after.slice(0, 3)).toEqual(before);
  expect(after.map((t) => t.id)).toEqual([0, 1, 2, 3]);
  expect(errors).toEqual([]);
});
