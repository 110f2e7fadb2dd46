// DAM data from a Hub dataset split: an expert's `data` may name a benchmark (`arc_easy:8`), whose
// training split (never its evaluation split) gives the texts: each document's gold context +
// continuation, read here independently from the same parquet rows.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticDatasets } from '../../tools/benchmarks/synthetic.ts';
import { startMockHub, type MockHub } from '../../tools/mock-hub/server.ts';
import { openHubDatasetSplit } from '../core/benchmarks/hub-dataset.ts';
import { benchmarkData, parseDamArgs, runDam } from './dam.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
let hub: MockHub;
let dir = '';

beforeAll(async () => {
  hub = await startMockHub({ root: join(root, 'public/zoo'), datasets: syntheticDatasets({ evalRows: 12, trainRows: 10 }) });
  dir = await mkdtemp(join(tmpdir(), 'ms-dam-bench-'));
}, 60_000);
afterAll(async () => {
  await hub?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('DAM data from benchmark datasets', () => {
  it('arc_easy:8 gives the first 8 training documents as question + gold answer', async () => {
    const task = await benchmarkData('arc_easy:8', { hubUrl: hub.url, noCache: true });
    expect(task?.kind).toBe('perplexity');
    const train = await openHubDatasetSplit({ id: 'allenai/ai2_arc', config: 'ARC-Easy', split: 'train', hubUrl: hub.url });
    const rows = await train.read([0, 1, 2, 3, 4, 5, 6, 7]);
    const expected = rows.map((d) => {
      const c = d.choices as { text: string[]; label: string[] };
      return { text: `Question: ${d.question}\nAnswer: ${c.text[c.label.indexOf(d.answerKey as string)]}` };
    });
    expect(task?.kind === 'perplexity' && task.items).toEqual(expected);
    expect(await benchmarkData('not_a_benchmark', {})).toBeNull();
  }, 60_000);

  it('merge-studio dam trains on benchmark data read from the Hub', async () => {
    const zoo = join(root, 'public/zoo/tiny-llama');
    await writeFile(join(dir, 'spec.yml'), [
      `base_model: ${zoo}/base`,
      'models:',
      `  - { model: ${zoo}/reverse, data: ['piqa:6'] }`,
      `  - { model: ${zoo}/caesar, data: ['arc_easy:6'] }`,
      'steps: 2',
      'batch_size: 2',
      'seed: 0',
      '',
    ].join('\n'));
    const out = join(dir, 'out');
    const result = await runDam(parseDamArgs([join(dir, 'spec.yml'), '--out', out, '--hub-url', hub.url, '--no-cache']));
    expect(result.history).toHaveLength(2);
    expect(result.history.every((h) => Number.isFinite(h.loss))).toBe(true);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as { num_hidden_layers: number };
    expect(config.num_hidden_layers).toBe(4);
  }, 180_000);
});
