// Model references on the command line: flags, path-or-Hub choice, and the HF_* environment.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockHub, type MockHub } from '../../tools/mock-hub/server.ts';
import { writeFixtureZoo } from '../../tools/mock-hub/fixture-zoo.ts';
import { MergeStudioError } from '../core/errors.ts';
import { parseSourceFlags, resolveModelRef } from './sources.ts';

let dir: string;
let hub: MockHub;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ms-sources-'));
  await writeFixtureZoo(join(dir, 'zoo'));
  hub = await startMockHub({ port: 0, root: join(dir, 'zoo') });
});
afterAll(async () => {
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

async function codeOf(p: Promise<unknown>): Promise<string | null> {
  const e = await p.then(() => null, (err: unknown) => err);
  return e instanceof MergeStudioError ? e.code : e === null ? null : String(e);
}

describe('parseSourceFlags', () => {
  it('takes the source flags out and leaves the rest in order', () => {
    const { options, rest } = parseSourceFlags(['a', '--hub-url', 'http://h', '--token=hf_x', '--json', '--offline', 'b', '--cache-dir', '/c', '--no-cache']);
    expect(options).toEqual({ hubUrl: 'http://h', token: 'hf_x', offline: true, cacheDir: '/c', noCache: true });
    expect(rest).toEqual(['a', '--json', 'b']);
    expect(() => parseSourceFlags(['--hub-url'])).toThrow(/--hub-url needs a value/);
  });
});

describe('resolveModelRef', () => {
  it('opens an existing folder relative to baseDir, and checks it has safetensors', async () => {
    const tree = await resolveModelRef('tiny-llama/base', { baseDir: join(dir, 'zoo') });
    expect(await tree.list()).toContain('model.safetensors');
    await mkdir(join(dir, 'pickles'));
    await writeFile(join(dir, 'pickles', 'pytorch_model.bin'), 'x');
    expect(await codeOf(resolveModelRef(join(dir, 'pickles')))).toBe('model-no-safetensors');
  });

  it('treats a missing path-like reference as a missing file, not as a Hub id', async () => {
    expect(await codeOf(resolveModelRef('./not/here'))).toBe('file-not-found');
    expect(await codeOf(resolveModelRef('missing.safetensors'))).toBe('file-not-found');
    expect(hub.stats.requests).toEqual([]);
  });

  it('reads a Hub id from HF_ENDPOINT with HF_TOKEN, cached under the given folder', async () => {
    const saved = { ...process.env };
    try {
      process.env.HF_ENDPOINT = hub.url;
      process.env.HF_TOKEN = hub.gatedToken;
      const tree = await resolveModelRef('zoo/gated', { cacheDir: join(dir, 'cache') });
      expect(tree.name).toBe('zoo/gated@main');
      process.env.HF_HUB_OFFLINE = '1';
      hub.resetStats();
      await resolveModelRef('zoo/gated', { cacheDir: join(dir, 'cache') });
      expect(hub.stats.requests).toEqual([]);
      expect(await codeOf(resolveModelRef('zoo/tiny-qwen2-base', { cacheDir: join(dir, 'cache') }))).toBe('hub-offline-miss');
    } finally {
      process.env = saved;
    }
  });
});
