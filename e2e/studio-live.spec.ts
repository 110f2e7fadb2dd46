// The live loop in the studio (Chromium, WebGPU on SwiftShader here): the demo family's inputs are
// held on the GPU and merged straight into the evaluator; after a layer point is moved, the scores
// shown equal the CLI's `merge-studio eval recipe.yml` of the recipe the YAML panel shows, on the
// same items (the CLI merges on the CPU and evaluates on the CPU: an independent path).
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, expect, type Page } from '@playwright/test';
import { parseRecipeYaml, recipeToYaml } from '../src/core/recipe/index.ts';
import { renameModels } from '../src/core/recipe/stages.ts';
import { FAMILY, studioWithDemoFamily, tickTaskWithSubset } from './studio-page.ts';

if (process.env.STUDIO_BASE_URL) test.use({ baseURL: process.env.STUDIO_BASE_URL });
const REPO = join(import.meta.dirname, '..');
const ITEMS = 8;
const TASK = 'caesar.ppl.jsonl';

studioWithDemoFamily(async () => undefined);

/** `merge-studio eval RECIPE --task TASK --limit N --json` (the built CLI), from the repository root. */
function cliEval(recipe: string): Promise<{ results: { task: string; metrics: Record<string, number>; items: number }[] }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [join(REPO, 'bin', 'merge-studio.mjs'), 'eval', recipe, '--task', join(REPO, 'public/zoo/tasks', TASK), '--limit', String(ITEMS), '--json', '--backend', 'cpu'], { cwd: REPO, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`merge-studio eval failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

/** Ticks the task, reads the first score, moves layer 1 of the caesar expert down (a drag with the
 * keyboard) and returns the scores before and after, checking the one after against the CLI. */
async function dragAndCompareWithCli(page: Page, residency: 'shown' | 'absent'): Promise<void> {
  await page.getByLabel('Method', { exact: true }).selectOption('task_arithmetic');
  await expect(page.getByTestId('plan-ok')).toBeVisible();
  await tickTaskWithSubset(page, TASK, ITEMS);
  const scores = page.getByTestId('scores');
  const score = page.getByTestId('score-caesar.perplexity');
  await expect(score).toBeVisible({ timeout: 120_000 });
  // Live loop: every input tensor the merge reads is resident on the GPU (the demo models fit any
  // budget). Without it (?live=off) there is no residency to report.
  if (residency === 'shown') await expect(page.getByTestId('gpu-residency')).toHaveText(/GPU-resident: (\d+)\/\1 input tensors, [\d.]+ MB; 0 streamed/);
  else await expect(page.getByTestId('gpu-residency')).toHaveCount(0);
  const before = Number(await score.getAttribute('data-value'));

  // A drag: layer 1's point of the caesar expert moved down with the keyboard (large steps).
  const yaml = page.getByTestId('recipe-yaml');
  const point = page.getByRole('slider', { name: `Layer 1 weight, ${FAMILY}-caesar` });
  await point.focus();
  const text = await yaml.inputValue();
  for (let i = 0; i < 3; i++) await point.press('Shift+ArrowDown');
  await expect(yaml).not.toHaveValue(text);
  // The scores of the recipe now shown (re-merged in place, not rebuilt).
  await expect(scores).toHaveAttribute('data-current', 'true', { timeout: 120_000 });
  await expect(page.getByTestId('eval-status')).not.toContainText(/running|merg|scor/i, { timeout: 120_000 });
  await expect(scores).toHaveAttribute('data-current', 'true');
  const after = Number(await score.getAttribute('data-value'));
  expect(after).not.toBe(before);

  // The CLI on the same recipe (demo models by their folders) and the same items.
  const dir = await mkdtemp(join(tmpdir(), 'studio-live-'));
  try {
    const recipe = renameModels(parseRecipeYaml(await yaml.inputValue()), (ref) => ref.replace(new RegExp(`^zoo/${FAMILY}-(\\w+)$`), `public/zoo/${FAMILY}/$1`));
    const file = join(dir, 'recipe.yml');
    await writeFile(file, recipeToYaml(recipe));
    const cli = await cliEval(file);
    expect(cli.results[0].items).toBe(ITEMS);
    const want = cli.results[0].metrics.perplexity;
    test.info().annotations.push({ type: 'perplexity', description: `studio (${residency === 'shown' ? 'live loop' : '?live=off'}) ${after}, CLI ${want}, before the drag ${before}` });
    expect(Math.abs(after - want) / want).toBeLessThan(1e-4);
    // The drag moved the score by far more than that.
    expect(Math.abs(after - before) / want).toBeGreaterThan(1e-3);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('live loop: GPU-resident inputs; scores after a drag equal `merge-studio eval recipe.yml`', async ({ page }) => {
  test.setTimeout(240_000);
  await dragAndCompareWithCli(page, 'shown');
});

test('?live=off (the bench\'s baseline: merged on the GPU, read back, uploaded): no residency, and the same scores as the CLI after the same drag', async ({ page }) => {
  test.setTimeout(240_000);
  await page.goto('/?live=off');
  for (const name of ['base', 'reverse', 'caesar']) await expect(page.getByTestId(`model-${FAMILY}-${name}`)).toBeVisible({ timeout: 30_000 });
  await dragAndCompareWithCli(page, 'absent');
});
