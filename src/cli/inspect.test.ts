// Runs the real CLI entry (bin/merge-studio.mjs) as a child process.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFromF32 } from '../core/dtype.ts';
import { nodeFolderSinks } from '../core/io/node-file.ts';
import { SafetensorsWriter, serializeSafetensors } from '../core/safetensors/index.ts';
import { formatTensorTable, humanBytes, loadInspectTarget, tensorSummaryJson } from './inspect.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'bin/merge-studio.mjs');
const fixture = join(root, 'src/core/safetensors/fixtures/nearswap_t01_7x13.inputs.safetensors');

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, 'inspect', ...args], { cwd: root });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('merge-studio inspect', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ms-inspect-'));
    // A two-shard model written by our writer.
    const specs = [
      { name: 'embed.weight', dtype: 'BF16' as const, shape: [300, 8] },
      { name: 'norm.weight', dtype: 'F32' as const, shape: [8] },
    ];
    const w = new SafetensorsWriter(nodeFolderSinks(join(dir, 'sharded')), specs, { maxShardBytes: 4000 });
    for (const s of specs) await w.add(s.name, s.dtype, s.shape, encodeFromF32(new Float32Array(s.shape.reduce((a, b) => a * b, 1)), s.dtype));
    await w.finish();
    // A file whose second tensor starts 4 bytes late.
    const good = serializeSafetensors([{ name: 'a', dtype: 'F32', shape: [2], data: new Uint8Array(8) }, { name: 'b', dtype: 'F32', shape: [1], data: new Uint8Array(4) }]);
    const text = new TextDecoder().decode(good).replace('[8,12]', '[12,16]');
    await writeFile(join(dir, 'gap.safetensors'), Buffer.concat([Buffer.from(new TextEncoder().encode(text)), Buffer.alloc(4)]));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('prints the table and totals of a single file', async () => {
    const r = await cli(fixture);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[1]).toMatch(/^name\s+dtype\s+shape\s+bytes$/);
    expect(lines).toContainEqual(expect.stringMatching(/^base\s+F32\s+\[7, 13\]\s+364$/));
    expect(lines.at(-1)).toBe('total: 2 tensors, 182 parameters, 728 bytes (728 B); F32 x2');
  });

  it('reads a sharded folder through its index, with a file column', async () => {
    const r = await cli(join(dir, 'sharded'));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('(2 shards)');
    expect(r.stdout).toMatch(/embed\.weight\s+BF16\s+\[300, 8\]\s+4,800\s+model-00001-of-00002\.safetensors/);
    expect(r.stdout).toContain('total: 2 tensors, 2,408 parameters, 4,832 bytes (4.72 KiB); BF16 x1, F32 x1');
  });

  it('a bad file prints one line naming the file, the tensor and the rule, and exits 1', async () => {
    const r = await cli(join(dir, 'gap.safetensors'));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines.length).toBe(1);
    expect(lines[0]).toContain('gap.safetensors');
    expect(lines[0]).toContain("'b'");
    expect(lines[0]).toContain('[safetensors-gap]');
    const missing = await cli(join(dir, 'nope.safetensors'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no such file');
  });
});

describe('inspect as a library', () => {
  it('loads a file and summarises it as JSON (what --json prints)', async () => {
    const summary = tensorSummaryJson(await loadInspectTarget(fixture)) as { files: string[]; tensors: { name: string; dtype: string; shape: number[]; bytes: number }[] };
    expect(summary.files).toEqual(['nearswap_t01_7x13.inputs.safetensors']);
    expect(summary.tensors.map((t) => `${t.name} ${t.dtype} ${t.shape.join('x')} ${t.bytes}`)).toEqual(['base F32 7x13 364', 'm0 F32 7x13 364']);
  });
});

describe('table helpers', () => {
  it('formats sizes and aligns bytes right', () => {
    expect(humanBytes(1040128)).toBe('1016 KiB');
    expect(humanBytes(5e9)).toBe('4.66 GiB');
    const table = formatTensorTable([]);
    expect(table.split('\n').at(-1)).toBe('total: 0 tensors, 0 parameters, 0 bytes (0 B)');
  });
});
