// The per-layer chart as a direct-manipulation editor, in the built app: a drag made of many small
// moves ends where the chart's own axis says it should, the keyboard keeps the focus on a point, the
// curve chosen in "Curve of" is drawn on top and follows the point pressed, coinciding points of
// two curves can each be grabbed, the dragged value is shown beside the cursor, and a shift-drawn box
// moves several layers at once. Expected values come from the y axis ticks as drawn on the page.
import { test, expect, type Locator, type Page } from '@playwright/test';
import { FAMILY, studioWithDemoFamily } from './studio-page.ts';
import { parseRecipeYaml } from '../src/core/recipe/index.ts';

const E1 = `${FAMILY}-reverse`;
const E2 = `${FAMILY}-caesar`;

interface Scale { valueAt: (clientY: number) => number; step: number; lo: number; hi: number }

/** The y axis of the weight chart as drawn: a linear map from the ticks' page positions to their labels. */
async function chartScale(page: Page): Promise<Scale> {
  const ticks = await page.getByRole('figure', { name: 'weight per layer' }).evaluate((fig) => {
    const middle = (e: Element) => { const r = e.getBoundingClientRect(); return r.top + r.height / 2; };
    const lines = [...fig.querySelectorAll('.recharts-yAxis line.recharts-cartesian-axis-tick-line')].map(middle).sort((a, b) => a - b);
    const labels = [...fig.querySelectorAll('.recharts-yAxis-tick-labels text')].map((t) => ({ y: middle(t), value: Number(t.textContent) })).sort((a, b) => a.y - b.y);
    if (lines.length !== labels.length) throw new Error(`${lines.length} tick lines but ${labels.length} labels`);
    // Each label sits beside its tick line (within a few pixels): the line gives the exact position.
    return labels.map((l, i) => ({ value: l.value, y: lines[i], off: Math.abs(l.y - lines[i]) }));
  });
  expect(Math.max(...ticks.map((t) => t.off))).toBeLessThan(4);
  expect(ticks.length).toBeGreaterThan(2);
  ticks.sort((a, b) => a.value - b.value);
  const [a, b] = [ticks[0], ticks[ticks.length - 1]];
  const perPixel = (b.value - a.value) / (b.y - a.y);
  return { valueAt: (y) => a.value + (y - a.y) * perPixel, step: (b.value - a.value) / 100, lo: a.value, hi: b.value };
}

/** The value a drag ending at `clientY` must give: the axis value there, clamped and rounded to a step. */
function expectedAt(scale: Scale, clientY: number): number {
  const v = Math.min(scale.hi, Math.max(scale.lo, scale.valueAt(clientY)));
  return Math.round(v / scale.step) * scale.step;
}

const point = (page: Page, model: string, layer: number) => page.getByRole('slider', { name: `Layer ${layer} weight, ${model}` });
const valueOf = async (p: Locator) => Number(await p.getAttribute('aria-valuenow'));
async function centre(p: Locator) {
  const b = (await p.boundingBox())!;
  return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
}
async function weights(page: Page, model: string): Promise<number[]> {
  const recipe = parseRecipeYaml(await page.getByTestId('recipe-yaml').inputValue());
  const w = recipe.models!.find((m) => m.model === `zoo/${model}`)!.parameters!.weight;
  return Array.isArray(w) ? (w as number[]) : [w as number];
}

studioWithDemoFamily(async (page) => {
  await expect(point(page, E2, 0)).toHaveAttribute('aria-valuenow', '1');
});

test('a drag of 12 small moves follows the cursor to the axis value under it; the value shows beside the cursor; coinciding points are told apart', async ({ page }) => {
  const p1 = point(page, E1, 0);
  const p2 = point(page, E2, 0);
  const c2 = await centre(p2);
  const scale = await chartScale(page);
  await page.mouse.move(c2.x, c2.y);
  await page.mouse.down();
  let y = c2.y;
  for (let i = 0; i < 12; i++) {
    y += 3;
    await page.mouse.move(c2.x + (i % 2), y);
  }
  // while the button is held: the value next to the cursor, and no tooltip over the points
  const label = page.getByTestId('drag-value');
  await expect.soft(label).toBeVisible();
  await expect.soft(label).toContainText((await valueOf(p2)).toFixed(3), { timeout: 2000 });
  await expect.soft(page.locator('.recharts-tooltip-wrapper:visible')).toHaveCount(0);
  await page.mouse.up();
  await expect(label).toHaveCount(0);
  const expected = expectedAt(scale, y);
  expect(expected).toBeLessThan(0.85);
  expect(await valueOf(p2)).toBeCloseTo(expected, 3);
  expect((await weights(page, E2))[0]).toBeCloseTo(expected, 6);
  // the other curve's coinciding point did not move, and pressing the point chose its curve
  await expect(p1).toHaveAttribute('aria-valuenow', '1');
  expect((await weights(page, E1)).every((v) => v === 1)).toBe(true);
  await expect(page.getByLabel('Curve of')).toHaveValue('1');
  await expect(page.getByLabel('Curve of').locator('option:checked')).toHaveText(E2);

  // Both curves are still 1 at layer 2: their points there are spread apart, and each is the one under its own centre.
  const [d1, d2] = [await centre(point(page, E1, 2)), await centre(point(page, E2, 2))];
  expect(Math.abs(d1.x - d2.x)).toBeGreaterThanOrEqual(10);
  for (const [c, model] of [[d1, E1], [d2, E2]] as const) {
    expect(await page.evaluate(({ x, y }) => document.elementFromPoint(x, y)?.getAttribute('aria-label'), c)).toBe(`Layer 2 weight, ${model}`);
  }
});

test('the focus stays on a point through five ArrowUp presses, each one step', async ({ page }) => {
  const p = point(page, E1, 1);
  await p.focus();
  const { step } = await chartScale(page);
  for (let i = 0; i < 5; i++) await page.keyboard.press('ArrowUp');
  expect(await p.evaluate((el) => document.activeElement === el)).toBe(true);
  expect(await valueOf(p)).toBeCloseTo(1 + 5 * step, 4);
  expect((await weights(page, E1))[1]).toBeCloseTo(1 + 5 * step, 6);
  for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowDown');
  expect(await valueOf(p)).toBeCloseTo(1 + 2 * step, 4);
  expect(await p.evaluate((el) => document.activeElement === el)).toBe(true);
});

test('the curve chosen in "Curve of" is drawn on top', async ({ page }) => {
  const lastGroup = () => page.getByRole('figure', { name: 'weight per layer' }).locator('.series-points').last();
  await page.getByLabel('Curve of').selectOption({ label: E1 });
  await expect(lastGroup()).toHaveAttribute('data-model', E1);
  await page.getByLabel('Curve of').selectOption({ label: E2 });
  await expect(lastGroup()).toHaveAttribute('data-model', E2);
  // pressing a point of the other curve chooses it
  const c = await centre(point(page, E1, 3));
  await page.mouse.move(c.x, c.y);
  await page.mouse.down();
  await page.mouse.up();
  await expect(page.getByLabel('Curve of').locator('option:checked')).toHaveText(E1);
  await expect(lastGroup()).toHaveAttribute('data-model', E1);
});

test('shift-drag a box over two layers, then drag one of them: both move together', async ({ page }) => {
  await page.getByLabel('Curve of').selectOption({ label: E2 });
  const [a, b] = [await centre(point(page, E2, 1)), await centre(point(page, E2, 2))];
  await page.keyboard.down('Shift');
  await page.mouse.move(a.x - 22, a.y - 25);
  await page.mouse.down();
  await page.mouse.move(b.x + 22, b.y + 25, { steps: 6 });
  await expect(page.getByTestId('select-box')).toBeVisible();
  await page.mouse.up();
  await page.keyboard.up('Shift');
  for (const l of [1, 2]) await expect(point(page, E2, l)).toHaveAttribute('data-selected', 'true');
  for (const l of [0, 3]) await expect(point(page, E2, l)).not.toHaveAttribute('data-selected', 'true');
  for (const l of [1, 2]) await expect(point(page, E1, l)).not.toHaveAttribute('data-selected', 'true');

  const scale = await chartScale(page);
  const g = await centre(point(page, E2, 2));
  await page.mouse.move(g.x, g.y);
  await page.mouse.down();
  let y = g.y;
  for (let i = 0; i < 10; i++) {
    y += 4;
    await page.mouse.move(g.x, y);
  }
  await expect(page.getByTestId('drag-value')).toContainText('2 layers');
  await page.mouse.up();
  const expected = expectedAt(scale, y);
  expect(expected).toBeLessThan(0.85);
  const w = await weights(page, E2);
  expect(w).toHaveLength(4);
  expect([w[0], w[3]]).toEqual([1, 1]);
  for (const l of [1, 2]) expect(w[l]).toBeCloseTo(expected, 6);
  expect((await weights(page, E1)).every((v) => v === 1)).toBe(true);

  // an arrow key on a selected point moves the whole selection; Escape clears it
  await page.keyboard.press('ArrowUp');
  const after = await weights(page, E2);
  for (const l of [1, 2]) expect(after[l]).toBeCloseTo(expected + scale.step, 6);
  expect([after[0], after[3]]).toEqual([1, 1]);
  await page.keyboard.press('Escape');
  await expect(point(page, E2, 2)).not.toHaveAttribute('data-selected', 'true');
});
