// `merge-studio eval --task <benchmark>` end to end: the real CLI process reads a synthetic dataset
// (real schema and layout) from the mock Hub and scores a demo model; the scores must equal the
// engine's own evaluateBenchmark on the same documents (itself checked against full-logit
// log-likelihoods in src/core/benchmarks/benchmarks.test.ts). A task YAML in lm-eval's shape reads
// a local dataset folder.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticDatasets, writeSyntheticDatasets } from '../../tools/benchmarks/synthetic.ts';
import { startMockHub, type MockHub } from '../../tools/mock-hub/server.ts';
import { BENCHMARKS } from '../core/benchmarks/definitions.ts';
import { evaluateBenchmark } from '../core/benchmarks/evaluate.ts';
import { openHubDatasetSplit } from '../core/benchmarks/hub-dataset.ts';
import { loadBenchmark } from '../core/benchmarks/load.ts';
import { loadCausalLM } from '../core/eval/load.ts';
import { nodeFolderTree } from '../core/io/node-file.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'bin/merge-studio.mjs');
const model = join(root, 'public/zoo/tiny-llama/caesar');
let hub: MockHub;
let dir = '';

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, 'eval', ...args], { cwd: root, maxBuffer: 1 << 24 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  hub = await startMockHub({ root: join(root, 'public/zoo'), datasets: syntheticDatasets() });
  dir = await mkdtemp(join(tmpdir(), 'ms-bench-cli-'));
}, 60_000);
afterAll(async () => {
  await hub?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('merge-studio eval --task <benchmark>', () => {
  it('arc_easy --limit 50 --json from the mock Hub equals evaluateBenchmark', async () => {
    const r = await cli(model, '--task', 'arc_easy', '--limit', '50', '--json', '--hub-url', hub.url, '--no-cache');
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { results: { task: string; items: number; metrics: Record<string, number> }[] };
    expect(out.results).toHaveLength(1);
    expect(out.results[0].task).toBe('arc_easy');
    expect(out.results[0].items).toBe(50);

    const loaded = await loadBenchmark(BENCHMARKS.get('arc_easy')!, {
      openSplit: (d, split) => openHubDatasetSplit({ id: d.path, config: d.config, split, hubUrl: hub.url, retries: 2, retryDelayMs: 10 }),
      limit: 50,
    });
    const { model: lm, files } = await loadCausalLM(nodeFolderTree(model));
    try {
      const mine = await evaluateBenchmark(lm, files.tokenizer, loaded);
      expect(out.results[0].metrics.acc).toBe(mine.metrics.acc);
      expect(out.results[0].metrics.acc_norm).toBe(mine.metrics.acc_norm);
    } finally {
      lm.dispose();
    }
  }, 180_000);

  it('a task YAML in lm-eval shape reads a local dataset folder', async () => {
    await writeSyntheticDatasets(join(dir, 'data'), { evalRows: 12, trainRows: 6 });
    const yaml = join(dir, 'my_piqa.yaml');
    await writeFile(yaml, [
      'task: my_piqa',
      `dataset_path: ${join(dir, 'data', 'baber', 'piqa')}`,
      'output_type: multiple_choice',
      'validation_split: validation',
      'training_split: train',
      'doc_to_text: "Question: {{goal}}\\nAnswer:"',
      'doc_to_target: label',
      'doc_to_choice: "{{[sol1, sol2]}}"',
      'num_fewshot: 1',
      'metric_list:',
      '  - metric: acc',
      '',
    ].join('\n'));
    const r = await cli(model, '--task', yaml, '--limit', '4', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { results: { task: string; items: number; metrics: Record<string, number> }[] };
    expect(out.results[0]).toMatchObject({ task: 'my_piqa', items: 4 });
    expect(out.results[0].metrics.acc).toBeGreaterThanOrEqual(0);
    expect(out.results[0].metrics.acc_norm).toBeUndefined();

    const chat = await cli(model, '--task', yaml, '--limit', '2', '--apply-chat-template');
    expect(chat.code).toBe(1);
    expect(chat.stderr).toContain('tiny-llama/caesar: the tokenizer has no chat template (no chat_template in tokenizer_config.json and no chat_template.jinja)');
  }, 120_000);

  it('bad task names and bad task YAML are clear errors', async () => {
    const r = await cli(model, '--task', 'arc_eazy');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("'arc_eazy' is neither a task file nor a benchmark (did you mean arc_easy, arc_challenge?)");
    const yaml = join(dir, 'bad.yaml');
    await writeFile(yaml, 'task: x\ndataset_path: a/b\noutput_type: multiple_choice\ntest_split: test\ndoc_to_text: q\ndoc_to_target: 0\ndoc_to_choice: [a, b]\nnum_fewshots: 2\n');
    const b = await cli(model, '--task', yaml);
    expect(b.code).toBe(1);
    expect(b.stderr).toContain(`${yaml}: 'num_fewshots' is not a task key this tool reads`);
  }, 60_000);
});
