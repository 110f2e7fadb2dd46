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
