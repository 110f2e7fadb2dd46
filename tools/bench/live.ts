// `npm run bench -- --only-live` (or the "live loop" section of a full run): from a parameter change
// to the updated score, the live loop (src/core/eval/live.ts: inputs resident on the GPU, merged
// straight into the evaluator's 16-bit weights) against today's path (runtimeForPlan: the engine's
// in-memory merge on the GPU merge backend, read back to the host and uploaded to a WebGPU
// runtime; a change re-merges the changed tensors the same way, remergeInto), in the same run on
// the same device. Families: the demo tiny-llama (always) and, with --live-realshape, a reduced
// Qwen2.5-0.5B-shaped family (full vocabulary and hidden size, --live-layers N layers, default 2;
// tools/realshape, generated into the bench cache). Rows: start (upload + full merge), a
// single-block change (re-merge, then scoring 16 perplexity items (--live-items N): forward + read-back), and peak
// host memory (RSS sampled every 10 ms) above the level before each path.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { plan, type Plan } from '../../src/core/engine/index.ts';
import { createWebGpuBackend } from '../../src/core/engine/webgpu-backend.ts';
import { describeAdapter, type GpuContext } from '../../src/core/gpu/device.ts';
import { nodeFolderTree } from '../../src/core/io/node-file.ts';
import { openModel, type ModelHandle } from '../../src/core/model/handle.ts';
import { parseRecipeYaml } from '../../src/core/recipe/index.ts';
import { startLiveLoop } from '../../src/core/eval/live.ts';
import { remergeInto, runtimeForPlan } from '../../src/core/eval/merged.ts';
import { evaluateTask } from '../../src/core/eval/metrics.ts';
import { parseTaskJsonl, type EvalTask } from '../../src/core/eval/tasks.ts';
import type { CausalLM } from '../../src/core/eval/runtime.ts';
import type { TextTokenizer } from '../../src/core/eval/tokenizer.ts';

interface Ctx {
  root: string;
  args: string[];
  gpu: GpuContext;
  log: (line: string) => void;
  table: (header: string[], rows: (string | number)[][]) => string;
}

/** Peak RSS above the level at the start, while `run` runs. */
async function peakRss<T>(run: () => Promise<T>): Promise<{ value: T; peak: number; seconds: number }> {
  const start = process.memoryUsage().rss;
  let peak = start;
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 10);
  const t0 = performance.now();
  try {
    const value = await run();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { value, peak: peak - start, seconds: (performance.now() - t0) / 1000 };
  } finally {
    clearInterval(timer);
  }
}

function recipeFor(models: string[], layer: number, weight: number): string {
  const [base, ...experts] = models;
  return `merge_method: ties\nbase_model: ${base}\ndtype: bfloat16\nparameters:\n  density: 0.6\nmodels:\n` +
    experts.map((m, i) => `  - model: ${m}\n    parameters:\n      weight: ${i === 0 ? `[{filter: layers.${layer}., value: ${weight}}, {value: 0.5}]` : '0.4'}\n`).join('');
}

/** 16 perplexity items: the demo task's, or synthetic sentences where the tokenizer is another. */
function pplTask(root: string): EvalTask {
  return parseTaskJsonl(readFileSync(join(root, 'public/zoo/tasks/caesar.ppl.jsonl'), 'utf8'), 'caesar.ppl.jsonl');
}

let items = 16;

async function score(model: CausalLM, tokenizer: TextTokenizer, task: EvalTask): Promise<number> {
  return (await evaluateTask(model, tokenizer, task, { limit: items })).metrics.perplexity;
}

async function family(ctx: Ctx, name: string, handles: Map<string, ModelHandle>, layer: number): Promise<(string | number)[][]> {
  const refs = [...handles.keys()];
  const p = (w: number): Plan => plan(parseRecipeYaml(recipeFor(refs, layer, w), { source: 'bench-live.yml' }), handles);
  const task = pplTask(ctx.root);
  const gpuMerge = await createWebGpuBackend();
  const rows: (string | number)[][] = [];
  const s = (x: number) => x.toFixed(3);
  const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;
  try {
    // Today's path: full merge to host memory + upload; a change re-merges the changed tensors the same way.
    ctx.log(`live loop bench (${name}): today's path ...`);
    const today = await peakRss(() => runtimeForPlan(p(0.5), { backend: 'webgpu', mergeBackend: gpuMerge }));
    const todayScore0 = await peakRss(() => score(today.value.model, today.value.tokenizer, task));
    const block = new Set(p(0.9).steps.filter((st) => st.output.startsWith(`model.layers.${layer}.`)).map((st) => st.output));
    const todayChange = await peakRss(() => remergeInto(today.value.model, p(0.9), block, { mergeBackend: gpuMerge }));
    const todayScore = await peakRss(() => score(today.value.model, today.value.tokenizer, task));
    today.value.model.dispose();

    ctx.log(`live loop bench (${name}): live loop ...`);
    const live = await peakRss(() => startLiveLoop(p(0.5), { gpu: ctx.gpu }));
    const loop = live.value;
    try {
      const liveScore0 = await peakRss(() => score(loop.model, loop.tokenizer, task));
      const change = await peakRss(() => loop.update(p(0.9)));
      const liveScore = await peakRss(() => score(loop.model, loop.tokenizer, task));
      rows.push([name, 'start (upload + merge all)', s(today.seconds), s(live.seconds), (today.seconds / live.seconds).toFixed(1), mb(today.peak), mb(live.peak)]);
      rows.push([name, `score ${items} ppl items (forward + read-back), before the change`, s(todayScore0.seconds), s(liveScore0.seconds), (todayScore0.seconds / liveScore0.seconds).toFixed(2), mb(todayScore0.peak), mb(liveScore0.peak)]);
      rows.push([name, `single-block change: re-merge ${change.value.remerged} tensors`, s(todayChange.seconds), s(change.value.mergeSeconds), (todayChange.seconds / change.value.mergeSeconds).toFixed(1), mb(todayChange.peak), mb(change.peak)]);
      rows.push([name, 'single-block change vs TODAY\'S FULL PATH (target >= 10x)', s(today.seconds), s(change.value.mergeSeconds), (today.seconds / change.value.mergeSeconds).toFixed(1), '', '']);
      rows.push([name, 'score after the change (forward + read-back)', s(todayScore.seconds), s(liveScore.seconds), (todayScore.seconds / liveScore.seconds).toFixed(2), mb(todayScore.peak), mb(liveScore.peak)]);
      rows.push([name, 'change to updated score', s(todayChange.seconds + todayScore.seconds), s(change.seconds + liveScore.seconds), ((todayChange.seconds + todayScore.seconds) / (change.seconds + liveScore.seconds)).toFixed(2), '', '']);
      const same = Math.abs(todayScore.value - liveScore.value) / todayScore.value;
      rows.push([name, `perplexity after the change (today / live; rel. diff ${same.toExponential(1)})`, todayScore.value.toFixed(5), liveScore.value.toFixed(5), '', '', '']);
      rows.push([name, loop.residency.resident + '/' + loop.residency.inputs + ' inputs resident', mb(loop.residency.residentBytes), mb(loop.residency.weightBytes) + ' weights', '', '', '']);
    } finally {
      loop.dispose();
    }
  } finally {
    gpuMerge.dispose?.();
  }
  return rows;
}

async function openAll(dirs: [string, string][]): Promise<Map<string, ModelHandle>> {
  const handles = new Map<string, ModelHandle>();
  for (const [ref, dir] of dirs) handles.set(ref, await openModel(nodeFolderTree(dir), undefined, ref));
  return handles;
}

export async function liveLoopSection(ctx: Ctx): Promise<void> {
  const itemsArg = ctx.args.indexOf('--live-items');
  if (itemsArg >= 0) items = Number(ctx.args[itemsArg + 1]);
  const rows: (string | number)[][] = [];
  const zoo = join(ctx.root, 'public/zoo/tiny-llama');
  if (!ctx.args.includes('--live-skip-demo')) rows.push(...(await family(ctx, 'demo tiny-llama (4 layers)', await openAll(['base', 'caesar', 'reverse', 'sort'].map((n) => [n, join(zoo, n)])), 2)));
  // --live-skip-demo leaves the demo rows out.
  if (ctx.args.includes('--live-realshape')) {
    const i = ctx.args.indexOf('--live-layers');
    const layers = i >= 0 ? Number(ctx.args[i + 1]) : 2;
    const { prepareFamily } = await import('./studio-export.ts');
    const fam = await prepareFamily('qwen2.5-0.5b', layers);
    const folder = join(fam.root, 'rs');
    if (existsSync(folder)) {
      const names = ['base', 'expert-1', 'expert-2'];
      rows.push(...(await family(ctx, `qwen2.5-0.5b-shaped (${layers} layers)`, await openAll(names.map((n) => [n, join(folder, n)])), Math.min(1, layers - 1))));
    } else ctx.log(`live loop bench: no real-shaped family at ${folder}; row skipped`);
  }
  console.log(`\n### Live loop: parameter change to updated score (seconds; today = runtimeForPlan/remergeInto with the GPU merge backend)\n`);
  console.log(ctx.table(['family', 'step', "today's path", 'live loop', 'today / live', 'host peak (today)', 'host peak (live)'], rows));
  console.log(`\nWebGPU adapter: ${describeAdapter(ctx.gpu.capabilities)} (on SwiftShader, a CPU implementation, compare the ratios, not the seconds)`);
}
