// `merge-studio merge` with models given as Hub ids, read by ranges from the mock Hub on loopback:
// the export must equal the same merge from the local folders the mock Hub serves.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockHub, type MockHub } from '../../tools/mock-hub/server.ts';
import { writeFixtureZoo } from '../../tools/mock-hub/fixture-zoo.ts';
import { parseMergeArgs, runMerge } from './merge.ts';

let dir: string;
let hub: MockHub;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ms-merge-hub-'));
  await writeFixtureZoo(join(dir, 'zoo'));
  hub = await startMockHub({ port: 0, root: join(dir, 'zoo') });
});
afterAll(async () => {
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

const recipe = (base: string, a: string, b: string) =>
  `models:\n  - model: ${a}\n    parameters: {weight: 0.6}\n  - model: ${b}\n    parameters: {weight: [0.2, 0.4]}\nbase_model: ${base}\nmerge_method: task_arithmetic\ndtype: bfloat16\n`;

describe('merge-studio merge with Hub ids', () => {
  it('merges Hub models exactly like the same local folders', async () => {
    await writeFile(join(dir, 'hub.yml'), recipe('zoo/tiny-llama-base', 'zoo/tiny-llama-add', 'zoo/tiny-llama-reverse'));
    await writeFile(join(dir, 'local.yml'), recipe('zoo/tiny-llama/base', 'zoo/tiny-llama/add', 'zoo/tiny-llama/reverse'));
    hub.resetStats();
    await runMerge(parseMergeArgs([join(dir, 'hub.yml'), '--out', join(dir, 'from-hub'), '--hub-url', hub.url, '--cache-dir', join(dir, 'cache')]));
    expect(hub.stats.fileBytes).toBeGreaterThan(0);
    await runMerge(parseMergeArgs([join(dir, 'local.yml'), '--out', join(dir, 'from-local')]));
    const files = (await readdir(join(dir, 'from-hub'))).sort();
    expect(files).toEqual((await readdir(join(dir, 'from-local'))).sort());
    expect(files).toContain('tokenizer.json');
    for (const f of files.filter((x) => x !== 'README.md' && x !== 'mergekit_config.yml')) {
      expect(Buffer.compare(await readFile(join(dir, 'from-hub', f)), await readFile(join(dir, 'from-local', f))), f).toBe(0);
    }
  });

  it('names an unknown Hub repo in a one-line error', async () => {
    await writeFile(join(dir, 'missing.yml'), recipe('zoo/tiny-llama-base', 'zoo/tiny-llama-nope', 'zoo/tiny-llama-add'));
    await expect(runMerge(parseMergeArgs([join(dir, 'missing.yml'), '--out', join(dir, 'nope'), '--hub-url', hub.url, '--no-cache']))).rejects.toThrow(/zoo\/tiny-llama-nope/);
  });
});
