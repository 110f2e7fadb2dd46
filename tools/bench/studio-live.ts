// The live loop in the studio (Chromium): a real-shaped family (tools/realshape, cut to --layers N,
// full vocabulary and hidden size) added by Hub id from the mock Hub, a ties recipe, then from a
// parameter change (a layer point moved with the keyboard, as a drag does) to the updated score on
// --items perplexity items and --items multiple-choice items, against the page's pre-live-loop path
// (`?live=off`: the merge read back to the host and uploaded) in the same run, each in a fresh
// browser. The split of each change comes from the engine's own stage timing (the scores table's
// data-merge-seconds: merge or re-merge; the rest of data-seconds: forward passes and read-back).
// Memory: the tab's renderer process (page + engine worker: the host side) and Chromium's GPU
// process (where SwiftShader keeps the GPU buffers) sampled apart (tools/bench/browser-memory.ts).
//
// Not in CI; needs `npm run build` first:
//   npx tsx tools/bench/studio-live.ts --studio-live [--family qwen2.5-0.5b] [--layers 2|all] [--items 16] [--modes off,on]
// Prints a markdown table and a STUDIO_LIVE_JSON line.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, type Page } from '@playwright/test';
import { exportRecipe, loadRecipeFromHub, prepareFamily } from './studio-export.ts';

const REPO_ROOT = join(import.meta.dirname, '..', '..');
const PPL = 'caesar.ppl.jsonl';
const MC = 'caesar.mc.jsonl';

type Mode = 'off' | 'on';

interface StageTiming {
  /** From the key press (or the tick) to the scores of the recipe on screen. */
  wall: number;
  /** The engine's stage: merge or re-merge, and the whole stage. */
  merge: number;
  stage: number;
  remerged: number;
  value: number;
}

interface ModeResult {
  mode: Mode;
  start: StageTiming;
  pplChange: StageTiming;
  mcScore: StageTiming;
  mcChange: StageTiming;
  residency: string | null;
  peaks: import('./browser-memory.ts').MemoryPeaks;
  idle: import('./browser-memory.ts').MemoryPeaks;
}

/** Waits for the scores of the recipe on screen, with nothing running, and reads the stage's timing. */
async function settled(page: Page, t0: number, objective: string): Promise<StageTiming> {
  const scores = page.getByTestId('scores');
  const score = page.getByTestId(`score-${objective}`);
  await expect(score).toBeVisible({ timeout: 3_600_000 });
  await expect(scores).toHaveAttribute('data-current', 'true', { timeout: 3_600_000 });
  await expect(page.getByTestId('eval-status')).not.toContainText(/running|merg|scor/i, { timeout: 3_600_000 });
  await expect(scores).toHaveAttribute('data-current', 'true');
  const wall = (performance.now() - t0) / 1000;
  const caption = (await scores.locator('caption').textContent()) ?? '';
  return {
    wall,
    merge: Number(await scores.getAttribute('data-merge-seconds')),
    stage: Number(await scores.getAttribute('data-seconds')),
    remerged: Number(/(\d+) tensors re-merged/.exec(caption)?.[1] ?? NaN),
    value: Number(await score.getAttribute('data-value')),
  };
}

async function tick(page: Page, task: string, on: boolean): Promise<void> {
  const box = page.getByRole('checkbox', { name: `Task ${task}` });
  if ((await box.isChecked()) !== on) await box.click();
  await expect(box).toBeChecked({ checked: on });
}

/** Moves layer `layer`'s point of `expert` three large steps (down, or up). */
async function move(page: Page, layer: number, expert: string, key: 'Shift+ArrowDown' | 'Shift+ArrowUp'): Promise<number> {
  const yaml = page.getByTestId('recipe-yaml');
  const text = await yaml.inputValue();
  const point = page.getByRole('slider', { name: new RegExp(`^Layer ${layer} weight, .*${expert}$`) });
  await point.focus();
  const t0 = performance.now();
  for (let i = 0; i < 3; i++) await point.press(key);
  await expect(yaml).not.toHaveValue(text);
  return t0;
}

async function runMode(mode: Mode, url: string, hubUrl: string, repos: string[], layers: number | undefined, items: number): Promise<ModeResult> {
  const { chromium } = await import('@playwright/test');
  const { sampleBrowserMemory } = await import('./browser-memory.ts');
  const profile = await mkdtemp(join(tmpdir(), 'studio-live-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--no-sandbox'],
    baseURL: url,
    viewport: { width: 1440, height: 1000 },
  });
  try {
    const page = await context.newPage();
    page.on('pageerror', (e) => console.error(`  [page error] ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') console.error(`  [page error] ${m.text()}`); });
    await loadRecipeFromHub(page, hubUrl, repos, exportRecipe(repos, 'ties'), mode === 'off' ? '/?live=off' : '/');
    const idleSampler = await sampleBrowserMemory({ userDataDir: profile });
    await page.waitForTimeout(1000);
    const idle = await idleSampler.stop();
    const sampler = await sampleBrowserMemory({ userDataDir: profile });
    await page.getByLabel('Subset size', { exact: true }).fill(String(items));
    await page.getByLabel('Refined subset size').fill(String(items));
    const log = (what: string) => console.error(`  ${new Date().toISOString()} ${mode === 'on' ? 'live loop' : '?live=off'}: ${what}`);
    const expert = repos[1].split('/')[1];
    const layer = Math.min(1, (layers ?? 2) - 1);
    let t0 = performance.now();
    await tick(page, PPL, true);
    const start = await settled(page, t0, 'caesar.perplexity');
    log(`start ${start.wall.toFixed(1)} s`);
    const pplChange = await settled(page, await move(page, layer, expert, 'Shift+ArrowDown'), 'caesar.perplexity');
    log(`perplexity after a change ${pplChange.wall.toFixed(1)} s`);
    await tick(page, PPL, false);
    t0 = performance.now();
    await tick(page, MC, true);
    const mcScore = await settled(page, t0, 'caesar.accuracy');
    log(`multiple choice ${mcScore.wall.toFixed(1)} s`);
    const mcChange = await settled(page, await move(page, layer, expert, 'Shift+ArrowUp'), 'caesar.accuracy');
    log(`multiple choice after a change ${mcChange.wall.toFixed(1)} s`);
    const peaks = await sampler.stop();
    const residency = (await page.getByTestId('gpu-residency').count()) ? await page.getByTestId('gpu-residency').textContent() : null;
    return { mode, start, pplChange, mcScore, mcChange, residency, peaks, idle };
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  }
}

async function benchMain(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
  const family = opt('--family', 'qwen2.5-0.5b');
  // --layers all: the full family (hard links to the realshape bench's cache when it is there).
  const layersArg = opt('--layers', '2');
  const layers = layersArg === 'all' ? undefined : Number(layersArg);
  const items = Number(opt('--items', '16'));
  const modes = opt('--modes', 'off,on').split(',') as Mode[];
  const { preview } = await import('vite');
  const { startMockHub } = await import('../mock-hub/server.ts');
  if (!existsSync(join(REPO_ROOT, 'dist', 'index.html'))) throw new Error('run `npm run build` first: the bench drives the built studio');
  const fam = await prepareFamily(family, layers);
  const hub = await startMockHub({ port: 0, root: fam.root });
  const server = await preview({ root: REPO_ROOT, preview: { host: '127.0.0.1', port: 0, strictPort: false }, logLevel: 'silent' });
  const url = server.resolvedUrls?.local[0] ?? 'http://127.0.0.1:4173/';
  const results: ModeResult[] = [];
  try {
    for (const mode of modes) results.push(await runMode(mode, url, hub.url, fam.repos, layers, items));
  } finally {
    await new Promise<void>((resolve) => server.httpServer.close(() => resolve()));
    await hub.close();
  }
  const by = (m: Mode) => results.find((r) => r.mode === m);
  const off = by('off');
  const on = by('on');
  const s = (x: number | undefined) => (x === undefined ? '' : x.toFixed(1));
  const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b ? (a / b).toFixed(2) : '');
  const mib = (n: number | undefined) => (n === undefined ? '' : `${(n / 2 ** 20).toFixed(0)} MiB`);
  const name = `${family}-shaped (${layers ?? 'all'} layers), Chromium`;
  const rows: string[][] = [];
  const row = (step: string, pick: (r: ModeResult) => number) => rows.push([name, step, s(off && pick(off)), s(on && pick(on)), ratio(off && pick(off), on && pick(on))]);
  row(`start: add ${PPL}, upload + merge all`, (r) => r.start.merge);
  row(`start: score ${items} ppl items (forward + read-back)`, (r) => r.start.stage - r.start.merge);
  row('start: tick to score on screen', (r) => r.start.wall);
  row('single-block change: re-merge', (r) => r.pplChange.merge);
  row(`single-block change: score ${items} ppl items`, (r) => r.pplChange.stage - r.pplChange.merge);
  row('single-block change to updated ppl score on screen', (r) => r.pplChange.wall);
  row(`score ${items} multiple-choice items (no change)`, (r) => r.mcScore.stage - r.mcScore.merge);
  row('single-block change: re-merge (multiple choice)', (r) => r.mcChange.merge);
  row(`single-block change: score ${items} multiple-choice items`, (r) => r.mcChange.stage - r.mcChange.merge);
  row('single-block change to updated multiple-choice score on screen', (r) => r.mcChange.wall);
  rows.push([name, 'tensors re-merged per change', String(off?.pplChange.remerged ?? ''), String(on?.pplChange.remerged ?? ''), '']);
  rows.push([name, 'perplexity after the change', off ? off.pplChange.value.toPrecision(10) : '', on ? on.pplChange.value.toPrecision(10) : '', off && on ? `rel. diff ${(Math.abs(off.pplChange.value - on.pplChange.value) / off.pplChange.value).toExponential(1)}` : '']);
  rows.push([name, 'accuracy after the change', off ? String(off.mcChange.value) : '', on ? String(on.mcChange.value) : '', '']);
  rows.push([name, "peak page's renderer RSS (page + engine worker: host memory)", mib(off?.peaks.pageRendererRss), mib(on?.peaks.pageRendererRss), '']);
  rows.push([name, 'peak PSS of all renderers (shared binary pages counted once)', mib(off?.peaks.rendererPss), mib(on?.peaks.rendererPss), '']);
  rows.push([name, 'peak RSS of all renderers summed (incl. spare/extension renderers)', mib(off?.peaks.rendererRss), mib(on?.peaks.rendererRss), '']);
  rows.push([name, 'peak GPU process RSS (SwiftShader: GPU buffers)', mib(off?.peaks.gpuRss), mib(on?.peaks.gpuRss), '']);
  rows.push([name, "peak page's renderer + GPU RSS (same instant)", mib(off?.peaks.busiestRendererGpuRss), mib(on?.peaks.busiestRendererGpuRss), '']);
  const idle = (r: ModeResult | undefined) => (r ? `${mib(r.idle.pageRendererRss)} / ${mib(r.idle.rendererPss)} / ${mib(r.idle.rendererRss)} / ${mib(r.idle.gpuRss)}` : '');
  rows.push([name, "before, models added, idle: page's renderer RSS / renderers' PSS / all renderers' RSS / GPU process RSS", idle(off), idle(on), '']);
  console.log(`\n### Live loop in the studio (Chromium; seconds; today = ?live=off)\n`);
  console.log(`${fam.description}; ${items} items of ${PPL} and of ${MC}; ties, density 0.5\n`);
  console.log('| family | step | today\'s path (?live=off) | live loop | today / live |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  if (on?.residency) console.log(`\n${on.residency}`);
  console.log(`STUDIO_LIVE_JSON ${JSON.stringify({ family, layers, items, description: fam.description, results })}`);
}

if (process.argv.includes('--studio-live') && import.meta.url === `file://${process.argv[1]}`) {
  benchMain().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
