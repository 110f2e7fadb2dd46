// Shared set-up of the studio specs: every page error and console error is collected (a spec's
// afterEach expects none), and the studio opens with the tiny-llama demo family loaded.
import { expect, test, type Page } from '@playwright/test';

export const FAMILY = 'tiny-llama';

/** Registers, for the calling spec file, a beforeEach that opens the studio at 1440 x 1000 with the
 * demo family's three models listed, then runs `ready`, and an afterEach that fails on any error
 * logged meanwhile. */
export function studioWithDemoFamily(ready: (page: Page) => Promise<void>): void {
  let errors: string[] = [];
  test.beforeEach(async ({ page }) => {
    errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.setViewportSize({ width: 1440, height: 1000 });
    await page.goto('/');
    for (const name of ['base', 'reverse', 'caesar']) await expect(page.getByTestId(`model-${FAMILY}-${name}`)).toBeVisible({ timeout: 30_000 });
    await ready(page);
  });
  test.afterEach(() => {
    expect(errors).toEqual([]);
  });
}

/** Sets the live subset sizes to `items` and ticks task `task` (the box shows the tick once loaded). */
export async function tickTaskWithSubset(page: Page, task: string, items: number): Promise<void> {
  await page.getByLabel('Subset size', { exact: true }).fill(String(items));
  await page.getByLabel('Refined subset size').fill(String(items));
  const box = page.getByRole('checkbox', { name: `Task ${task}` });
  await box.click();
  await expect(box).toBeChecked();
}

/** Trains DAM for `steps` small steps (lr 0.01, batch 2, 4 sequences per expert) until it finishes. */
export async function trainDam(page: Page, steps: number): Promise<void> {
  await page.getByLabel('DAM steps').fill(String(steps));
  await page.getByLabel('DAM learning rate').fill('0.01');
  await page.getByLabel('DAM batch size').fill('2');
  await page.getByLabel('DAM sequences per expert').fill('4');
  await page.getByRole('button', { name: 'Start DAM' }).click();
  await expect(page.getByTestId('dam-status')).toHaveText('finished', { timeout: 180_000 });
}
