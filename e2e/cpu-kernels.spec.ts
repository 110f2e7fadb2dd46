import { test, expect } from '@playwright/test';

// Chrome refuses synchronous WebAssembly compiles above a size limit on a page's main thread (4 KB
// for years, 8 MB in recent versions; the CPU kernels' module is about 10 KB), and where it does the
// tile loops silently fall back to the JS twins. Merges run in the engine worker, where no limit
// applies: ask the app's own worker, through its comlink protocol, which kernels its tile loops run.
test('the engine worker runs the WebAssembly SIMD tile kernels', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // Keep a handle on every worker the page starts (the app's engine worker among them).
  await page.addInitScript(() => {
    const Native = window.Worker;
    const started: Worker[] = [];
    (window as unknown as { startedWorkers: Worker[] }).startedWorkers = started;
    window.Worker = class extends Native {
      constructor(url: string | URL, options?: WorkerOptions) {
        super(url, options);
        started.push(this);
      }
    };
  });
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Merge Studio' })).toBeVisible();
  await page.waitForFunction(() => (window as unknown as { startedWorkers: Worker[] }).startedWorkers.length > 0, undefined, { timeout: 30_000 });
  const reply = await page.evaluate(async () => {
    const [worker] = (window as unknown as { startedWorkers: Worker[] }).startedWorkers;
    const id = 'e2e-cpu-tile-kernels';
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the engine worker did not answer')), 20_000);
      // comlink's own listener ignores ids it did not send.
      worker.addEventListener('message', (event: MessageEvent) => {
        if ((event.data as { id?: string } | null)?.id !== id) return;
        clearTimeout(timer);
        resolve(event.data);
      });
      worker.postMessage({ id, type: 'APPLY', path: ['cpuTileKernels'], argumentList: [] });
    });
  });
  test.info().annotations.push({ type: 'worker tile kernels', description: JSON.stringify(reply) });
  expect(reply).toEqual({ id: 'e2e-cpu-tile-kernels', type: 'RAW', value: { simd: true, detail: 'WebAssembly SIMD' } });
  expect(errors).toEqual([]);
});
