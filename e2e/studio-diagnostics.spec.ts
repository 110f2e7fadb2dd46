// Diagnostics on the demo models (tiny-llama base + two experts, as the studio opens): computed on
// WebGPU, the three per-layer charts have one point per layer for each series, the values table
// has a row per layer, and the CPU path gives the same numbers.
import { test, expect, type Page } from '@playwright/test';

async function tableValues(page: Page): Promise<number[][]> {
  return page.getByTestId('diag-table').locator('tbody tr').evaluateAll((rows) =>
    rows.map((r) => [...r.querySelectorAll('td')].slice(1).map((td) => parseFloat(td.textContent ?? ''))));
}

test('diagnostics: per-layer norms, cosines and sign conflicts on WebGPU, equal to the CPU path', async ({ page }) => {
  test.setTimeout(180_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.setViewportSize({ width: 1440, height: 900 });
  await page.goto('/');
  for (const m of ['base', 'caesar', 'reverse']) await expect(page.getByTestId(`model-tiny-llama-${m}`)).toBeVisible({ timeout: 30_000 });
  const panel = page.getByRole('region', { name: 'Diagnostics' });
  await panel.getByRole('button', { name: 'Compute diagnostics' }).click();
  await expect(panel.getByTestId('diagnostics-status')).toContainText('on WebGPU', { timeout: 120_000 });
  await expect(panel.getByTestId('diagnostics-status')).toContainText('2 models against tiny-llama-base');

  const layers = ['0', '1', '2', '3', 'other'];
  // Norms: one line per model; cosines: one pair; conflicts: all-models line + one pair.
  for (const [id, lines] of [['diag-norms', 2], ['diag-cosines', 1], ['diag-conflicts', 2]] as const) {
    const chart = panel.getByTestId(id);
    await expect(chart.locator('.recharts-legend-item')).toHaveCount(lines);
    await expect(chart.locator('text.recharts-cartesian-axis-tick-value[orientation="bottom"]')).toHaveText(layers);
    await expect(chart.locator('.recharts-line-dot')).toHaveCount(lines * layers.length);
    await expect(chart.locator('text.recharts-label')).toHaveCount(2);
  }
  await panel.getByText('Values').click();
  for (const l of layers) await expect(panel.getByTestId(`diag-row-${l}`)).toBeVisible();
  const gpu = await tableValues(page);
  expect(gpu).toHaveLength(layers.length);
  for (const row of gpu) {
    expect(row).toHaveLength(4);
    expect(row[0]).toBeGreaterThan(0);
    expect(row[1]).toBeGreaterThan(0);
    expect(Math.abs(row[2])).toBeLessThanOrEqual(1);
    expect(row[3]).toBeGreaterThan(0);
  }

  await panel.getByLabel('Diagnostics runtime').selectOption('cpu');
  await panel.getByRole('button', { name: 'Compute diagnostics' }).click();
  await expect(panel.getByTestId('diagnostics-status')).toContainText('on the CPU', { timeout: 120_000 });
  const cpu = await tableValues(page);
  cpu.forEach((row, k) => row.forEach((v, c) => expect(Math.abs(v - gpu[k][c])).toBeLessThanOrEqual(2e-3 * Math.max(1, Math.abs(v)))));
  expect(errors).toEqual([]);
});
