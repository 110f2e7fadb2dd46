// The studio offers the real pretrained stories260K (public/zoo/real-models.json) beside the demo
// families: served over HTTP like the zoo, loaded by the worker engine, and scored on its own
// perplexity task exactly as llama2.c's run.c measured it.
import { createServer, type Server } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { join, normalize } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StudioEngine } from './engine.ts';

const ZOO = join(process.cwd(), 'public', 'zoo');
let server: Server;
let zooUrl: string;

/** A static file server with Range support, like any web host serving the built app. */
beforeAll(async () => {
  server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^\/zoo\//, '');
    const file = join(ZOO, path);
    if (!file.startsWith(ZOO) || !(await stat(file).catch(() => null))?.isFile()) {
      res.writeHead(404).end();
      return;
    }
    const bytes = await readFile(file);
    const range = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
    if (range) {
      const [start, end] = [Number(range[1]), Math.min(Number(range[2]), bytes.length - 1)];
      res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${bytes.length}`, 'Content-Length': end - start + 1 }).end(bytes.subarray(start, end + 1));
    } else {
      res.writeHead(200, { 'Content-Length': bytes.length }).end(bytes);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  zooUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/zoo/`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('real models in the studio', () => {
  it('lists stories260K with its tasks, loads it, and scores its perplexity as run.c does', async () => {
    const engine = new StudioEngine({ zooUrl, gpu: false });
    const catalog = await engine.demoCatalog();
    const model = catalog.models.find((m) => m.ref === 'zoo/stories260K');
    expect(model).toMatchObject({ family: 'real models', role: 'base' });
    expect(catalog.tasks.map((t) => t.file)).toEqual(expect.arrayContaining(['story.gen.jsonl', 'story.ppl.jsonl']));
    const summary = await engine.addModel({ kind: 'demo', ref: 'zoo/stories260K' });
    expect(summary).toMatchObject({ numLayers: 5, architecture: 'llama' });
    await engine.loadDemoTasks(['story.ppl.jsonl']);
    const reference = JSON.parse(await readFile(join(ZOO, 'stories260K', 'reference.json'), 'utf8')).ppl.perplexity as number;
    const stages = await engine.evaluate(
      { recipe: { merge_method: 'linear', models: [{ model: 'zoo/stories260K', parameters: { weight: 1 } }] }, tasks: ['story.ppl.jsonl'], stages: [100], backend: 'cpu' },
      'real',
      () => undefined,
    );
    const ppl = stages.at(-1)!.scores.find((s) => s.task === "story.ppl.jsonl")!;
    expect(Math.abs(ppl.value - reference) / reference).toBeLessThan(1e-3);
  }, 60_000);
});
