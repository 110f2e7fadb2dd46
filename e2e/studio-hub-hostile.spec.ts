// The studio against a hostile Hub (tools/mock-hub/hostile.ts): a file whose bytes were changed in
// transit is refused with the same hash mismatch the CLI reports (the tab hashes every completed
// download before using it for good), and a Hub that never answers shows the stall while the model
// opens, with a Cancel button that stops it.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { test, expect } from '@playwright/test';
import { startHostileHub, type HostileHub } from '../tools/mock-hub/hostile.ts';

const ZOO = process.env.STUDIO_ZOO ?? join(import.meta.dirname, '..', 'dist', 'zoo');
if (process.env.STUDIO_BASE_URL) test.use({ baseURL: process.env.STUDIO_BASE_URL });

const hubs: HostileHub[] = [];
test.afterAll(async () => {
  for (const h of hubs) await h.close();
});

test('a flipped byte in config.json is refused with the git-sha1 mismatch, and Retry is offered', async ({ page }) => {
  test.setTimeout(120_000);
  const evil = await startHostileHub({ root: ZOO, mode: { kind: 'flip-byte', suffix: 'config.json', offset: 3 } });
  hubs.push(evil);
  const file = evil.inner.repos.get('zoo/tiny-llama-base')!.files.get('config.json')!;
  const flipped = file.bytes.slice();
  flipped[3] ^= 1;
  const got = createHash('sha1').update(`blob ${flipped.byteLength}\0`).update(flipped).digest('hex');

  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  await page.getByText('Settings').click();
  await page.getByLabel('Hub URL').fill(evil.url);
  const hubForm = page.getByRole('form', { name: 'Add from the Hub' });
  await hubForm.getByLabel('Repo id').fill('zoo/tiny-llama-base');
  await hubForm.getByRole('button', { name: 'Add' }).click();
  const error = page.getByTestId('model-error');
  await expect(error).toContainText(
    `zoo/tiny-llama-base: config.json: the downloaded bytes do not match the Hub's git-sha1 (${file.gitOid.slice(0, 12)}..., got ${got.slice(0, 12)}...); the partial download was discarded, try again`,
    { timeout: 60_000 },
  );
  await expect(error.getByRole('button', { name: 'Retry' })).toBeVisible();
  expect(errors).toEqual([]);
});

test('a Hub that never answers: the stall is shown while the model opens, and Cancel stops it', async ({ page }) => {
  test.setTimeout(120_000);
  const evil = await startHostileHub({ root: ZOO, mode: { kind: 'silent' } });
  hubs.push(evil);
  await page.goto('/');
  await page.getByText('Settings').click();
  await page.getByLabel('Hub URL').fill(evil.url);
  await page.getByLabel('Hub timeout (s)').fill('1');
  const hubForm = page.getByRole('form', { name: 'Add from the Hub' });
  await hubForm.getByLabel('Repo id').fill('zoo/tiny-llama-base');
  await hubForm.getByRole('button', { name: 'Add' }).click();
  const status = page.getByTestId('hub-status');
  await expect(status).toContainText(
    `zoo/tiny-llama-base@main: resolve the revision: stalled (${evil.url}/api/models/zoo/tiny-llama-base/revision/main: no answer within 2 s (connect 1 s + first byte 1 s)); retry 1 of 5 in 0.5 s`,
    { timeout: 30_000 },
  );
  await page.getByRole('button', { name: 'Cancel zoo/tiny-llama-base' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Opening zoo/tiny-llama-base' })).toHaveCount(0, { timeout: 10_000 });
  await expect(page.getByTestId('model-error')).toHaveCount(0);
});
