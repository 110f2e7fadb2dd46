// The README's screenshots of each main view of the studio, at 1440 x 900: the workspace after
// "Try the demo" (editor, live scores, frontier), models with the compatibility table, a search,
// DAM, diagnostics and export. Run with `npm run screenshots` (builds first); the PNGs go to
// docs/screenshots/ (palette-free PNGs of a flat UI, each well under 200 KB).
import { join } from 'node:path';
import { test, expect, type Locator, type Page } from '@playwright/test';

const OUT = join(import.meta.dirname, '..', '..', 'docs', 'screenshots');

async function shot(page: Page, name: string, target?: Locator) {
  console.log(new Date().toISOString(), 'screenshot', name);
  await page.mouse.move(0, 0);
  await page.waitForTimeout(300);
  await (target ?? page).screenshot({ path: join(OUT, `${name}.png`), animations: 'disabled', caret: 'hide' });
}

/** Shows only the side panel `id` open (the others collapsed) and scrolls it into view. */
async function only(page: Page, id: string) {
  for (const dock of await page.locator('.side .dock').all()) {
    const mine = (await dock.getAttribute('data-dock')) === id;
    const toggle = dock.locator(':scope > .dock-toggle');
    if ((await toggle.getAttribute('aria-expanded')) === String(!mine)) await toggle.click();
  }
  await page.locator(`#dock-${id}`).scrollIntoViewIfNeeded();
}

test('screenshots of the studio', async ({ page }) => {
  await page.setViewportSize({ width: 1440, height: 900 });
  await page.goto('/');
  await expect(page.getByTestId('plan-ok')).toBeVisible({ timeout: 60_000 });

  // The workspace: the demo evaluated, a layer moved, a lambda sweep on the frontier.
  await page.getByLabel('Subset size', { exact: true }).fill('4');
  await page.getByLabel('Refined subset size').fill('4');
  await page.getByRole('button', { name: 'Try the demo', exact: true }).click();
  await expect(page.getByTestId('score-caesar.exact_match')).toBeVisible({ timeout: 300_000 });
  await expect(page.getByTestId('eval-status')).toHaveAttribute('data-state', 'done', { timeout: 300_000 });
  console.log(new Date().toISOString(), 'demo scored');
  const point = page.getByRole('slider', { name: 'Layer 2 weight, tiny-llama-reverse' });
  await point.focus();
  for (let i = 0; i < 3; i++) await page.keyboard.press('PageDown');
  await expect(page.getByTestId('scores')).toHaveAttribute('data-current', 'true', { timeout: 300_000 });
  await expect(page.getByTestId('eval-status')).toHaveAttribute('data-state', 'done', { timeout: 300_000 });
  console.log(new Date().toISOString(), 'edit scored');
  await page.getByLabel('Sweep parameter').selectOption({ label: 'lambda' });
  await page.getByLabel('Sweep from').fill('0.6');
  await page.getByLabel('Sweep to').fill('1.4');
  await page.getByLabel('Sweep steps').fill('2');
  await page.getByRole('button', { name: 'Run sweep' }).click();
  await expect(page.getByTestId('sweep-progress')).toHaveAttribute('data-state', 'done', { timeout: 300_000 });
  await page.locator('section.frontier .recharts-scatter-symbol').first().click();
  await only(page, 'models');
  await shot(page, 'workspace');

  // Models: the compatibility table with a model of another family added (problems first).
  await page.getByRole('button', { name: 'Add demo tiny-qwen2-add' }).click();
  await expect(page.getByRole('table', { name: 'Compatibility report' }).locator('tr[data-kind="problem"]').first()).toBeVisible({ timeout: 60_000 });
  await shot(page, 'models-compatibility', page.locator('.side'));
  await page.getByRole('button', { name: 'Remove tiny-qwen2-add' }).click();
  await expect(page.getByTestId('plan-ok')).toBeVisible({ timeout: 60_000 });

  // Search: the default settings, a short run on the CPU.
  await page.getByLabel('re-evaluate after each change').uncheck();
  await only(page, 'search');
  await page.getByLabel('Budget in trials').fill('3');
  await page.getByLabel('Items per task at full fidelity').fill('4');
  await page.getByRole('button', { name: 'Start search' }).click();
  await expect(page.getByTestId('search-status')).toContainText('done', { timeout: 400_000 });
  await shot(page, 'search');

  // DAM: three steps.
  await only(page, 'dam');
  await page.getByLabel('DAM steps').fill('3');
  await page.getByLabel('DAM batch size').fill('2');
  await page.getByLabel('DAM sequences per expert').fill('6');
  await page.getByRole('button', { name: 'Start DAM' }).click();
  await expect(page.getByTestId('dam-status')).toHaveText('finished', { timeout: 300_000 });
  await shot(page, 'dam');

  // Diagnostics (in the workspace, below the editor) and export.
  const diagnostics = page.locator('section.diagnostics');
  await diagnostics.getByRole('button', { name: 'Compute diagnostics' }).click();
  await expect(diagnostics.locator('svg.recharts-surface').first()).toBeVisible({ timeout: 300_000 });
  await diagnostics.scrollIntoViewIfNeeded();
  await only(page, 'export');
  await shot(page, 'diagnostics-export');
});
