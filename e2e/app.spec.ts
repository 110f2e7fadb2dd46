import { test, expect } from '@playwright/test';

test('the studio loads', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Merge Studio' })).toBeVisible();
});

test('finds a WebGPU adapter and its bf16 unpack kernel matches the CPU on all 65536 patterns', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  const status = page.getByTestId('gpu-status');
  await expect(status).toHaveAttribute('data-gpu', 'ready', { timeout: 60_000 });
  await expect(status).toContainText('shader-f16:');
  test.info().annotations.push({ type: 'adapter', description: (await status.textContent()) ?? '' });
  await page.getByRole('button', { name: 'GPU self-test' }).click();
  const result = page.getByTestId('gpu-selftest');
  await expect(result).toContainText(/pass|FAIL|error/, { timeout: 60_000 });
  await expect(result).toContainText('pass: 65536 bf16 patterns identical to the CPU');
  expect(errors).toEqual([]);
});
