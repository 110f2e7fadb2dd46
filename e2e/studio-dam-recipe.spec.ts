// A trained DAM merge in the studio becomes the current recipe (per-tensor means of its learned
// coefficients, stated as an approximation), is evaluated like any recipe and exported as YAML.
import { readFile } from 'node:fs/promises';
import { test, expect } from '@playwright/test';
import { FAMILY, studioWithDemoFamily, trainDam } from './studio-page.ts';
import { parseRecipeYaml, type ParamCondition } from '../src/core/recipe/index.ts';

studioWithDemoFamily(async (page) => {
  await expect(page.getByTestId('plan-ok')).toBeVisible({ timeout: 30_000 });
});

test('DAM: 2 steps, then "Use DAM merge as the recipe": its weights are the heatmap means; evaluated; exported as YAML', async ({ page }) => {
  test.setTimeout(240_000);
  await page.getByLabel('re-evaluate after each change').uncheck();
  await page.getByLabel('Subset size', { exact: true }).fill('2');
  await page.getByLabel('Refined subset size').fill('2');
  await trainDam(page, 2);
  const table = page.getByRole('table', { name: 'DAM coefficients' });
  // one row per expert, headed by its label (the ref in data-ref)
  const experts = await table.locator('tbody th').evaluateAll((ths) => ths.map((th) => th.getAttribute('data-ref')));
  expect(experts).toEqual([`zoo/${FAMILY}-reverse`, `zoo/${FAMILY}-caesar`]);
  await expect(table.locator('tbody th')).toHaveText([`${FAMILY}-reverse`, `${FAMILY}-caesar`]);
  // every cell's title: "<tensor>: <mean>", row by row (one row per expert)
  const cells = await page.getByTestId('dam-cell').evaluateAll((els) => els.map((e) => e.getAttribute('title') ?? ''));
  const perExpert = cells.length / 2;
  await expect(page.getByTestId('dam-approximation')).toContainText('Approximation');

  await page.getByRole('button', { name: 'Use DAM merge as the recipe' }).click();
  await expect(page.getByTestId('dam-use-note')).toContainText('current recipe');
  const recipe = parseRecipeYaml(await page.getByTestId('recipe-yaml').inputValue());
  expect(recipe.merge_method).toBe('linear');
  expect(recipe.parameters).toEqual({ normalize: false });
  expect(recipe.models!.map((m) => m.model)).toEqual(experts);
  recipe.models!.forEach((m, i) => {
    const weight = m.parameters!.weight as ParamCondition[];
    expect(weight.length).toBe(perExpert + 1);
    expect(weight[perExpert]).toEqual({ value: 0.5 });
    for (let k = 0; k < perExpert; k++) {
      const [tensor, mean] = cells[i * perExpert + k].split(': ');
      expect(weight[k].filter).toBe(tensor);
      expect(weight[k].value as number).toBeCloseTo(Number(mean), 5);
    }
  });
  // some coefficient moved off 1/2 in two steps at lr 0.01
  expect(cells.some((c) => Math.abs(Number(c.split(': ')[1]) - 0.5) > 1e-6)).toBe(true);
  await expect(page.getByTestId('plan-ok')).toBeVisible({ timeout: 30_000 });

  // evaluated as any recipe: the scores describe it, and it is in the history
  await page.getByRole('checkbox', { name: 'Task reverse.ppl.jsonl' }).click();
  await page.getByRole('button', { name: 'Evaluate now' }).click();
  await expect(page.getByTestId('scores')).toHaveAttribute('data-current', 'true', { timeout: 90_000 });
  await expect(page.getByTestId('history-entry').first()).toContainText('linear');

  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Export DAM recipe (.yml)' }).click();
  const written = parseRecipeYaml(await readFile(await (await download).path(), 'utf8'));
  expect(written.models!.map((m) => m.model)).toEqual([`public/zoo/${FAMILY}/reverse`, `public/zoo/${FAMILY}/caesar`]);
  expect(written.models![0].parameters).toEqual(recipe.models![0].parameters);
});
