// GPU device loss: the page's ?test-hooks flag exposes a hook that destroys every GPUDevice of the
// tab and of the engine worker (what a driver reset does). The studio must say so, go on on the
// CPU path (an evaluation still scores, merged and scored on the CPU) and get the GPU back with
// "Retry GPU" (the next evaluation runs on WebGPU again).
import { test, expect } from '@playwright/test';

test('device loss: notice, evaluation on the CPU, Retry GPU restores WebGPU', async ({ page }) => {
  test.setTimeout(240_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.setViewportSize({ width: 1440, height: 900 });
  await page.goto('/?test-hooks');
  await expect(page.getByTestId('model-tiny-llama-base')).toBeVisible({ timeout: 30_000 });
  await expect(page.getByTestId('gpu-status')).toHaveAttribute('data-gpu', 'ready', { timeout: 30_000 });
  await page.getByLabel('Subset size', { exact: true }).fill('4');
  await page.getByLabel('Refined subset size').fill('4');
  const task = page.getByRole('checkbox', { name: 'Task caesar.gen.jsonl' });
  await task.click();
  await expect(task).toBeChecked({ timeout: 30_000 });
  const scores = page.getByTestId('scores');
  await page.getByRole('button', { name: 'Evaluate now' }).click();
  await expect(scores).toContainText('merge on webgpu, scored on webgpu', { timeout: 120_000 });

  const destroyed = await page.evaluate(() => (window as unknown as { __studioTest: { loseGpu(): Promise<number> } }).__studioTest.loseGpu());
  expect(destroyed).toBeGreaterThan(0);
  const notice = page.getByTestId('gpu-notice');
  await expect(notice).toHaveAttribute('data-state', 'lost');
  await expect(notice).toContainText('The GPU device was lost');
  await expect(page.getByTestId('gpu-status')).toHaveAttribute('data-gpu', 'lost');

  await page.getByRole('button', { name: 'Evaluate now' }).click();
  await expect(scores).toContainText('merge on cpu, scored on cpu', { timeout: 120_000 });
  await expect(page.getByTestId('score-caesar.exact_match')).toHaveText(/\d/);

  await notice.getByRole('button', { name: 'Retry GPU' }).click();
  await expect(notice).toHaveAttribute('data-state', 'restored', { timeout: 60_000 });
  await expect(page.getByTestId('gpu-status')).toHaveAttribute('data-gpu', 'ready', { timeout: 30_000 });
  await page.getByRole('button', { name: 'Evaluate now' }).click();
  await expect(scores).toContainText('merge on webgpu, scored on webgpu', { timeout: 120_000 });
  expect(errors).toEqual([]);
});
