import { test, expect } from '@playwright/test';

test('the studio loads', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Merge Studio' })).toBeVisible();
});
