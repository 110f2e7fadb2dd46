// The tab's evaluator at real shapes: the reduced Qwen2.5-0.5B- and Llama-3.2-1B-shaped base models
// (full vocabulary and hidden size, tied 151936 / 128256-row bf16 embeddings, 2 layers; the ones
// tools/eval-reference/realshape_ppl.py measured, regenerated with the fixture's generator
// parameters) are added by Hub id from the mock Hub to the studio's own engine worker and scored on
// WebGPU (SwiftShader here: the live loop, inputs and merged weights on the GPU) and on the CPU
// runtime. The per-token log-probs of the fixture's token ids must equal PyTorch's
// (fixtures/realshape-ppl.json) and each other's within 1e-4, as in the Node tests
// (src/core/eval/realshape*.test.ts).
//
// The engine is reached through its comlink protocol from the page (as cpu-kernels.spec.ts does),
// in a second instance of the app's worker script, so the studio's own evaluations cannot replace
// the resident model between calls. `scoreTokens` scores the ids exactly as given: the fixture's
// sequences hold special and out-of-text ids that no text would tokenize to.
import { test, expect, type Page } from '@playwright/test';
import { startMockHub, type MockHub } from '../tools/mock-hub/server.ts';
import { REALSHAPE_REFERENCE, generateRealshapeFamilies, realshapeRoot } from '../src/core/eval/fixtures/realshape-fixture.ts';
import type { ModelSummary, TokenScores } from '../src/worker/protocol.ts';

if (process.env.STUDIO_BASE_URL) test.use({ baseURL: process.env.STUDIO_BASE_URL });

/** |Δ log p| per token allowed against PyTorch (float32) and between the two runtimes. */
const LOGPROB_TOLERANCE = 1e-4;
const ROOT = realshapeRoot('e2e');

let hub: MockHub;
let errors: string[] = [];

test.beforeAll(async () => {
  test.setTimeout(600_000);
  // Generated once (about 1.1 GB) and reused while the generator's stamp matches.
  await generateRealshapeFamilies(ROOT);
  hub = await startMockHub({ port: 0, root: ROOT });
});

test.afterAll(async () => {
  await hub?.close();
});

test.beforeEach(async ({ page }) => {
  errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  // Note how the app starts its engine worker, to start another of the same script.
  await page.addInitScript(() => {
    const Native = window.Worker;
    const w = window as unknown as { workerArgs: [string | URL, WorkerOptions | undefined][] };
    w.workerArgs = [];
    window.Worker = class extends Native {
      constructor(url: string | URL, options?: WorkerOptions) {
        super(url, options);
        w.workerArgs.push([url, options]);
      }
    };
  });
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Merge Studio' })).toBeVisible();
  await page.waitForFunction(() => (window as unknown as { workerArgs: unknown[] }).workerArgs.length > 0, undefined, { timeout: 30_000 });
  await page.evaluate(() => {
    const w = window as unknown as { workerArgs: [string | URL, WorkerOptions | undefined][]; scorer: Worker };
    const [url, options] = w.workerArgs[0];
    w.scorer = new Worker(url, options);
  });
});

test.afterEach(async ({ page }) => {
  await page.evaluate(() => (window as unknown as { scorer?: Worker }).scorer?.terminate());
  expect(errors).toEqual([]);
});

/** Calls `method` of the engine in the page's scoring worker with plain arguments (comlink's wire
 * protocol: APPLY with RAW values; a throw comes back as a HANDLER message). */
async function call<T>(page: Page, method: string, ...args: unknown[]): Promise<T> {
  const reply = await page.evaluate(async ({ method, args }) => {
    const worker = (window as unknown as { scorer: Worker }).scorer;
    const id = `e2e-${method}-${Math.random().toString(36).slice(2)}`;
    return new Promise<{ ok: boolean; value: unknown }>((resolve) => {
      const listen = (event: MessageEvent) => {
        const data = event.data as { id?: string; type?: string; value?: unknown } | null;
        if (data?.id !== id) return;
        worker.removeEventListener('message', listen);
        if (data.type === 'RAW') resolve({ ok: true, value: data.value });
        else {
          const thrown = (data.value as { value?: { name?: string; message?: string } } | undefined)?.value;
          resolve({ ok: false, value: `${thrown?.name ?? 'Error'}: ${thrown?.message ?? JSON.stringify(data)}` });
        }
      };
      worker.addEventListener('message', listen);
      worker.postMessage({ id, type: 'APPLY', path: [method], argumentList: args.map((value) => ({ type: 'RAW', value })) });
    });
  }, { method, args });
  if (!reply.ok) throw new Error(`engine.${method} failed in the tab: ${String(reply.value)}`);
  return reply.value as T;
}

function maxDiff(a: readonly number[][], b: readonly number[][]): number {
  expect(a.map((r) => r.length)).toEqual(b.map((r) => r.length));
  let worst = 0;
  a.forEach((row, i) => row.forEach((v, j) => { worst = Math.max(worst, Math.abs(v - b[i][j])); }));
  return worst;
}

for (const [family, ref] of Object.entries(REALSHAPE_REFERENCE.families)) {
  test(`${family} (2 layers, vocab ${ref.vocab_size}) from the mock Hub: WebGPU and CPU log-probs in the tab within ${LOGPROB_TOLERANCE} of PyTorch and of each other`, async ({ page }) => {
    // On SwiftShader the Llama shape takes about 4-5 minutes on a 2-core machine, most of it the
    // live loop's start (768 MB of inputs uploaded and merged on the GPU); scoring is about 50 s.
    test.setTimeout(600_000);
    const started = Date.now();
    const summary = await call<ModelSummary>(page, 'addModel', { kind: 'hub', repo: `zoo/${ref.repo}`, hubUrl: hub.url, cache: false });
    expect(summary).toMatchObject({ ref: `zoo/${ref.repo}`, origin: 'hub', numLayers: REALSHAPE_REFERENCE.realshape.layers, vocabSize: ref.vocab_size });
    const recipe = { merge_method: 'passthrough', models: [{ model: summary.ref }] };
    const sequences = ref.items.map((item) => item.ids);
    const want = ref.items.map((item) => item.logprobs);

    const gpu = await call<TokenScores>(page, 'scoreTokens', { recipe, backend: 'webgpu', sequences }, 'e2e-realshape');
    const gpuSeconds = (Date.now() - started) / 1000;
    expect(gpu).toMatchObject({ evalBackend: 'webgpu', mergeBackend: 'webgpu' });
    // The live loop: every input held on the GPU, the 2-byte embedding in slices among them.
    expect(gpu.residency).toMatch(/GPU-resident: (\d+)\/\1 input tensors/);
    const cpu = await call<TokenScores>(page, 'scoreTokens', { recipe, backend: 'cpu', sequences }, 'e2e-realshape');
    expect(cpu.evalBackend).toBe('cpu');
    await call(page, 'removeModel', summary.ref);

    const gpuVsRef = maxDiff(gpu.logprobs, want), cpuVsRef = maxDiff(cpu.logprobs, want), gpuVsCpu = maxDiff(gpu.logprobs, cpu.logprobs);
    const tokens = want.flat().length;
    const ppl = (lps: number[][]) => Math.exp(-lps.flat().reduce((a, b) => a + b, 0) / tokens);
    const note = `${tokens} tokens in ${ref.items.length} sequences; max |Δ log p| WebGPU vs PyTorch ${gpuVsRef.toExponential(2)}, CPU vs PyTorch ${cpuVsRef.toExponential(2)}, WebGPU vs CPU ${gpuVsCpu.toExponential(2)}; perplexity WebGPU ${ppl(gpu.logprobs).toFixed(3)}, CPU ${ppl(cpu.logprobs).toFixed(3)}, PyTorch ${ref.perplexity}; ${gpu.residency}; ${gpuSeconds.toFixed(0)} s to load and score on WebGPU, ${((Date.now() - started) / 1000).toFixed(0)} s in all`;
    test.info().annotations.push({ type: family, description: note });
    console.log(`${family}: ${note}`);
    expect(tokens).toBe(ref.tokens);
    expect(gpuVsRef).toBeLessThan(LOGPROB_TOLERANCE);
    expect(cpuVsRef).toBeLessThan(LOGPROB_TOLERANCE);
    expect(gpuVsCpu).toBeLessThan(LOGPROB_TOLERANCE);
    expect(Math.abs(ppl(gpu.logprobs) / ref.perplexity - 1)).toBeLessThan(1e-4);
    expect(Math.abs(ppl(cpu.logprobs) / ref.perplexity - 1)).toBeLessThan(1e-4);
  });
}
