// The README's screenshots of each main view of the studio, at 1280 x 800: the workspace after
// "Try the demo" (undo bar, editor, live scores, frontier), the frontier linked to the history,
// models with the compatibility table, a search, DAM, diagnostics and export. Run with
// `npm run screenshots` (builds first); the PNGs go to docs/screenshots/.
//
// Each view is its own test on a fresh page, so one slow step cannot cost the others their picture.
// Every wait is on a concrete state of the page (a score shown, a status "done") and bounded; the
// runs are tiny (4 items per task, a 2-value sweep, 3 search trials, 3 DAM steps at lr 0.01) so that the whole
// script takes a few minutes on a CPU-only machine (SwiftShader).
import { join } from 'node:path';
import { test, expect, type Locator, type Page } from '@playwright/test';

const OUT = join(import.meta.dirname, '..', '..', 'docs', 'screenshots');
const log = (...what: unknown[]) => console.log(new Date().toISOString(), ...what);

async function shot(page: Page, name: string, target?: Locator) {
  log('screenshot', name);
  await page.mouse.move(0, 0);
  await page.waitForTimeout(400);
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

/** A bounded wait that does not fail the picture: a view that is still busy is shot as it is. */
async function within(what: string, wait: Promise<unknown>) {
  const started = Date.now();
  await wait.then(() => log(what, `after ${((Date.now() - started) / 1000).toFixed(1)} s`), () => log(what, 'NOT reached in time: shooting the view as it is'));
}

test.beforeEach(async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto('/');
  await expect(page.getByTestId('plan-ok')).toBeVisible({ timeout: 60_000 });
  // small evaluations: the pictures show the views, not a measurement
  await page.getByLabel('Subset size', { exact: true }).fill('4');
  await page.getByLabel('Refined subset size').fill('4');
});

/** Try the demo, one edit of a layer, a 2-value lambda sweep: three or four points on the frontier. */
async function demoWithFrontier(page: Page) {
  await page.getByRole('button', { name: 'Try the demo', exact: true }).click();
  await expect(page.getByTestId('score-caesar.exact_match')).toBeVisible({ timeout: 180_000 });
  await expect(page.getByTestId('eval-status')).toHaveAttribute('data-state', 'done', { timeout: 180_000 });
  log('demo scored');
  const point = page.getByRole('slider', { name: 'Layer 2 weight, tiny-llama-reverse' });
  await point.focus();
  await page.keyboard.press('PageDown');
  await within('edit scored', (async () => {
    await expect(page.getByTestId('frontier-point')).toHaveCount(2, { timeout: 120_000 });
    await expect(page.getByTestId('eval-status')).toHaveAttribute('data-state', 'done', { timeout: 60_000 });
  })());
  await page.getByLabel('Sweep parameter').selectOption({ label: 'lambda' });
  await page.getByLabel('Sweep from').fill('0.6');
  await page.getByLabel('Sweep to').fill('1.4');
  await page.getByLabel('Sweep steps').fill('2');
  await page.getByRole('button', { name: 'Run sweep' }).click();
  await within('sweep done', expect(page.getByTestId('sweep-progress')).toHaveAttribute('data-state', 'done', { timeout: 150_000 }));
}

test('workspace and history', async ({ page }) => {
  test.setTimeout(480_000);
  await demoWithFrontier(page);
  // (the chart's legend can lie over a point: the click goes to the point itself)
  await page.locator('section.frontier .recharts-scatter-symbol').first().dispatchEvent('click');
  await expect(page.locator('tr[data-testid="frontier-point"][aria-selected="true"]')).toHaveCount(1);
  await only(page, 'models');
  // every column from its top (choosing a point scrolls its row into view)
  for (const column of await page.locator('main.studio > *').all()) await column.evaluate((el) => el.scrollTo(0, 0));
  await shot(page, 'workspace');

  // The chosen frontier row's link opens its history entry (highlighted) in the History dock.
  const chosen = page.locator('tr[data-testid="frontier-point"][aria-selected="true"]');
  await chosen.getByRole('button', { name: /in the history$/ }).click();
  await expect(page.locator('tr[data-testid="history-entry"][aria-selected="true"]')).toBeVisible({ timeout: 10_000 });
  await page.getByRole('checkbox', { name: /^Compare #/ }).nth(0).check();
  await page.getByRole('checkbox', { name: /^Compare #/ }).nth(1).check();
  await expect(page.getByTestId('history-compare')).toBeVisible();
  await page.locator('tr[data-testid="history-entry"][aria-selected="true"]').scrollIntoViewIfNeeded();
  await shot(page, 'frontier-history', page.locator('main.studio > .results'));
});

test('models and compatibility', async ({ page }) => {
  test.setTimeout(120_000);
  await only(page, 'models');
  // a model of another family: the compatibility table lists the problems first
  await page.getByRole('button', { name: 'Add demo tiny-qwen2-add' }).click();
  const report = page.getByRole('table', { name: 'Compatibility report' });
  await expect(report.locator('tr[data-kind="problem"]').first()).toBeVisible({ timeout: 60_000 });
  // the side column scrolled so that the report's first rows (the problems) sit in its middle, the
  // model table and the verdict above them
  await report.locator('tbody tr').first().evaluate((el) => el.scrollIntoView({ block: 'center' }));
  await shot(page, 'models-compatibility', page.locator('main.studio > .side'));
});

test('search', async ({ page }) => {
  test.setTimeout(420_000);
  await page.getByLabel('re-evaluate after each change').uncheck();
  for (const task of ['reverse.gen.jsonl', 'caesar.gen.jsonl']) {
    // ticking loads the task file first: the box shows the tick once it is loaded
    await page.getByRole('checkbox', { name: `Task ${task}` }).click();
    await expect(page.getByRole('checkbox', { name: `Task ${task}` })).toBeChecked({ timeout: 30_000 });
  }
  await only(page, 'search');
  await page.getByLabel('Budget in trials').fill('3');
  await page.getByLabel('Items per task at full fidelity').fill('4');
  await page.getByRole('button', { name: 'Start search' }).click();
  await within('search done', expect(page.getByTestId('search-status')).toContainText('done', { timeout: 360_000 }));
  await shot(page, 'search');
});

test('DAM', async ({ page }) => {
  test.setTimeout(300_000);
  await page.getByLabel('re-evaluate after each change').uncheck();
  await only(page, 'dam');
  await page.getByLabel('DAM steps').fill('3');
  // lr 0.01 (the DAM README's faster rate on the demo family): the means visibly leave 1/2 in 3 steps
  await page.getByLabel('DAM learning rate').fill('0.01');
  await page.getByLabel('DAM batch size').fill('2');
  await page.getByLabel('DAM sequences per expert').fill('6');
  await page.getByRole('button', { name: 'Start DAM' }).click();
  await within('DAM finished', expect(page.getByTestId('dam-status')).toHaveText('finished', { timeout: 240_000 }));
  await page.locator('#dock-dam').scrollIntoViewIfNeeded();
  await shot(page, 'dam');
});

test('diagnostics and export', async ({ page }) => {
  test.setTimeout(300_000);
  await page.getByLabel('re-evaluate after each change').uncheck();
  const diagnostics = page.locator('section.diagnostics');
  await diagnostics.getByRole('button', { name: 'Compute diagnostics' }).click();
  await within('diagnostics shown', expect(diagnostics.locator('svg.recharts-surface').first()).toBeVisible({ timeout: 240_000 }));
  await diagnostics.scrollIntoViewIfNeeded();
  await only(page, 'export');
  await shot(page, 'diagnostics-export');
});
