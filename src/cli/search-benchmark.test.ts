// `merge-studio search` with a benchmark objective: the objective names lm-eval-style tasks whose
// datasets come from the mock Hub (no tasks folder). Every trial's value must equal an independent
// evaluation of its recipe: merged in memory, then evaluateBenchmark on the same documents.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticDatasets } from '../../tools/benchmarks/synthetic.ts';
import { startMockHub, type MockHub } from '../../tools/mock-hub/server.ts';
import { BENCHMARKS } from '../core/benchmarks/definitions.ts';
import { evaluateBenchmark } from '../core/benchmarks/evaluate.ts';
import { openHubDatasetSplit } from '../core/benchmarks/hub-dataset.ts';
import { loadBenchmark } from '../core/benchmarks/load.ts';
import { plan } from '../core/engine/index.ts';
import { runtimeForPlan } from '../core/eval/merged.ts';
import { nodeFolderTree } from '../core/io/node-file.ts';
import { openModel, type ModelHandle } from '../core/model/handle.ts';
import type { Recipe } from '../core/recipe/types.ts';
import { parseTrialLines } from '../core/search/store.ts';
import { run } from './search.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
let hub: MockHub;
let dir = '';

beforeAll(async () => {
  hub = await startMockHub({ root: join(root, 'public/zoo'), datasets: syntheticDatasets({ evalRows: 12, trainRows: 6 }) });
  dir = await mkdtemp(join(tmpdir(), 'ms-search-bench-'));
}, 60_000);
afterAll(async () => {
  await hub?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('search with benchmark objectives', () => {
  it('mean(arc_easy.acc_norm,piqa.acc) from Hub datasets: trial values equal an independent evaluation', async () => {
    const zoo = join(root, 'public/zoo/tiny-llama');
    await writeFile(join(dir, 'spec.yml'), [
      `base_model: ${zoo}/base`,
      `models: [${zoo}/reverse, ${zoo}/caesar]`,
      'space: { kind: global, methods: [task_arithmetic] }',
      "objectives: ['mean(arc_easy.acc_norm,piqa.acc)']",
      'limit: 6',
      'fidelity: { levels: [1] }',
      'optimizer: random',
      'budget: { trials: 2 }',
      'seed: 0',
      '',
    ].join('\n'));
    const code = await run([join(dir, 'spec.yml'), '--out', join(dir, 'out'), '--quiet', '--hub-url', hub.url, '--no-cache']);
    expect(code).toBe(0);
    const trials = parseTrialLines(await readFile(join(dir, 'out/trials.jsonl'), 'utf8'), 'trials.jsonl');
    expect(trials).toHaveLength(2);

    const handles = new Map<string, ModelHandle>();
    for (const m of ['base', 'reverse', 'caesar']) handles.set(`${zoo}/${m}`, await openModel(nodeFolderTree(`${zoo}/${m}`)));
    const openSplit = (d: { path: string; config?: string }, split: string) => openHubDatasetSplit({ id: d.path, config: d.config, split, hubUrl: hub.url, retries: 2, retryDelayMs: 10 });
    const arc = await loadBenchmark(BENCHMARKS.get('arc_easy')!, { openSplit, limit: 6 });
    const piqa = await loadBenchmark(BENCHMARKS.get('piqa')!, { openSplit, limit: 6 });
    for (const t of trials) {
      const merged = await runtimeForPlan(plan(t.recipe as Recipe, handles));
      try {
        const a = await evaluateBenchmark(merged.model, merged.tokenizer, arc);
        const p = await evaluateBenchmark(merged.model, merged.tokenizer, piqa);
        expect(t.objectives['mean(arc_easy.acc_norm,piqa.acc)']).toBeCloseTo((a.metrics.acc_norm + p.metrics.acc) / 2, 12);
      } finally {
        merged.model.dispose();
      }
    }
  }, 240_000);
});
