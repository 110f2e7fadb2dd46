// The live loop at real shapes in the studio (Chromium, WebGPU on SwiftShader here): a reduced
// Qwen2.5-0.5B-shaped family (full vocabulary 151936 and hidden size 896, 2 layers, tied
// embeddings; tools/realshape) is added by Hub id from the mock Hub; its inputs are held on the GPU
// in their stored bf16 and merged straight into the evaluator. After a layer point is moved with
// the keyboard, the perplexity shown equals the CLI's `merge-studio eval recipe.yml` of the recipe
// the YAML panel shows, from the same mock Hub, on the same items (the CLI merges and evaluates on
// the CPU: an independent path). The family is generated once into the cache (prepareFamily:
// $MERGE_STUDIO_CACHE, /work/cache, else the OS tmpdir) and reused by later runs.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, expect } from '@playwright/test';
import { startMockHub, type MockHub } from '../tools/mock-hub/server.ts';
import { exportRecipe, loadRecipeFromHub, prepareFamily, type ExportFamily } from '../tools/bench/studio-export.ts';
import { tickTaskWithSubset } from './studio-page.ts';

if (process.env.STUDIO_BASE_URL) test.use({ baseURL: process.env.STUDIO_BASE_URL });
const REPO = join(import.meta.dirname, '..');
// Plain ASCII lines, which the Qwen byte-level BPE tokenizes like any text; four keep a forward
// through the 151936-row output layer on SwiftShader short.
const ITEMS = 4;
const TASK = 'caesar.ppl.jsonl';

let family: ExportFamily;
let hub: MockHub;
let errors: string[] = [];
const debug = (what: string) => {
  if (process.env.STUDIO_DEBUG) console.log(new Date().toISOString(), what);
};

test.beforeAll(async () => {
  test.setTimeout(600_000);
  family = await prepareFamily('qwen2.5-0.5b', 2);
  debug(`family: ${family.description}`);
  hub = await startMockHub({ port: 0, root: family.root });
});

test.afterAll(async () => {
  await hub?.close();
});

test.beforeEach(({ page }) => {
  errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
});

test.afterEach(() => {
  expect(errors).toEqual([]);
});

/** `merge-studio eval RECIPE --task TASK --limit N --json` (the built CLI) with the models from the mock Hub. */
function cliEval(recipe: string): Promise<{ results: { task: string; metrics: Record<string, number>; items: number }[] }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [join(REPO, 'bin', 'merge-studio.mjs'), 'eval', recipe, '--task', join(REPO, 'public/zoo/tasks', TASK), '--limit', String(ITEMS), '--json', '--backend', 'cpu', '--hub-url', hub.url, '--no-cache'], { cwd: REPO, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`merge-studio eval failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

test('live loop on a 0.5B-shaped family from the mock Hub: scores after a layer change equal `merge-studio eval recipe.yml`', async ({ page }) => {
  test.setTimeout(420_000);
  await page.setViewportSize({ width: 1440, height: 1000 });
  await loadRecipeFromHub(page, hub.url, family.repos, exportRecipe(family.repos));
  debug('models loaded, recipe applied');
  await tickTaskWithSubset(page, TASK, ITEMS);
  const scores = page.getByTestId('scores');
  const score = page.getByTestId('score-caesar.perplexity');
  await expect(score).toBeVisible({ timeout: 300_000 });
  // The live loop is the path taken: its residency line is shown, with every input the merge
  // reads (3 models' layers and the 151936 x 896 embeddings, held in slices) on the GPU.
  const residency = page.getByTestId('gpu-residency');
  await expect(residency).toHaveText(/GPU-resident: (\d+)\/\1 input tensors, [\d.]+ [MG]B; 0 streamed; merged weights [\d.]+ [MG]B on the GPU/);
  const before = Number(await score.getAttribute('data-value'));
  debug(`first score ${before}`);
  expect(Number.isFinite(before)).toBe(true);

  // A drag: layer 1's point of the first expert moved down with the keyboard (large steps).
  const yaml = page.getByTestId('recipe-yaml');
  const expert = family.repos[1].split('/')[1];
  const point = page.getByRole('slider', { name: new RegExp(`^Layer 1 weight, .*${expert}$`) });
  await point.focus();
  const text = await yaml.inputValue();
  for (let i = 0; i < 3; i++) await point.press('Shift+ArrowDown');
  await expect(yaml).not.toHaveValue(text);
  // The scores of the recipe now shown (re-merged in place on the GPU, not rebuilt).
  await expect(scores).toHaveAttribute('data-current', 'true', { timeout: 300_000 });
  await expect(page.getByTestId('eval-status')).not.toContainText(/running|merg|scor/i, { timeout: 300_000 });
  await expect(scores).toHaveAttribute('data-current', 'true');
  await expect(residency).toBeVisible();
  const after = Number(await score.getAttribute('data-value'));
  debug(`score after the change ${after}`);
  expect(after).not.toBe(before);

  // The CLI on the recipe the YAML panel shows (the same Hub ids, the same mock Hub), same items.
  const dir = await mkdtemp(join(tmpdir(), 'studio-live-realshape-'));
  try {
    const file = join(dir, 'recipe.yml');
    await writeFile(file, await yaml.inputValue());
    const cli = await cliEval(file);
    debug('CLI eval done');
    expect(cli.results[0].items).toBe(ITEMS);
    const want = cli.results[0].metrics.perplexity;
    const note = `studio ${after}, CLI ${want}, before the change ${before}; ${await residency.textContent()}`;
    test.info().annotations.push({ type: 'perplexity', description: note });
    debug(note);
    expect(Math.abs(after - want) / want).toBeLessThan(1e-4);
    // The change moved the score by far more than that.
    expect(Math.abs(after - before) / want).toBeGreaterThan(1e-3);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
