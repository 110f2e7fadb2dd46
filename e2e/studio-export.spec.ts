// The studio's export through each of its three targets, byte for byte against the CLI's export of
// the same recipe from the same mock Hub: a reduced Qwen2.5-0.5B-shaped family (full vocabulary
// 151936 and hidden size 896, 2 layers; tools/realshape) loaded by Hub id. Headless Chromium cannot
// click a native picker, so window.showDirectoryPicker is stubbed to hand out an OPFS folder: the
// File System Access calls behind it are the real ones. OPFS files are compared in the page against
// the CLI's files served over HTTP here; the streamed download is saved by Playwright and unpacked
// with the system's tar. A reload mid-export leaves only .partial names, which the next export removes.
import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, expect, type Page } from '@playwright/test';
import { startMockHub, type MockHub } from '../tools/mock-hub/server.ts';
import { formatPeaks, sampleBrowserMemory } from '../tools/bench/browser-memory.ts';
import { cliExport, exportRecipe, loadRecipeFromHub, prepareFamily, startExport, type ExportFamily } from '../tools/bench/studio-export.ts';

if (process.env.STUDIO_BASE_URL) test.use({ baseURL: process.env.STUDIO_BASE_URL });
test.describe.configure({ mode: 'serial' });

const SHARD_MIB = '64';
let family: ExportFamily;
let hub: MockHub;
let cli: Awaited<ReturnType<typeof cliExport>>;
let files: Server;
let filesUrl = '';
const debug = (what: string) => {
  if (process.env.STUDIO_DEBUG) console.log(new Date().toISOString(), what);
};

test.beforeAll(async () => {
  test.setTimeout(900_000);
  family = await prepareFamily('qwen2.5-0.5b', 2);
  debug(`family: ${family.description}`);
  hub = await startMockHub({ port: 0, root: family.root });
  debug(`mock Hub at ${hub.url}`);
  cli = await cliExport(exportRecipe(family.repos), hub.url, `${SHARD_MIB}MiB`);
  debug(`CLI export: ${[...cli.files.keys()].join(', ')}`);
  // The CLI's files over HTTP (ranges, CORS), for the in-page comparison of OPFS files.
  files = createServer(async (req, res) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Headers', 'Range');
    if (req.method === 'OPTIONS') return res.end();
    const name = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.slice(1));
    if (!cli.files.has(name)) return res.writeHead(404).end();
    const size = cli.files.get(name)!;
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    const [start, end] = m ? [Number(m[1]), Math.min(size - 1, Number(m[2]))] : [0, size - 1];
    res.writeHead(m ? 206 : 200, { 'Content-Length': String(end - start + 1), ...(m ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}) });
    if (size === 0) return res.end();
    createReadStream(join(cli.dir, name), { start, end }).pipe(res);
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  const addr = files.address();
  filesUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/`;
});

test.afterAll(async () => {
  await new Promise<void>((resolve) => (files ? files.close(() => resolve()) : resolve()));
  await hub?.close();
  await cli?.cleanup();
});

/** A picker that hands out OPFS folder `name` (the real File System Access API under it). */
async function stubPicker(page: Page, folder: string): Promise<void> {
  await page.addInitScript((name) => {
    (window as unknown as { showDirectoryPicker: () => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker = async () =>
      (await navigator.storage.getDirectory()).getDirectoryHandle(name, { create: true });
  }, folder);
}

async function removeOpfs(page: Page, name: string): Promise<void> {
  await page.evaluate(async (n) => (await navigator.storage.getDirectory()).removeEntry(n, { recursive: true }), name);
}

/** Entry names of an OPFS folder (path from the OPFS root), or null when it does not exist. */
function opfsNames(page: Page, path: string[]): Promise<string[] | null> {
  return page.evaluate(async (parts) => {
    let dir = await navigator.storage.getDirectory();
    try {
      for (const p of parts) dir = await dir.getDirectoryHandle(p);
    } catch {
      return null;
    }
    const names: string[] = [];
    for await (const key of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(key);
    return names.sort();
  }, path);
}

/** Compares every file of an OPFS folder with the CLI's, in the page, piece by piece; returns the differences. */
async function compareOpfsWithCli(page: Page, path: string[]): Promise<string[]> {
  const names = await opfsNames(page, path);
  debug(`OPFS ${path.join('/')}: ${names?.join(', ')}`);
  expect(names, `OPFS ${path.join('/')}`).toEqual([...cli.files.keys()].sort());
  return page.evaluate(async ({ parts, base, expected }) => {
    let dir = await navigator.storage.getDirectory();
    for (const p of parts) dir = await dir.getDirectoryHandle(p);
    const diffs: string[] = [];
    const PIECE = 16 << 20;
    for (const [name, size] of expected) {
      const file = await (await dir.getFileHandle(name)).getFile();
      if (file.size !== size) {
        diffs.push(`${name}: ${file.size} bytes, the CLI wrote ${size}`);
        continue;
      }
      console.log(`comparing ${name}`);
      for (let at = 0; at < size; at += PIECE) {
        const end = Math.min(size, at + PIECE);
        const ours = new Uint8Array(await file.slice(at, end).arrayBuffer());
        const theirs = new Uint8Array(await (await fetch(base + encodeURIComponent(name), { headers: { Range: `bytes=${at}-${end - 1}` } })).arrayBuffer());
        const i = ours.findIndex((b, k) => b !== theirs[k]);
        if (theirs.length !== ours.length || i >= 0) {
          diffs.push(`${name}: first difference at byte ${at + Math.max(0, i)}`);
          break;
        }
      }
    }
    return diffs;
  }, { parts: path, base: filesUrl, expected: [...cli.files] });
}

/** Unpacks a downloaded tar and compares its `folder/` with the CLI's files. */
async function compareTarWithCli(tarPath: string, folder: string): Promise<void> {
  const out = await mkdtemp(join(tmpdir(), 'studio-export-tar-'));
  try {
    execFileSync('tar', ['-xf', tarPath, '-C', out]);
    expect(await readdir(out)).toEqual([folder]);
    expect((await readdir(join(out, folder))).sort()).toEqual([...cli.files.keys()].sort());
    for (const name of cli.files.keys()) {
      const [a, b] = await Promise.all([readFile(join(out, folder, name)), readFile(join(cli.dir, name))]);
      expect(a.equals(b), `${folder}.tar/${name} == CLI's ${name}`).toBe(true);
    }
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

async function exportDone(page: Page): Promise<string> {
  // Finished or failed, whichever comes first; a failure shows its message.
  const status = page.getByTestId('export-status');
  await expect(page.locator('[data-testid="export-status"]:is([data-state="done"], [role="alert"])')).toBeVisible({ timeout: 600_000 });
  const text = (await status.textContent()) ?? '';
  expect(await status.getAttribute('data-state'), text).toBe('done');
  return text;
}

test('export to a picked folder, to browser storage (listed, saved out, deleted) and as a streamed download: every file byte-identical to the CLI', async ({ page, browser }) => {
  test.setTimeout(1_200_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  if (process.env.STUDIO_DEBUG) page.on('console', (m) => console.log(`[page ${m.type()}] ${m.text()}`));
  await page.setViewportSize({ width: 1400, height: 1000 });
  await stubPicker(page, 'picked');
  debug('loading the recipe');
  await loadRecipeFromHub(page, hub.url, family.repos, exportRecipe(family.repos));
  debug('loaded');
  const status = page.getByTestId('export-status');

  // 1. a picked folder, with the peak renderer + GPU memory sampled while it runs (and for a
  // second before, the models loaded and idle, to tell the export's share)
  const idleSampler = await sampleBrowserMemory(browser);
  await page.waitForTimeout(1000);
  const idle = await idleSampler.stop();
  const sampler = await sampleBrowserMemory(browser);
  await startExport(page, 'directory', '', SHARD_MIB);
  const doneText = await exportDone(page);
  debug(`picked folder: ${doneText}`);
  const peaks = await sampler.stop();
  expect(doneText).toContain('merged on cpu');
  test.info().annotations.push({ type: 'memory', description: `${family.description}, picked-folder export: ${formatPeaks(peaks)}; before it: ${formatPeaks(idle)}` });
  debug(`memory: ${formatPeaks(peaks)}; before the export: ${formatPeaks(idle)}`);
  expect(await compareOpfsWithCli(page, ['picked'])).toEqual([]);
  await removeOpfs(page, 'picked'); // the quota of an off-the-record context is small

  // 2. browser storage: listed when finished, saved out as a streamed .tar, deleted
  await startExport(page, 'opfs', 'kept-export', SHARD_MIB);
  debug(`OPFS: ${await exportDone(page)}`);
  expect(await opfsNames(page, ['exports'])).toEqual(['kept-export']);
  expect(await compareOpfsWithCli(page, ['exports', 'kept-export'])).toEqual([]);
  const kept = page.getByRole('table', { name: 'Exports in browser storage' });
  await expect(kept.getByRole('row')).toHaveCount(1);
  await expect(kept).toContainText(`${cli.files.size} files`);
  const work = await mkdtemp(join(tmpdir(), 'studio-export-dl-'));
  try {
    const saved = page.waitForEvent('download', { timeout: 300_000 });
    await page.getByRole('button', { name: 'Download kept-export as .tar' }).click();
    const savedDownload = await saved;
    expect(savedDownload.suggestedFilename()).toBe('kept-export.tar');
    await savedDownload.saveAs(join(work, 'kept.tar'));
    await expect(status).toHaveAttribute('data-state', 'done', { timeout: 300_000 });
    await compareTarWithCli(join(work, 'kept.tar'), 'kept-export');
    await page.getByRole('button', { name: 'Delete kept-export' }).click();
    await expect(kept).toHaveCount(0);
    expect(await opfsNames(page, ['exports'])).toEqual([]);

    // 3. the streamed download (the target of browsers without a folder picker)
    const streamed = page.waitForEvent('download', { timeout: 300_000 });
    await startExport(page, 'download', 'streamed', SHARD_MIB);
    const download = await streamed;
    expect(download.suggestedFilename()).toBe('streamed.tar');
    await download.saveAs(join(work, 'streamed.tar'));
    await exportDone(page);
    expect(await download.failure()).toBeNull();
    const tarBytes = (await stat(join(work, 'streamed.tar'))).size;
    expect(tarBytes).toBeGreaterThan([...cli.files.values()].reduce((a, b) => a + b, 0));
    await compareTarWithCli(join(work, 'streamed.tar'), 'streamed');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  expect(errors).toEqual([]);
});

test('a reload mid-export leaves only .partial names (no config.json, no finished export); the next export removes them', async ({ page, context }) => {
  test.setTimeout(900_000);
  await page.setViewportSize({ width: 1400, height: 1000 });
  await stubPicker(page, 'picked');
  // Slow Hub reads, so the export is surely still running when the page reloads.
  let slow = true;
  await context.route(`${hub.url}/**`, async (route) => {
    if (slow && route.request().method() === 'GET') await new Promise((resolve) => setTimeout(resolve, 400));
    await route.continue();
  });
  await loadRecipeFromHub(page, hub.url, family.repos, exportRecipe(family.repos));
  const progress = page.getByRole('progressbar', { name: 'export progress' });

  // interrupted: a picked folder, then browser storage
  for (const [target, where] of [['directory', ['picked']], ['opfs', ['exports']]] as const) {
    await startExport(page, target, 'interrupted', SHARD_MIB);
    await expect(page.getByTestId('export-status')).toContainText(/merge [1-9]\d*\//, { timeout: 300_000 });
    await expect(progress).toBeVisible();
    await page.reload();
    await expect(page.getByRole('heading', { name: 'Merge Studio' })).toBeVisible();
    const left = (await opfsNames(page, [...where])) ?? [];
    expect(left.length, `something of the interrupted ${target} export is left in ${where.join('/')}`).toBeGreaterThan(0);
    // Chromium may leave the swap file of the write cut off (`….partial-ID.crswap`): still not a complete-looking name.
    expect(left.filter((n) => !/\.partial-[0-9a-z]+(\.crswap)?$/.test(n)), `complete-looking names in ${where.join('/')}`).toEqual([]);
    if (target === 'opfs') {
      const inside = (await opfsNames(page, ['exports', left[0]])) ?? [];
      expect(inside).not.toContain('config.json');
    }
    await loadRecipeFromHub(page, hub.url, family.repos, exportRecipe(family.repos));
  }

  // the next exports (Hub no longer slowed) clean up and finish
  slow = false;
  await startExport(page, 'directory', '', SHARD_MIB);
  expect(await exportDone(page)).toMatch(/removed \d+ leftover/);
  expect(await opfsNames(page, ['picked'])).toEqual([...cli.files.keys()].sort());
  await startExport(page, 'opfs', 'after-reload', SHARD_MIB);
  expect(await exportDone(page)).toMatch(/removed 1 leftover/);
  expect(await opfsNames(page, ['exports'])).toEqual(['after-reload']);
  expect(await compareOpfsWithCli(page, ['exports', 'after-reload'])).toEqual([]);
});
