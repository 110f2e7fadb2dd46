// `npm run screenshots`: the README's screenshots, taken by Playwright from the built app
// (tools/screenshots/screenshots.spec.ts) and written to docs/screenshots/. SCREENSHOTS_PORT picks
// the preview port (default 4190).
import { join } from 'node:path';
import { defineConfig } from '@playwright/test';
import base from '../../playwright.config.ts';

const port = Number(process.env.SCREENSHOTS_PORT ?? 4190);

export default defineConfig({
  ...base,
  testDir: '.',
  testMatch: 'screenshots.spec.ts',
  timeout: 600_000,
  // Grey-scale text antialiasing: the PNGs compress to about half of what sub-pixel colour fringes give.
  use: { ...base.use, baseURL: `http://127.0.0.1:${port}`, launchOptions: { ...base.use?.launchOptions, args: [...(base.use?.launchOptions?.args ?? []), '--disable-lcd-text'] } },
  webServer: { ...base.webServer, cwd: join(import.meta.dirname, '..', '..'), command: `npx vite preview --host 127.0.0.1 --port ${port} --strictPort`, url: `http://127.0.0.1:${port}` },
});
