import { test, expect } from '@playwright/test';

test('the studio loads', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Merge Studio' })).toBeVisible();
});

test('finds a WebGPU adapter; its bf16 unpack and merge kernels match the CPU in the page', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  const status = page.getByTestId('gpu-status');
  await expect(status).toHaveAttribute('data-gpu', 'ready', { timeout: 60_000 });
  await expect(status).toContainText('shader-f16:');
  test.info().annotations.push({ type: 'adapter', description: (await status.textContent()) ?? '' });
  await page.getByRole('button', { name: 'GPU self-test' }).click();
  const result = page.getByTestId('gpu-selftest');
  await expect(result).toContainText(/pass|FAIL|error/, { timeout: 90_000 });
  const checks = page.getByTestId('gpu-selftest-checks').getByRole('listitem');
  test.info().annotations.push({ type: 'self-test', description: (await page.getByTestId('gpu-selftest-checks').textContent()) ?? '' });
  await expect(checks).toHaveCount(4);
  for (const name of ['bf16 unpack', 'ties merge', 'dare_linear merge', 'slerp merge']) {
    await expect(checks.filter({ hasText: name })).toHaveAttribute('data-passed', 'true');
  }
  await expect(page.getByTestId('gpu-selftest-checks')).toContainText('65536 bf16 patterns identical to the CPU');
  await expect(result).toContainText('pass');
  expect(errors).toEqual([]);
});
