// The studio engine streams Hub download progress to the page (watchHub): one 'download' line per
// model, from the headers read when it is added to 100 % of its weights when an export read them all.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Progress } from '../core/progress.ts';
import { startMockHub, type MockHub } from '../../tools/mock-hub/server.ts';
import { writeFixtureZoo } from '../../tools/mock-hub/fixture-zoo.ts';
import { StudioEngine } from './engine.ts';

let root: string;
let hub: MockHub;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ms-worker-hub-'));
  await writeFixtureZoo(join(root, 'zoo'));
  hub = await startMockHub({ port: 0, root: join(root, 'zoo') });
});
afterAll(async () => {
  await hub?.close();
  await rm(root, { recursive: true, force: true });
});

describe('Hub progress in the studio engine', () => {
  it('reports bytes, rate and ETA per model to the page while models load and export', async () => {
    const engine = new StudioEngine({ zooUrl: 'http://127.0.0.1:9/zoo/', gpu: false });
    const events: Progress[] = [];
    engine.watchHub((p) => events.push(p));
    for (const name of ['base', 'add']) await engine.addModel({ kind: 'hub', repo: `zoo/tiny-llama-${name}`, hubUrl: hub.url });
    const size = (name: string) => stat(join(root, 'zoo', 'tiny-llama', name, 'model.safetensors')).then((s) => s.size);
    const forModel = (name: string) => events.filter((e) => e.phase === 'download' && e.message === `zoo/tiny-llama-${name}@main`);
    expect(forModel('base').length).toBeGreaterThan(0);
    expect(forModel('base').every((e) => e.done < e.total)).toBe(true);

    await engine.exportModel({ merge_method: 'task_arithmetic', base_model: 'zoo/tiny-llama-base', models: [{ model: 'zoo/tiny-llama-add', parameters: { weight: 0.5 } }] }, { kind: 'memory' }, 'export', () => undefined);
    for (const name of ['base', 'add']) {
      const last = forModel(name).at(-1)!;
      expect(last).toMatchObject({ done: await size(name), total: await size(name) });
      expect(last.rate).toBeGreaterThan(0);
      expect(last.eta).toBe(0);
    }
  });
});
