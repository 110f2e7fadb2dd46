// Publishing from the studio to the mock Hub (tools/mock-hub, started here; the page reaches it
// cross-origin, so CORS on the write side is exercised too): sign in with a token, publish the
// demo merge, then check on the mock that the commit holds the files, that they read back by id
// and match the CPU engine's merge of the same recipe, that the card is Hub metadata; a second
// publish meets 409 and, pushed into the existing repo, uploads nothing again. Then "Sign in with
// Hugging Face" through the mock's OAuth endpoints. Cancel mid-upload and a cut connection: nothing is
// committed, and Publish again completes.
import { join } from 'node:path';
import { test, expect } from '@playwright/test';
import { startMockHub, type MockHub } from '../tools/mock-hub/server.ts';
import { MOCK_OAUTH_CLIENT_ID, MOCK_WRITE_TOKEN } from '../tools/mock-hub/write.ts';
import { decodeToF32 } from '../src/core/dtype.ts';
import { cpuBackend, execute, plan } from '../src/core/engine/index.ts';
import { hubTree } from '../src/core/hub/tree.ts';
import { parseFrontMatter } from '../src/core/hub/model-card.ts';
import { memorySinks, memoryTree } from '../src/core/io/memory.ts';
import { openModel, type ModelHandle } from '../src/core/model/handle.ts';
import { parseRecipeYaml, referencedModels } from '../src/core/recipe/index.ts';
import { renameModels } from '../src/core/recipe/stages.ts';
import { nodeFolderTree } from '../src/core/io/node-file.ts';
import { openSafetensorsModel, readTensorBytes } from '../src/core/safetensors/index.ts';

const ZOO = process.env.STUDIO_ZOO ?? join(import.meta.dirname, '..', 'dist', 'zoo');
if (process.env.STUDIO_BASE_URL) test.use({ baseURL: process.env.STUDIO_BASE_URL });

let hub: MockHub;
test.beforeAll(async () => {
  hub = await startMockHub({ port: 0, root: ZOO, write: { multipartThreshold: 500_000, partSize: 256 * 1024 } });
});
test.afterAll(async () => {
  await hub?.close();
});

test('publish: token sign-in, the demo merge committed to the mock Hub, read back by id == CPU merge; 409, then push into it skips', async ({ page }) => {
  test.setTimeout(240_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.setViewportSize({ width: 1400, height: 1000 });
  await page.goto('/');
  await page.getByText('Settings').click();
  await page.getByLabel('Hub URL').fill(hub.url);
  await expect(page.getByTestId('plan-ok')).toBeVisible({ timeout: 60_000 });
  const yamlText = await page.getByTestId('recipe-yaml').inputValue();

  const signInForm = page.getByRole('form', { name: 'Sign in to the Hub' });
  await signInForm.getByLabel('Access token').fill(MOCK_WRITE_TOKEN);
  await signInForm.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page.getByTestId('publish-account')).toContainText('mock-user');
  await expect(page.getByTestId('publish-account')).toContainText('in memory only');
  expect(await page.evaluate(() => JSON.stringify(localStorage))).not.toContain(MOCK_WRITE_TOKEN);

  const form = page.getByRole('form', { name: 'Publish settings' });
  await form.getByLabel('Repo name').fill('studio-merge');
  hub.write.reset();
  await form.getByRole('button', { name: 'Publish', exact: true }).click();
  const link = page.getByTestId('publish-link');
  await expect(link).toBeVisible({ timeout: 180_000 });
  await expect(link).toHaveAttribute('href', `${hub.url}/mock-user/studio-merge`);
  await expect(page.getByRole('table', { name: 'Upload progress' })).toContainText('model.safetensors');

  // On the mock: one commit with the model's files.
  expect(hub.write.log.commits).toHaveLength(1);
  expect(hub.write.log.commits[0].files.sort()).toEqual(expect.arrayContaining(['README.md', 'config.json', 'mergekit_config.yml', 'model.safetensors', 'tokenizer.json']));
  expect(hub.write.log.lfsStored.length).toBeGreaterThan(0);

  // Read back by id (the product's Hub reader) and compare with the CPU engine's merge of the page's recipe.
  const published = await hubTree({ repo: 'mock-user/studio-merge', hubUrl: hub.url });
  const readAll = async (path: string) => { const s = await published.open(path); return s.read(0, s.size); };
  const recipe = parseRecipeYaml(new TextDecoder().decode(await readAll('mergekit_config.yml')));
  // Exported recipes name the demo models by their folders in the repository, so that
  // `merge-studio merge` replays them from its root (src/worker/export-refs.ts).
  const asFolder = (ref: string) => ref.replace(/^zoo\/(tiny-[a-z0-9]+)-(.+)$/, 'public/zoo/$1/$2');
  expect(recipe).toEqual(renameModels(parseRecipeYaml(yamlText), asFolder));
  const handles = new Map<string, ModelHandle>();
  for (const ref of referencedModels(recipe)) {
    expect(ref).toMatch(/^public\/zoo\/tiny-llama\/[a-z]+$/);
    handles.set(ref, await openModel(nodeFolderTree(join(import.meta.dirname, '..', ref)), undefined, ref));
  }
  const reference = memorySinks();
  await execute(plan(recipe, handles), { sinks: reference, backend: cpuBackend });
  const got = await openSafetensorsModel(published);
  const want = await openSafetensorsModel(memoryTree(reference.files, 'cpu'));
  expect([...got.tensors.keys()].sort()).toEqual([...want.tensors.keys()].sort());
  for (const [name, info] of want.tensors) {
    const g = got.tensors.get(name)!;
    expect([g.dtype, g.shape]).toEqual([info.dtype, info.shape]);
    const a = decodeToF32(await readTensorBytes(g), g.dtype);
    const b = decodeToF32(await readTensorBytes(info), info.dtype);
    let far = 0;
    // The studio may merge on the GPU: f32 sums in another order can round to the neighbouring bf16.
    for (let i = 0; i < b.length; i++) if (!(Math.abs(a[i] - b[i]) <= Math.abs(b[i]) * 2 ** -7 + 1e-6)) far++;
    expect(far, name).toBe(0);
  }
  // The card is Hub metadata.
  const { data } = parseFrontMatter(new TextDecoder().decode(await readAll('README.md')));
  expect(data).toMatchObject({ library_name: 'transformers', tags: ['merge', 'mergekit', 'merge-studio'] });

  // Again under the same name: 409, with the way out named; then into the existing repo, nothing re-sent.
  await form.getByRole('button', { name: 'Publish', exact: true }).click();
  await expect(page.getByTestId('publish-status')).toContainText(/mock-user\/studio-merge already exists on .*: tick 'push into the existing repo', or choose another name/, { timeout: 60_000 });
  await form.getByLabel('push into the existing repo').check();
  hub.write.reset();
  await form.getByRole('button', { name: 'Publish', exact: true }).click();
  await expect(page.getByTestId('publish-status')).toHaveAttribute('data-state', 'done', { timeout: 180_000 });
  await expect(page.getByTestId('publish-status')).toContainText(/0 file\(s\) uploaded .*1 already on the Hub/);
  await expect(page.getByRole('row').filter({ hasText: 'model.safetensors' })).toContainText('already on the Hub');
  expect(hub.write.log.uploadBytes).toBe(0);
  expect(hub.write.log.commits).toHaveLength(1);

  // A slow link, cancelled mid-upload: nothing committed. Then a connection cut mid-file: its message,
  // nothing committed; Publish again completes.
  await form.getByLabel('push into the existing repo').uncheck();
  await form.getByLabel('Repo name').fill('studio-cut');
  hub.write.reset();
  hub.write.faults = { stallUploadsMs: 60_000 };
  await form.getByRole('button', { name: 'Publish', exact: true }).click();
  await expect(page.getByRole('row').filter({ hasText: 'model.safetensors' })).toContainText('uploading', { timeout: 120_000 });
  await form.getByRole('button', { name: 'Cancel publishing' }).click();
  await expect(page.getByTestId('publish-status')).toContainText(/publishing mock-user\/studio-cut was cancelled\. Nothing was committed/, { timeout: 30_000 });
  expect(hub.write.log.commits).toEqual([]);
  // (Chromium may itself retry a PUT once on a reset connection: cut every upload until the error shows.)
  hub.write.faults = { dropUploadAfter: 100_000, uploadDrops: 100 };
  await form.getByLabel('push into the existing repo').check();
  await form.getByRole('button', { name: 'Publish', exact: true }).click();
  await expect(page.getByTestId('publish-status')).toContainText(/the connection to .* was lost while uploading model\.safetensors.*Nothing was committed\. Press Publish again/, { timeout: 120_000 });
  expect(hub.write.log.commits).toEqual([]);
  hub.write.faults = {};
  await form.getByRole('button', { name: 'Publish', exact: true }).click();
  await expect(page.getByTestId('publish-status')).toHaveAttribute('data-state', 'done', { timeout: 180_000 });
  expect(hub.write.log.commits).toHaveLength(1);
  expect(errors).toEqual([]);
});

test('publish: "Sign in with Hugging Face" through the OAuth endpoints; a bad token is refused; a remembered token survives a reload', async ({ page }) => {
  test.setTimeout(120_000);
  await page.goto('/');
  await page.getByText('Settings').click();
  await page.getByLabel('Hub URL').fill(hub.url);
  const signInForm = page.getByRole('form', { name: 'Sign in to the Hub' });
  await signInForm.getByLabel('OAuth client ID').fill(MOCK_OAUTH_CLIENT_ID);
  await signInForm.getByRole('button', { name: 'Sign in with Hugging Face' }).click();
  // The mock approves at once and redirects back with a code, which the page exchanges (PKCE).
  await expect(page.getByTestId('publish-account')).toContainText('mock-user', { timeout: 60_000 });
  expect(page.url()).not.toContain('code=');
  // A namespace the account cannot write to is not offered; a bad token is refused with the Hub's reason.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signInForm.getByLabel('Access token').fill('hf_not_a_valid_token_0000000000');
  await signInForm.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page.getByTestId('publish-signin-error')).toContainText(/sign-in failed on .*token is not valid/);
  // "remember": the token survives a reload (localStorage) and signs in again; Sign out forgets it.
  await signInForm.getByLabel('Access token').fill(MOCK_WRITE_TOKEN);
  await signInForm.getByLabel('remember').check();
  await signInForm.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page.getByTestId('publish-account')).toContainText('token remembered in this browser');
  await page.reload();
  await expect(page.getByTestId('publish-account')).toContainText('mock-user', { timeout: 30_000 });
  expect(await page.evaluate(() => JSON.stringify(localStorage))).toContain(MOCK_WRITE_TOKEN);
  await page.getByRole('button', { name: 'Sign out' }).click();
  expect(await page.evaluate(() => JSON.stringify(localStorage))).not.toContain(MOCK_WRITE_TOKEN);
});
