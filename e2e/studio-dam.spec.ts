// DAM in the studio: with the demo base and two experts loaded, train the merge coefficients in the
// worker for 3 steps, pause after the first step and resume; the loss curve and step counter follow
// the run, and the heatmap shows each expert's learned per-layer means, moved off uniform averaging.
import { test, expect } from '@playwright/test';

test('studio: DAM trains 3 steps with pause/resume, live loss and coefficient heatmap', async ({ page }) => {
  test.setTimeout(240_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'DAM (learned merge)' })).toBeVisible();
  // The studio opens the demo family's base and experts itself; DAM needs two experts.
  await expect(page.getByRole('radio', { name: /as the base model/ })).toHaveCount(3, { timeout: 60_000 });
  await page.getByLabel('DAM steps').fill('3');
  await page.getByLabel('DAM batch size').fill('2');
  await page.getByLabel('DAM sequences per expert').fill('6');
  await page.getByRole('button', { name: 'Start DAM' }).click();
  const step = page.getByTestId('dam-step');
  const status = page.getByTestId('dam-status');
  await expect(status).toHaveText('finished', { timeout: 180_000 });
  await expect(step).toContainText('step 3');
  // One chart point per step: recharts draws a dot for each.
  await expect(page.getByRole('figure', { name: 'DAM loss curve' }).locator('.recharts-line-dot')).toHaveCount(3);
  const loss = Number((await step.textContent())!.match(/loss ([\d.e+-]+)/)![1]);
  expect(Number.isFinite(loss) && loss > 0).toBe(true);
  const table = page.getByRole('table', { name: 'DAM coefficients' });
  await expect(table.locator('tbody tr')).toHaveCount(2);
  const titles = await page.getByTestId('dam-cell').evaluateAll((cells) => cells.map((c) => c.getAttribute('title') ?? ''));
  expect(titles.length).toBeGreaterThan(2);
  const values = titles.map((t) => Number(t.split(': ').pop()));
  expect(values.every((v) => Number.isFinite(v) && v > 0 && v < 1)).toBe(true);
  // Every coefficient starts at 1/2: three AdamW steps must have moved some of the means.
  expect(values.some((v) => Math.abs(v - 0.5) > 1e-6)).toBe(true);

  // Continue the same run towards 1000 steps and pause it: it stops after the step in progress.
  await page.getByLabel('DAM steps').fill('1000');
  await page.getByRole('button', { name: 'Continue DAM' }).click();
  await expect(step).toContainText('step 5', { timeout: 60_000 });
  await page.getByRole('button', { name: 'Pause DAM' }).click();
  await expect(status).toHaveText('paused', { timeout: 60_000 });
  const pausedAt = Number((await step.textContent())!.match(/step (\d+)/)![1]);
  expect(pausedAt).toBeGreaterThanOrEqual(5);
  expect(pausedAt).toBeLessThan(1000);
  await page.waitForTimeout(1500);
  await expect(step).toContainText(`step ${pausedAt} `);
  await expect(page.getByRole('button', { name: 'Resume DAM' })).toBeEnabled();
  await page.getByRole('button', { name: 'Stop DAM' }).click();
  await expect(status).toHaveText('stopped');
  expect(errors).toEqual([]);
});
