// The studio's export at real shapes, shared by the Playwright export spec (e2e/studio-export.spec.ts)
// and the bench: a real-shaped family (tools/realshape, when present; else a copy of the demo
// zoo's tiny-qwen2 family) served by the mock Hub, the CLI's export of the same recipe as the
// reference, and the steps that load the recipe into the page.
//
// As a bench script (not in CI; needs `npm run build` first):
//   npx tsx tools/bench/studio-export.ts --studio-export [--family llama-3.2-1b] [--layers N] [--target directory|opfs|download] [--method task_arithmetic|ties|dare_ties]
// prints one row: the studio's export of 3 x FAMILY from the mock Hub in Chromium, wall time and the
// peak renderer + GPU process memory (tools/bench/browser-memory.ts).
import { execFile } from 'node:child_process';
import { cp, link, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, type Page } from '@playwright/test';

const REPO_ROOT = join(import.meta.dirname, '..', '..');

export interface ExportFamily {
  /** The mock Hub's root (one family folder inside). */
  root: string;
  /** Repo ids: base first. */
  repos: string[];
  /** What was generated, for reports. */
  description: string;
}

/** Where generated models go: $MERGE_STUDIO_CACHE, /work/cache when it exists, else the OS tmpdir. */
export function cacheDir(): string {
  return process.env.MERGE_STUDIO_CACHE ?? (existsSync('/work/cache') ? '/work/cache' : tmpdir());
}

interface RealshapeModule {
  generateFamily(opts: { family: string; layers?: number; experts?: number; out: string }): Promise<{ models: { name: string; path: string; bytes: number }[] }>;
}

/** A base and two experts of `family` cut to `layers` layers (full vocabulary and hidden size),
 * generated once into the cache. Without tools/realshape, the demo zoo's tiny-qwen2 family. */
export async function prepareFamily(family = 'qwen2.5-0.5b', layers?: number): Promise<ExportFamily> {
  const generator = join(REPO_ROOT, 'tools', 'realshape', 'generate.ts');
  if (existsSync(generator)) {
    const root = join(cacheDir(), 'merge-studio-export', `${family}-L${layers ?? 'all'}`);
    const folder = 'rs';
    // A full-size family the realshape bench already generated (tools/realshape: CACHE/realshape/FAMILY)
    // is reused through hard links (the mock Hub lists plain files only) instead of a second copy of
    // several GB; its stamp is checked below.
    const generated = join(cacheDir(), 'realshape', family);
    if (layers === undefined && existsSync(join(generated, 'realshape-stamp.json')) && !existsSync(join(root, folder))) {
      for (const entry of await readdir(generated, { withFileTypes: true })) {
        if (!entry.isDirectory()) continue;
        await mkdir(join(root, folder, entry.name), { recursive: true });
        for (const file of await readdir(join(generated, entry.name))) await link(join(generated, entry.name, file), join(root, folder, entry.name, file));
      }
      await cp(join(generated, 'realshape-stamp.json'), join(root, folder, 'realshape-stamp.json'));
    }
    const mod = (await import(generator)) as RealshapeModule;
    const made = await mod.generateFamily({ family, layers, experts: 2, out: join(root, folder) });
    const gb = made.models.reduce((s, m) => s + m.bytes, 0) / 1e9;
    return { root, repos: made.models.map((m) => `zoo/${folder}-${m.name}`), description: `3 x ${family}-shaped, ${layers ?? 'all'} layer(s), ${gb.toFixed(2)} GB of tensors` };
  }
  const zoo = join(REPO_ROOT, 'public', 'zoo', 'tiny-qwen2');
  const root = await mkdtemp(join(tmpdir(), 'studio-export-family-'));
  const names = (await readdir(zoo, { withFileTypes: true })).filter((e) => e.isDirectory() && existsSync(join(zoo, e.name, 'config.json'))).map((e) => e.name);
  const ordered = ['base', ...names.filter((n) => n !== 'base').slice(0, 2)];
  for (const n of ordered) await cp(join(zoo, n), join(root, 'xq', n), { recursive: true });
  return { root, repos: ordered.map((n) => `zoo/xq-${n}`), description: '3 x the demo tiny-qwen2 (tools/realshape not present)' };
}

/** The recipe both sides export (task_arithmetic, or ties / dare_ties with density 0.5). */
export function exportRecipe(repos: string[], method: 'task_arithmetic' | 'ties' | 'dare_ties' = 'task_arithmetic'): string {
  const [base, a, b] = repos;
  const density = method === 'task_arithmetic' ? [] : ['      density: 0.5'];
  return [
    `merge_method: ${method}`,
    `base_model: ${base}`,
    'models:',
    `  - model: ${a}`,
    '    parameters:',
    '      weight: 0.6',
    ...density,
    `  - model: ${b}`,
    '    parameters:',
    '      weight: 0.35',
    ...density,
    'dtype: bfloat16',
    '',
  ].join('\n');
}

/** The CLI's export of `yaml` from the Hub at `hubUrl` into a fresh folder (the reference). */
export async function cliExport(yaml: string, hubUrl: string, shardSize: string): Promise<{ dir: string; files: Map<string, number>; cleanup(): Promise<void> }> {
  const work = await mkdtemp(join(tmpdir(), 'studio-export-cli-'));
  const recipe = join(work, 'recipe.yml');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(recipe, yaml);
  const dir = join(work, 'out');
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, [join(REPO_ROOT, 'bin', 'merge-studio.mjs'), 'merge', recipe, '--out', dir, '--hub-url', hubUrl, '--no-cache', '--backend', 'cpu', '--shard-size', shardSize], { maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`merge-studio merge failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve();
    });
  });
  const files = new Map<string, number>();
  for (const name of await readdir(dir)) files.set(name, (await stat(join(dir, name))).size);
  return { dir, files, cleanup: () => rm(work, { recursive: true, force: true }) };
}

/** Opens the studio (at `path`), points it at the mock Hub, adds the family by Hub id and applies `yaml`. */
export async function loadRecipeFromHub(page: Page, hubUrl: string, repos: string[], yaml: string, path = '/'): Promise<void> {
  await page.goto(path);
  await expect(page.getByRole('heading', { name: 'Merge Studio' })).toBeVisible();
  await page.getByText('Settings').click();
  await page.getByLabel('Hub URL').fill(hubUrl);
  // Browser storage is left to the exports: a Playwright context is off the record, and its quota
  // (a share of the machine's memory) does not hold the Hub cache of three models and two exports.
  await page.getByLabel('cache Hub files in this browser').setChecked(false);
  const hubForm = page.getByRole('form', { name: 'Add from the Hub' });
  for (const repo of repos) {
    await hubForm.getByLabel('Repo id').fill(repo);
    await hubForm.getByRole('button', { name: 'Add' }).click();
    await expect(page.getByTestId(`model-${repo.split('/')[1]}`)).toBeVisible({ timeout: 120_000 });
  }
  const text = page.getByTestId('recipe-yaml');
  await text.fill(yaml);
  await page.getByRole('button', { name: 'Apply YAML' }).click();
  await expect(page.getByTestId('plan-ok')).toBeVisible({ timeout: 60_000 });
}

/** Starts an export from the Export panel (target, name, shard size in MiB, merged on the CPU). */
export async function startExport(page: Page, target: 'directory' | 'opfs' | 'download', name: string, shardMiB: string): Promise<void> {
  await page.getByLabel('Export target').selectOption(target);
  if (target !== 'directory') await page.getByLabel('Export name').fill(name);
  await page.getByLabel('Shard size in MiB').fill(shardMiB);
  await page.getByLabel('Merge export on').selectOption('cpu');
  await page.getByRole('button', { name: 'Export merged model' }).click();
}

// ---------------------------------------------------------------- bench entry

async function benchMain(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
  const family = opt('--family', 'llama-3.2-1b');
  const layersArg = opt('--layers', '');
  const target = opt('--target', 'opfs') as 'directory' | 'opfs' | 'download';
  const method = opt('--method', 'task_arithmetic') as 'task_arithmetic' | 'ties' | 'dare_ties';
  const { chromium } = await import('@playwright/test');
  const { preview } = await import('vite');
  const { startMockHub } = await import('../mock-hub/server.ts');
  const { sampleBrowserMemory, formatPeaks } = await import('./browser-memory.ts');
  if (!existsSync(join(REPO_ROOT, 'dist', 'index.html'))) throw new Error('run `npm run build` first: the bench drives the built studio');
  const fam = await prepareFamily(family, layersArg ? Number(layersArg) : undefined);
  const hub = await startMockHub({ port: 0, root: fam.root });
  const server = await preview({ root: REPO_ROOT, preview: { host: '127.0.0.1', port: 0, strictPort: false }, logLevel: 'silent' });
  const url = server.resolvedUrls?.local[0] ?? 'http://127.0.0.1:4173/';
  const downloads = await mkdtemp(join(tmpdir(), 'studio-export-bench-'));
  await mkdir(downloads, { recursive: true });
  // A persistent profile on disk, as a user's browser has: Playwright's default contexts are
  // off-the-record, where browser storage (OPFS) lives in memory with a small quota, so a
  // multi-GB OPFS export fails there ("Failed to write data to data pipe") and would count the
  // stored files as browser memory.
  const profile = await mkdtemp(join(tmpdir(), 'studio-export-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--no-sandbox'],
    downloadsPath: downloads,
    baseURL: url,
    acceptDownloads: true,
  });
  const browser = { userDataDir: profile };
  try {
    const page = await context.newPage();
    // Headless Chromium cannot click a native picker: 'directory' gets an OPFS folder through a stub
    // (the File System Access writes under it are the real ones), as in e2e/studio-export.spec.ts.
    if (target === 'directory') {
      await page.addInitScript(() => {
        (window as unknown as { showDirectoryPicker: () => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker = async () =>
          (await navigator.storage.getDirectory()).getDirectoryHandle('picked', { create: true });
      });
    }
    await loadRecipeFromHub(page, hub.url, fam.repos, exportRecipe(fam.repos, method));
    // A second with the models loaded and idle, to tell the export's own share of the peak.
    const idleSampler = await sampleBrowserMemory(browser);
    await page.waitForTimeout(1000);
    const idle = await idleSampler.stop();
    const sampler = await sampleBrowserMemory(browser);
    const t0 = performance.now();
    const download = target === 'download' ? page.waitForEvent('download', { timeout: 3_600_000 }) : null;
    // What the page says while the export runs (a stall shows as the same line over and over), and
    // every console error of the page and its workers.
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.error(`  [page ${m.type()}] ${m.text()}`); });
    page.on('pageerror', (e) => console.error(`  [page error] ${e.message}`));
    page.on('worker', (w) => w.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.error(`  [worker ${m.type()}] ${m.text()}`); }));
    const ticker = setInterval(() => {
      void page.getByTestId('export-status').textContent({ timeout: 2000 }).then(
        (t) => console.error(`  ${((performance.now() - t0) / 1000).toFixed(0)} s: ${t?.replace(/\s+/g, ' ').slice(0, 200)}`),
        () => undefined,
      );
    }, 15_000);
    await startExport(page, target, 'bench', '1024');
    await expect(page.getByTestId('export-status')).toHaveAttribute('data-state', /done|error/, { timeout: 3_600_000 }).finally(() => clearInterval(ticker));
    if ((await page.getByTestId('export-status').getAttribute('data-state')) === 'error') throw new Error(`the export failed: ${await page.getByTestId('export-status').textContent()}`);
    if (download) await (await download).saveAs(join(downloads, 'bench.tar'));
    const seconds = (performance.now() - t0) / 1000;
    const peaks = await sampler.stop();
    const status = await page.getByTestId('export-status').textContent();
    console.log(`| studio export (${target}, ${method}, CPU merge) | ${fam.description} | ${seconds.toFixed(1)} s | ${formatPeaks(peaks)} |`);
    console.log(`  before the export: ${formatPeaks(idle)}`);
    // For the real-size section (tools/bench/realsize.ts), which runs this script as a child.
    console.log(`STUDIO_EXPORT_JSON ${JSON.stringify({ target, method, family, description: fam.description, seconds, peaks, idle })}`);
    console.log(`  ${status}`);
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
    await new Promise<void>((resolve) => server.httpServer.close(() => resolve()));
    await hub.close();
    await rm(downloads, { recursive: true, force: true });
  }
}

if (process.argv.includes('--studio-export') && import.meta.url === `file://${process.argv[1]}`) {
  benchMain().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
