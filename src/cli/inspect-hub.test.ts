// `merge-studio inspect` on Hub ids, through the real CLI entry against the mock Hub: one model's
// tensor table, several models' compatibility report, the token from HF_TOKEN, and bad input.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockHub, type MockHub } from '../../tools/mock-hub/server.ts';
import { writeFixtureZoo } from '../../tools/mock-hub/fixture-zoo.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'bin/merge-studio.mjs');
let dir: string;
let hub: MockHub;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ms-inspect-hub-'));
  await writeFixtureZoo(join(dir, 'zoo'));
  hub = await startMockHub({ port: 0, root: join(dir, 'zoo') });
});
afterAll(async () => {
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

async function inspect(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const childEnv = { ...process.env, HF_TOKEN: '', HF_ENDPOINT: '', HF_HUB_OFFLINE: '', ...env };
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, 'inspect', '--hub-url', hub.url, '--cache-dir', join(dir, 'cache'), ...args], { cwd: dir, env: childEnv });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('merge-studio inspect with Hub ids', () => {
  it('prints one Hub model\'s tensor table from its header alone', async () => {
    hub.resetStats();
    const r = await inspect(['zoo/tiny-llama-base']);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^zoo\/tiny-llama-base@main \(model\.safetensors\)/);
    expect(r.stdout).toMatch(/model\.layers\.1\.mlp\.down_proj\.weight\s+BF16\s+\[64, 128\]\s+16,384/);
    expect(hub.stats.fileBytes).toBeLessThan(hub.repos.get('zoo/tiny-llama-base')!.files.get('model.safetensors')!.bytes.byteLength / 2);
  });

  it('reports base + experts as compatible and llama + qwen2 as not', async () => {
    const same = await inspect(['zoo/tiny-llama-base', 'zoo/tiny-llama-add', 'zoo/tiny-llama-reverse']);
    expect(same.code).toBe(0);
    expect(same.stdout).toContain('Compatibility (reference: zoo/tiny-llama-base): COMPATIBLE');
    expect(same.stdout).toContain('tokenizer: identical tokenizer files in every model');

    const mixed = await inspect(['zoo/tiny-llama-base', 'zoo/tiny-qwen2-base', '--json']);
    expect(mixed.code).toBe(0);
    const report = JSON.parse(mixed.stdout);
    expect(report.verdict).toBe('incompatible');
    expect(report.models.map((m: { configArchitecture: string }) => m.configArchitecture)).toEqual(['LlamaForCausalLM', 'Qwen2ForCausalLM']);
    expect(report.tensorSets[0].tiedHead).toBe(true);
  });

  it('mixes a local folder and a Hub id', async () => {
    const r = await inspect([join(dir, 'zoo', 'tiny-llama', 'base'), 'zoo/tiny-llama-add']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(': COMPATIBLE');
  });

  it('takes the token from HF_TOKEN for a gated repo, and never prints it', async () => {
    const denied = await inspect(['zoo/gated']);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('[hub-unauthorized]');
    const ok = await inspect(['zoo/gated'], { HF_TOKEN: hub.gatedToken });
    expect(ok.code).toBe(0);
    expect(ok.stdout + ok.stderr).not.toContain(hub.gatedToken);
    const wrong = await inspect(['zoo/gated', '--token', 'hf_not_the_right_one']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('[hub-forbidden]');
    expect(wrong.stderr).not.toContain('hf_not_the_right_one');
  });

  it('bad input: one line with the code, exit 1', async () => {
    for (const [ref, code] of [['zoo/nope', 'hub-not-found'], ['zoo/bin-only', 'hub-no-safetensors'], ['zoo/missing-shard', 'hub-missing-shard'], ['zoo/tiny-llama-base@v9', 'hub-revision-not-found']]) {
      const r = await inspect([ref]);
      expect(r.code, ref).toBe(1);
      expect(r.stderr.trim().split('\n').filter((l) => !l.startsWith('download '))).toEqual([expect.stringContaining(`[${code}]`)]);
    }
    const corrupt = await inspect(['zoo/corrupt-shard']);
    expect(corrupt.code).toBe(1);
    expect(corrupt.stderr).toContain('model-00002-of-00002.safetensors');
  });
});
