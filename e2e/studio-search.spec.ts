// The studio's automated search (issue 19, points 3 and 4: busy states say what runs with an ETA,
// charts carry axis titles and legends): a 3-trial search over the demo family on two tasks shows its
// progress and ETA while it runs, ends "done" with every trial listed, draws its Pareto front and
// hypervolume charts with axis titles and legends, and a trial loaded from the list becomes the
// recipe on screen (its YAML differs from the hand-set one).
import { test, expect, type Page } from '@playwright/test';
import { studioWithDemoFamily } from './studio-page.ts';

studioWithDemoFamily(async (page) => {
  await expect(page.getByTestId('plan-ok')).toBeVisible({ timeout: 30_000 });
});

/** Opens the side panel `id` when it is folded. */
async function openDock(page: Page, id: string) {
  const toggle = page.locator(`.side .dock[data-dock="${id}"] > .dock-toggle`);
  if ((await toggle.count()) > 0 && (await toggle.getAttribute('aria-expanded')) === 'false') await toggle.click();
  await page.locator(`#dock-${id}`).scrollIntoViewIfNeeded();
}

test('search: progress and ETA while it runs, done with every trial, charts with axis titles and legends, a trial loads as the recipe', async ({ page }) => {
  test.setTimeout(420_000);
  await page.getByLabel('re-evaluate after each change').uncheck();
  for (const task of ['reverse.gen.jsonl', 'caesar.gen.jsonl']) {
    await page.getByRole('checkbox', { name: `Task ${task}` }).click();
    await expect(page.getByRole('checkbox', { name: `Task ${task}` })).toBeChecked({ timeout: 30_000 });
  }
  const yamlBefore = await page.getByTestId('recipe-yaml').inputValue();
  await openDock(page, 'search');
  await page.getByLabel('Budget in trials').fill('3');
  await page.getByLabel('Items per task at full fidelity').fill('4');
  await page.getByRole('button', { name: 'Start search' }).click();

  // While it runs: what runs and how long is left.
  const eta = page.getByTestId('search-eta');
  await expect(eta).toBeVisible({ timeout: 60_000 });
  await expect(eta).toContainText(/running trial 1 of 3: ETA after the first trial|about \d+ s left \([\d.]+ s per trial\)/);
  await expect(page.getByRole('button', { name: 'Pause', exact: true })).toBeEnabled();

  await expect(page.getByTestId('search-status')).toContainText('done', { timeout: 360_000 });
  await expect(eta).toHaveCount(0);
  await expect(page.getByTestId('search-status')).toContainText(/3 of 3 trials/);

  // Charts: the Pareto front of the two objectives and the hypervolume, each with axis titles and a legend.
  const front = page.getByRole('figure', { name: 'Search Pareto front' });
  await expect(front).toBeVisible();
  for (const title of ['reverse.exact_match', 'caesar.exact_match']) await expect(front.locator('.recharts-label', { hasText: title })).toBeVisible();
  await expect(front.locator('.recharts-legend-item', { hasText: 'Pareto front' })).toBeVisible();
  const hv = page.getByRole('figure', { name: 'Hypervolume over trials' });
  await expect(hv.locator('.recharts-label', { hasText: 'trial' })).toBeVisible();
  await expect(hv.locator('.recharts-label', { hasText: 'score' })).toBeVisible();
  await expect(hv.locator('.recharts-legend-item', { hasText: 'hypervolume' })).toBeVisible();

  // Every trial is listed; loading one makes it the recipe on screen.
  await page.locator('#dock-search details > summary', { hasText: 'Trials' }).click();
  const rows = page.getByRole('table', { name: 'Search trials' }).locator('tbody tr');
  expect(await rows.count()).toBeGreaterThanOrEqual(3);
  const last = await rows.last().locator('td').first().textContent();
  const id = /\d+/.exec(last ?? '')?.[0];
  await page.getByRole('button', { name: `Load trial ${id}` }).click();
  await expect(page.getByTestId('recipe-yaml')).not.toHaveValue(yamlBefore);
});
