// The studio's state across edits and reloads (issue 19): undo/redo of recipe edits (buttons and
// shortcuts; a drag is one step), the history of evaluated and exported merges (reopen, compare,
// YAML), the recipe as a versioned link (and a bad link's message), and the session saved in
// IndexedDB, offered after a reload and restored on request.
import { readFile } from 'node:fs/promises';
import { test, expect, type Page } from '@playwright/test';
import { FAMILY, studioWithDemoFamily } from './studio-page.ts';
import { parseRecipeYaml } from '../src/core/recipe/index.ts';

const E2 = `${FAMILY}-caesar`;
const yaml = (page: Page) => page.getByTestId('recipe-yaml').inputValue();

studioWithDemoFamily(async (page) => {
  await expect(page.getByTestId('plan-ok')).toBeVisible({ timeout: 30_000 });
});

/** Evaluates on 2 items per task, without re-evaluating after each change. */
async function quickEval(page: Page) {
  await page.getByLabel('re-evaluate after each change').uncheck();
  await page.getByLabel('Subset size', { exact: true }).fill('2');
  await page.getByLabel('Refined subset size').fill('2');
}

async function evaluate(page: Page, entries: number) {
  await page.getByRole('button', { name: 'Evaluate now' }).click();
  await expect(page.getByTestId('history-entry')).toHaveCount(entries, { timeout: 90_000 });
  await expect(page.getByTestId('eval-status')).toHaveAttribute('data-state', 'done', { timeout: 30_000 });
}

test('undo/redo: method, a drag (one step), a removed model; buttons, Ctrl+Z, Ctrl+Shift+Z and Ctrl+Y', async ({ page }) => {
  const y0 = await yaml(page);
  await page.getByLabel('Method', { exact: true }).selectOption('ties');
  await expect.poll(() => yaml(page)).toContain('merge_method: ties');
  const y1 = await yaml(page);
  // A drag of 10 moves on a layer point.
  const p = page.getByRole('slider', { name: `Layer 0 weight, ${E2}` });
  const b = (await p.boundingBox())!;
  await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2);
  await page.mouse.down();
  for (let i = 1; i <= 10; i++) await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2 + 4 * i);
  await page.mouse.up();
  await expect.poll(() => yaml(page)).not.toBe(y1);
  const y2 = await yaml(page);
  await page.getByRole('button', { name: `Remove ${E2}` }).click();
  await expect(page.getByTestId(`model-${E2}`)).toHaveCount(0);
  const y3 = await yaml(page);
  expect(y3).not.toContain(`zoo/${E2}`);

  await page.getByRole('button', { name: 'Undo', exact: true }).click();
  await expect.poll(() => yaml(page)).toBe(y2);
  // The removed model is opened again with its place in the recipe.
  await expect(page.getByTestId(`model-${E2}`)).toBeVisible({ timeout: 30_000 });
  await expect.poll(() => yaml(page)).toBe(y2);
  await page.locator('h1').click();
  await page.keyboard.press('Control+z');
  await expect.poll(() => yaml(page)).toBe(y1); // the whole drag in one step
  await page.keyboard.press('Control+z');
  await expect.poll(() => yaml(page)).toBe(y0);
  await expect(page.getByRole('button', { name: 'Undo', exact: true })).toBeDisabled();
  await page.keyboard.press('Control+Shift+z');
  await expect.poll(() => yaml(page)).toBe(y1);
  await page.keyboard.press('Control+y');
  await expect.poll(() => yaml(page)).toBe(y2);
  await page.getByRole('button', { name: 'Redo', exact: true }).click();
  await expect.poll(() => yaml(page)).toBe(y3);
  await expect(page.getByRole('button', { name: 'Redo', exact: true })).toBeDisabled();
  // In a text field Ctrl+Z is the field's own: the recipe stays.
  await page.getByTestId('recipe-yaml').focus();
  await page.keyboard.press('Control+z');
  await page.locator('h1').click();
  expect(await yaml(page)).toBe(y3);
});

test('history: evaluations and an export are recorded; reopen, compare (parameters and scores), YAML', async ({ page }) => {
  test.setTimeout(180_000);
  await quickEval(page);
  await page.getByRole('checkbox', { name: 'Task reverse.ppl.jsonl' }).click();
  await evaluate(page, 1);
  const first = await yaml(page);
  await page.getByLabel('Method', { exact: true }).selectOption('ties');
  await expect.poll(() => yaml(page)).toContain('merge_method: ties');
  await evaluate(page, 2);
  const entries = page.getByTestId('history-entry');
  await expect(entries.first()).toContainText('evaluated');
  await expect(entries.first()).toContainText('reverse.perplexity');

  // compare #1 and #2
  await page.getByLabel('Compare #1').check();
  await page.getByLabel('Compare #2').check();
  const params = page.getByRole('table', { name: 'Parameter diff' });
  await expect(params.getByRole('row', { name: /merge_method/ })).toContainText('task_arithmetic');
  await expect(params.getByRole('row', { name: /merge_method/ })).toContainText('ties');
  const scores = page.getByRole('table', { name: 'Score diff' });
  const delta = scores.getByTestId(/^score-delta-/).first();
  await expect(delta).toHaveText(/^[+-]\d/);

  // reopen #1: the recipe on screen is #1's again (and one undo step away from ties)
  await page.getByRole('button', { name: 'Reopen #1' }).click();
  await expect.poll(() => yaml(page)).toBe(first);
  await expect(page.getByTestId('history-message')).toContainText('#1 is the current recipe again');

  // YAML of #2, as mergekit reads it (demo models by their folders)
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Export #2 as YAML' }).click();
  const file = await (await download).path();
  const written = parseRecipeYaml(await readFile(file, 'utf8'));
  expect(written.merge_method).toBe('ties');
  expect(written.base_model).toBe(`public/zoo/${FAMILY}/base`);

  // an export (to browser storage) is an entry of its own, with the scores measured for its recipe
  await page.getByLabel('Export target').selectOption('opfs');
  await page.getByLabel('Export name').fill('history-export');
  await page.getByRole('button', { name: 'Export merged model' }).click();
  await expect(page.getByTestId('export-status')).toHaveAttribute('data-state', 'done', { timeout: 60_000 });
  await expect(entries).toHaveCount(3);
  await expect(entries.first()).toContainText('exported (to browser storage as history-export)');
  await expect(entries.first()).toContainText('reverse.perplexity');
});

test('recipe link: #r=v1 round trip in a new page; a garbled or unknown-version link says so; an over-long recipe is offered as a file', async ({ page, context }) => {
  test.setTimeout(120_000);
  await page.getByLabel('Method', { exact: true }).selectOption('ties');
  await expect.poll(() => yaml(page)).toContain('merge_method: ties');
  await page.getByRole('slider', { name: `Layer 0 weight, ${E2}` }).focus();
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  const recipe = await yaml(page);
  await page.getByRole('button', { name: 'Link to this recipe' }).click();
  const link = await page.getByTestId('recipe-link').inputValue();
  expect(link).toMatch(/#r=v1\.[A-Za-z0-9_-]+$/);
  expect(page.url()).toBe(link);

  const other = await context.newPage();
  const errors: string[] = [];
  other.on('pageerror', (e) => errors.push(e.message));
  await other.goto(link);
  await expect(other.getByTestId('session-note')).toContainText('Opened the recipe from the link', { timeout: 30_000 });
  await expect.poll(() => other.getByTestId('recipe-yaml').inputValue()).toBe(recipe);
  for (const name of ['base', 'reverse', 'caesar']) await expect(other.getByTestId(`model-${FAMILY}-${name}`)).toBeVisible();

  for (const [hash, message] of [['#r=v1.AAAAgarbled', /damaged/], ['#r=v9.abc', /format v9, which this studio does not read/], ['#r=nonsense', /does not start with a version/]] as const) {
    await other.goto(`/?${Date.now()}${hash}`);
    await expect(other.getByTestId('session-note')).toContainText(message, { timeout: 30_000 });
    await expect(other.getByRole('alert').filter({ hasText: message })).toBeVisible();
    // the studio opens as usual
    await expect(other.getByTestId(`model-${FAMILY}-base`)).toBeVisible({ timeout: 30_000 });
  }
  expect(errors).toEqual([]);
  await other.close();

  // a recipe too long for a link: a random name of 12000 characters compresses to far more than 8000
  let seed = 12345;
  const name = Array.from({ length: 12000 }, () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'[Math.floor(seed / 65536) % 62];
  }).join('');
  await page.getByTestId('recipe-yaml').fill(`name: ${name}\n${recipe}`);
  await page.getByRole('button', { name: 'Apply YAML' }).click();
  await page.getByRole('button', { name: 'Link to this recipe' }).click();
  await expect(page.getByTestId('link-too-long')).toContainText(/more than the 8,000 a link can safely carry: save it as a file/);
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Save recipe file' }).click();
  expect(parseRecipeYaml(await readFile(await (await download).path(), 'utf8')).name).toBe(name);
});

test('session: after a reload the saved session is offered; Restore brings back models, recipe, tasks, points and history; Start fresh discards it', async ({ page }) => {
  test.setTimeout(180_000);
  await quickEval(page);
  await page.getByRole('button', { name: `Remove ${E2}` }).click();
  await expect(page.getByTestId(`model-${E2}`)).toHaveCount(0);
  await page.getByLabel('Method', { exact: true }).selectOption('ties');
  await page.getByRole('checkbox', { name: 'Task reverse.ppl.jsonl' }).click();
  await evaluate(page, 1);
  await expect(page.getByTestId('frontier-point')).toHaveCount(1);
  const recipe = await yaml(page);
  await page.waitForTimeout(1500); // the save is debounced

  await page.reload();
  const offer = page.getByTestId('saved-session');
  await expect(offer).toContainText('2 model(s), 1 task(s), 1 history entry');
  // Nothing is restored by itself: the page opened on the demo family as usual.
  await expect(page.getByTestId(`model-${E2}`)).toBeVisible({ timeout: 30_000 });
  await expect(page.getByRole('checkbox', { name: 'Task reverse.ppl.jsonl' })).not.toBeChecked();
  await page.getByRole('button', { name: 'Restore session' }).click();
  await expect(page.getByTestId('session-note')).toContainText('restored', { timeout: 30_000 });
  await expect(offer).toHaveCount(0);
  await expect(page.getByTestId(`model-${E2}`)).toHaveCount(0);
  await expect.poll(() => yaml(page)).toBe(recipe);
  await expect(page.getByRole('checkbox', { name: 'Task reverse.ppl.jsonl' })).toBeChecked();
  await expect(page.getByTestId('history-entry')).toHaveCount(1);
  await expect(page.getByTestId('frontier-point')).toHaveCount(1);
  // Undo starts afresh with the restored recipe.
  await expect(page.getByRole('button', { name: 'Undo', exact: true })).toBeDisabled();

  await page.waitForTimeout(1500);
  await page.reload();
  await expect(offer).toBeVisible();
  await page.getByRole('button', { name: 'Start fresh' }).click();
  await expect(offer).toHaveCount(0);
  await expect(page.getByTestId('session-note')).toContainText('Started fresh');
  await expect(page.getByTestId('history-entry')).toHaveCount(0);
});

test('session: with "restore automatically" ticked, a reload brings the session back by itself (and the demo family is not opened over it)', async ({ page }) => {
  test.setTimeout(120_000);
  await page.getByLabel('restore my session automatically after a reload').check();
  await page.getByRole('button', { name: `Remove ${E2}` }).click();
  await expect(page.getByTestId(`model-${E2}`)).toHaveCount(0);
  await page.getByLabel('Method', { exact: true }).selectOption('ties');
  await expect.poll(() => yaml(page)).toContain('merge_method: ties');
  const recipe = await yaml(page);
  await page.waitForTimeout(1500); // the save is debounced
  await page.reload();
  await expect(page.getByTestId('session-note')).toContainText('restored automatically', { timeout: 30_000 });
  await expect(page.getByTestId('saved-session')).toHaveCount(0);
  await expect.poll(() => yaml(page)).toBe(recipe);
  await expect(page.getByTestId(`model-${FAMILY}-reverse`)).toBeVisible();
  await expect(page.getByTestId(`model-${E2}`)).toHaveCount(0);
  await expect(page.getByLabel('restore my session automatically after a reload')).toBeChecked();
});
