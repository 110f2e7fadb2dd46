// The studio offers the real pretrained stories260K (public/zoo/real-models.json) beside the demo
// families: served over HTTP like the zoo, loaded by the worker engine, and scored on its own
// perplexity task exactly as llama2.c's run.c measured it.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StudioEngine } from './engine.ts';
import { serveZoo } from './zoo-server.test-helper.ts';

const zoo = serveZoo();

describe('real models in the studio', () => {
  it('lists stories260K with its tasks, loads it, and scores its perplexity as run.c does', async () => {
    const engine = new StudioEngine({ zooUrl: zoo.url, gpu: false });
    const catalog = await engine.demoCatalog();
    const model = catalog.models.find((m) => m.ref === 'zoo/stories260K');
    expect(model).toMatchObject({ family: 'real models', role: 'base' });
    expect(catalog.tasks.map((t) => t.file)).toEqual(expect.arrayContaining(['story.gen.jsonl', 'story.ppl.jsonl']));
    const summary = await engine.addModel({ kind: 'demo', ref: 'zoo/stories260K' });
    expect(summary).toMatchObject({ numLayers: 5, architecture: 'llama' });
    await engine.loadDemoTasks(['story.ppl.jsonl']);
    const reference = JSON.parse(await readFile(join(process.cwd(), 'public', 'zoo', 'stories260K', 'reference.json'), 'utf8')).ppl.perplexity as number;
    const stages = await engine.evaluate(
      { recipe: { merge_method: 'linear', models: [{ model: 'zoo/stories260K', parameters: { weight: 1 } }] }, tasks: ['story.ppl.jsonl'], stages: [100], backend: 'cpu' },
      'real',
      () => undefined,
    );
    const ppl = stages.at(-1)!.scores.find((s) => s.task === "story.ppl.jsonl")!;
    expect(Math.abs(ppl.value - reference) / reference).toBeLessThan(1e-3);
  }, 60_000);
});
