// The workspace layout (issue 19, point 3) and the first run (point 5): the per-layer editor takes at
// least half the width at 1280, 1440 and 1920 wide, the live scores sit beside it in view, nothing
// overflows horizontally; "Try the demo" loads the demo, ticks its tasks and shows the merge's scores;
// the frontier's points and the evaluated-recipe rows are linked; the compatibility report is a table
// with the problems first; tasks are grouped by the family they fit.
import { test, expect, type Page } from '@playwright/test';
import { FAMILY, studioWithDemoFamily } from './studio-page.ts';

studioWithDemoFamily(async (page) => {
  await expect(page.getByTestId('plan-ok')).toBeVisible({ timeout: 30_000 });
});

/** Every element wider than its scroll container, or poking out of the viewport on the right. */
async function overflows(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const out: string[] = [];
    const doc = document.documentElement;
    if (doc.scrollWidth > window.innerWidth) out.push(`page: ${doc.scrollWidth} > ${window.innerWidth}`);
    for (const el of document.querySelectorAll<HTMLElement>('main.studio > *, main.studio .panel, header.top')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0) continue;
      if (r.right > window.innerWidth + 0.5) out.push(`${el.className || el.tagName} ends at ${r.right}`);
      // A panel's own content must fit it (charts and tables size themselves to the panel).
      if (el.scrollWidth > el.clientWidth + 1) out.push(`${el.getAttribute('aria-labelledby') ?? el.className}: content ${el.scrollWidth} > ${el.clientWidth}`);
    }
    return out;
  });
}

for (const [width, height] of [[1280, 800], [1440, 900], [1920, 1080]]) {
  test(`layout at ${width} x ${height}: the editor takes at least half the width, the scores are beside it, nothing overflows`, async ({ page }) => {
    await page.setViewportSize({ width, height });
    const editor = page.locator('section.layers');
    await expect(page.getByRole('slider', { name: `Layer 0 weight, ${FAMILY}-reverse` })).toBeVisible();
    await page.waitForTimeout(300);
    const e = (await editor.boundingBox())!;
    expect(e.width / width, `editor ${e.width} px of ${width}`).toBeGreaterThanOrEqual(0.5);
    // the chart fills the editor (not a 400 px box in a wide panel)
    const chart = (await editor.locator('figure.curve .recharts-wrapper > svg').first().boundingBox())!;
    expect(chart.width).toBeGreaterThan(e.width * 0.85);
    // the live scores are to the right of the editor and on screen without scrolling
    const scores = (await page.locator('section.eval').boundingBox())!;
    expect(scores.x).toBeGreaterThanOrEqual(e.x + e.width);
    expect(scores.y).toBeLessThan(height / 2);
    expect(e.y).toBeLessThan(height / 3);
    expect(await overflows(page)).toEqual([]);
  });
}

test('Try the demo: the demo family alone, its tasks ticked, the merge scored beside the editor', async ({ page }) => {
  test.setTimeout(240_000);
  // another family's model first: the demo removes it
  await page.getByRole('button', { name: 'Add demo tiny-qwen2-add' }).click();
  await expect(page.getByTestId('model-tiny-qwen2-add')).toBeVisible({ timeout: 30_000 });
  await expect(page.getByTestId('scores-empty')).toContainText('No task ticked');
  await page.getByLabel('Subset size', { exact: true }).fill('4');
  await page.getByLabel('Refined subset size').fill('4');
  const undoSteps = async () => Number(/\((\d+)\)/.exec((await page.getByTestId('undo-button').textContent()) ?? '')?.[1] ?? 0);
  const before = await undoSteps();
  await page.getByRole('button', { name: 'Try the demo', exact: true }).click();
  await expect(page.getByTestId('model-tiny-qwen2-add')).toHaveCount(0, { timeout: 30_000 });
  for (const name of ['base', 'reverse', 'caesar']) await expect(page.getByTestId(`model-${FAMILY}-${name}`)).toBeVisible();
  await expect(page.getByRole('checkbox', { name: 'Task reverse.gen.jsonl' })).toBeChecked();
  await expect(page.getByRole('checkbox', { name: 'Task caesar.gen.jsonl' })).toBeChecked();
  await expect(page.getByRole('checkbox', { name: 'Task sort.gen.jsonl' })).not.toBeChecked();
  await expect(page.getByTestId('recipe-yaml')).toHaveValue(/merge_method: task_arithmetic/);
  for (const o of ['reverse.exact_match', 'caesar.exact_match']) await expect(page.getByTestId(`score-${o}`)).toBeVisible({ timeout: 180_000 });
  await expect(page.getByTestId('scores')).toHaveAttribute('data-current', 'true');
  await expect(page.getByTestId('frontier-point')).toHaveCount(1, { timeout: 30_000 });
  // the demo's models and recipe are one undo step; undoing it brings the other family's model back
  expect(await undoSteps()).toBe(before + 1);
  await page.getByTestId('undo-button').click();
  await expect(page.getByTestId('model-tiny-qwen2-add')).toBeVisible({ timeout: 30_000 });
  await expect(page.getByTestId('recipe-yaml')).toHaveValue(/tiny-qwen2-add/);
});

test('frontier points and evaluated rows are linked; sweep shows its progress; the trend follows the changes', async ({ page }) => {
  test.setTimeout(240_000);
  await page.getByLabel('Subset size', { exact: true }).fill('4');
  await page.getByLabel('Refined subset size').fill('4');
  await page.getByRole('checkbox', { name: 'Task reverse.ppl.jsonl' }).click();
  await expect(page.getByTestId('score-reverse.perplexity')).toBeVisible({ timeout: 120_000 });
  await page.getByLabel('Sweep parameter').selectOption({ label: 'lambda' });
  await page.getByLabel('Sweep from').fill('0.5');
  await page.getByLabel('Sweep to').fill('1.5');
  await page.getByLabel('Sweep steps').fill('2');
  await page.getByRole('button', { name: 'Run sweep' }).click();
  await expect(page.getByTestId('sweep-progress')).toContainText(/value \d of 2/);
  await expect(page.getByTestId('frontier-point')).toHaveCount(3, { timeout: 180_000 });
  await expect(page.getByTestId('sweep-progress')).toContainText('sweep done: 2 of 2', { timeout: 60_000 });

  // a point on the chart → its row highlighted (and the table opened); a row → the point marked
  const dots = page.locator('section.frontier .recharts-scatter-symbol');
  await expect(dots.first()).toBeVisible();
  const labels = await page.locator('section.frontier .recharts-label-list text').allTextContents();
  expect(labels.sort()).toEqual(['#1', '#2', '#3']);
  await dots.first().click();
  const selected = page.locator('tr[data-testid="frontier-point"][aria-selected="true"]');
  await expect(selected).toHaveCount(1);
  await expect(selected).toBeVisible();
  const id = await selected.getAttribute('data-id');
  await page.locator(`tr[data-testid="frontier-point"][data-id="${id === '2' ? 3 : 2}"] td`).first().click();
  await expect(selected).toHaveAttribute('data-id', id === '2' ? '3' : '2');
  await expect(page.locator('section.frontier .recharts-legend-wrapper')).toContainText(`chosen #${id === '2' ? 3 : 2}`);

  // a row → its entry in the History dock (the same recipe), highlighted and in view
  const other = id === '2' ? '3' : '2';
  const row = page.locator(`tr[data-testid="frontier-point"][data-id="${other}"]`);
  const label = (await row.locator('td').nth(2).textContent())!;
  await row.getByRole('button', { name: `Show recipe ${other} in the history` }).click();
  const entry = page.locator('tr[data-testid="history-entry"][aria-selected="true"]');
  await expect(entry).toHaveCount(1);
  await expect(entry).toBeInViewport();
  await expect(entry).toContainText(label);
  // with scores, the frontier's rows and the history filled in, still nothing overflows its column
  expect(await overflows(page)).toEqual([]);
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.waitForTimeout(300);
  expect(await overflows(page)).toEqual([]);

  // the live score's trend: a change re-scores, and the sparkline has two recipes
  await page.getByRole('slider', { name: `Layer 0 weight, ${FAMILY}-reverse` }).focus();
  await page.keyboard.press('PageDown');
  await expect(page.getByTestId('trend-reverse.perplexity').getByRole('img')).toHaveAttribute('aria-label', /last 2 recipes/, { timeout: 120_000 });
});

test('compatibility as a table with the problems first; tasks grouped by the family they fit', async ({ page }) => {
  await expect(page.getByTestId(`task-family-${FAMILY}`)).toContainText('loaded');
  await expect(page.getByTestId(`task-family-${FAMILY}`).getByRole('group', { name: 'reverse tasks' })).toContainText('expert loaded');
  await expect(page.getByTestId('task-family-tiny-qwen2').getByRole('group', { name: 'add tasks' })).toBeVisible();
  // each task once
  await expect(page.getByRole('checkbox', { name: 'Task caesar.gen.jsonl' })).toHaveCount(1);
  await page.getByRole('button', { name: 'Add demo tiny-qwen2-add' }).click();
  const report = page.getByRole('table', { name: 'Compatibility report' });
  await expect(report.locator('tr[data-kind="problem"]').first()).toContainText('different architectures', { timeout: 30_000 });
  const kinds = await report.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-kind')));
  expect(kinds[0]).toBe('problem');
  expect(kinds.lastIndexOf('problem')).toBeLessThan(kinds.indexOf('ok'));
});
