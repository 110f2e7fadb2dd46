// Peak memory of a Chromium launched by Playwright, per process kind: CDP's
// SystemInfo.getProcessInfo names the browser's processes (type + pid), /proc/<pid>/status and
// /proc/<pid>/smaps_rollup give each one's resident set (RSS) and proportional share (PSS). The
// renderer runs the page, its engine worker and the download service worker; the GPU process holds
// WebGPU's buffers. Linux only (where /proc is absent the sampler reports nothing).
import { readdir, readFile } from 'node:fs/promises';
import type { Browser, CDPSession } from '@playwright/test';

export interface MemoryPeaks {
  /** Peak of renderer + GPU process RSS summed at the same instant (bytes). */
  rendererGpuRss: number;
  /** Peak of renderer + GPU process PSS summed at the same instant (bytes). */
  rendererGpuPss: number;
  /** Peak of every renderer's RSS summed (the page's and Chromium's spare and extension renderers). */
  rendererRss: number;
  /** Peak of the largest renderer's RSS alone: the page's renderer (page + engine worker + service
   * worker), the host side of the tab. */
  pageRendererRss: number;
  /** Peak of every renderer's PSS summed (shared pages of the chromium binary counted once). */
  rendererPss: number;
  gpuRss: number;
  /** Peak of the largest renderer's RSS + GPU process RSS at the same instant: the page's own
   * renderer (its engine worker included) and WebGPU. Chromium also keeps spare and extension
   * renderers whose RSS is mostly the shared chromium binary (their PSS is a tenth of it), so
   * the plain RSS sum counts those shared pages several times. */
  busiestRendererGpuRss: number;
  /** Peak of every process of the browser (browser, utilities, network, storage) summed. */
  allRss: number;
  samples: number;
}

async function procBytes(pid: number): Promise<{ rss: number; pss: number }> {
  const field = (text: string, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
    return { rss: field(status, 'VmRSS'), pss: field(rollup, 'Pss') };
  } catch {
    return { rss: 0, pss: 0 }; // the process ended between the listing and the read
  }
}

interface ProcessInfo { type: string; id: number }

/** Chromium's processes whose command line holds `marker`, typed as CDP types them
 * (`--type=renderer` -> renderer, `--type=gpu-process` -> GPU, no --type -> browser). */
async function processesWith(marker: string): Promise<ProcessInfo[]> {
  const found: ProcessInfo[] = [];
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (!cmd.includes(marker)) continue;
    const type = /--type=([\w-]+)/.exec(cmd)?.[1] ?? 'browser';
    found.push({ id: Number(name), type: type === 'gpu-process' ? 'GPU' : type });
  }
  return found;
}

export interface MemorySampler {
  /** Stops sampling and returns the peaks seen. */
  stop(): Promise<MemoryPeaks>;
}

/** Samples every `intervalMs` until stop(): `from` is a Playwright browser (its processes named by
 * CDP's SystemInfo) or, for a persistent context (where Playwright gives no Browser), the
 * user-data-dir that every process of that Chromium carries on its command line. */
export async function sampleBrowserMemory(from: Browser | { userDataDir: string }, intervalMs = 200): Promise<MemorySampler> {
  const cdp: CDPSession | null = 'newBrowserCDPSession' in from ? await from.newBrowserCDPSession() : null;
  const list = async (): Promise<ProcessInfo[]> => {
    if (cdp) {
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('SystemInfo.getProcessInfo did not answer')), 5000));
      return ((await Promise.race([cdp.send('SystemInfo.getProcessInfo'), timeout])) as { processInfo: ProcessInfo[] }).processInfo;
    }
    return processesWith((from as { userDataDir: string }).userDataDir);
  };
  const peaks: MemoryPeaks = { rendererGpuRss: 0, rendererGpuPss: 0, rendererRss: 0, pageRendererRss: 0, rendererPss: 0, gpuRss: 0, busiestRendererGpuRss: 0, allRss: 0, samples: 0 };
  let running = true;
  const sample = async () => {
    const processInfo = await list();
    let renderer = 0;
    let busiest = 0;
    let rendererPss = 0;
    let gpu = 0;
    let gpuPss = 0;
    let all = 0;
    for (const p of processInfo) {
      const { rss, pss } = await procBytes(p.id);
      all += rss;
      if (p.type === 'renderer') {
        renderer += rss;
        busiest = Math.max(busiest, rss);
        rendererPss += pss;
      } else if (p.type === 'GPU') {
        gpu += rss;
        gpuPss += pss;
      }
    }
    peaks.rendererGpuRss = Math.max(peaks.rendererGpuRss, renderer + gpu);
    peaks.rendererGpuPss = Math.max(peaks.rendererGpuPss, rendererPss + gpuPss);
    peaks.rendererRss = Math.max(peaks.rendererRss, renderer);
    peaks.pageRendererRss = Math.max(peaks.pageRendererRss, busiest);
    peaks.rendererPss = Math.max(peaks.rendererPss, rendererPss);
    peaks.gpuRss = Math.max(peaks.gpuRss, gpu);
    peaks.busiestRendererGpuRss = Math.max(peaks.busiestRendererGpuRss, busiest + gpu);
    peaks.allRss = Math.max(peaks.allRss, all);
    peaks.samples++;
  };
  const loop = (async () => {
    while (running) {
      await sample().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await cdp?.detach().catch(() => undefined);
      return peaks;
    },
  };
}

export function formatPeaks(p: MemoryPeaks): string {
  const mb = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
  return `renderer+GPU RSS ${mb(p.rendererGpuRss)} (PSS ${mb(p.rendererGpuPss)}; page's renderer + GPU RSS ${mb(p.busiestRendererGpuRss)}; renderer ${mb(p.rendererRss)}, GPU ${mb(p.gpuRss)}; all browser processes ${mb(p.allRss)}; ${p.samples} samples)`;
}
