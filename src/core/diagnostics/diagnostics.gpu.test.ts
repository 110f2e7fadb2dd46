import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireGpu } from '../gpu/device.ts';
import { KernelRunner } from '../gpu/runner.ts';
import { nodeFolderTree } from '../io/node-file.ts';
import { openModel } from '../model/handle.ts';
import { cpuTaskVectorSums, gpuTaskVectorSums, taskVectorDiagnostics } from './index.ts';

let runner: KernelRunner;
beforeAll(async () => {
  runner = new KernelRunner(await requireGpu());
});
afterAll(() => runner?.dispose());

const open = (p: string) => openModel(nodeFolderTree(`public/zoo/tiny-llama/${p}`));

describe('task-vector diagnostics on the GPU', () => {
  it('equal the CPU path on the demo models, per layer', async () => {
    const base = await open('base');
    const models = [await open('caesar'), await open('reverse'), await open('sort')];
    const gpu = await taskVectorDiagnostics(base, models, { runner });
    const cpu = await taskVectorDiagnostics(base, models);
    expect(gpu.backend).toBe('webgpu');
    expect(gpu.layers.map((l) => l.layer)).toEqual(cpu.layers.map((l) => l.layer));
    gpu.layers.forEach((g, k) => {
      const c = cpu.layers[k];
      expect(g.elements).toBe(c.elements);
      g.norms.forEach((v, i) => expect(Math.abs(v - c.norms[i]) / c.norms[i]).toBeLessThan(1e-4));
      g.cosines.forEach((v, p) => expect(Math.abs(v - c.cosines[p])).toBeLessThan(1e-4));
      // Counts are exact: the kernel forms the same f32 differences.
      expect(g.pairConflicts).toEqual(c.pairConflicts);
      expect(g.conflicts).toBe(c.conflicts);
    });
  });

  it('handles all 8 model slots and many workgroups', async () => {
    // Random rows large enough for several workgroups; 8 models fill every pair slot.
    let s = 12345;
    const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5;
    const count = 256 * 64 * 3 + 17;
    const base = Float32Array.from({ length: count }, rnd);
    const models = Array.from({ length: 8 }, (_, i) => Float32Array.from(base, (b, e) => (e % (i + 2) === 0 ? b : b + rnd())));
    const g = await gpuTaskVectorSums(runner, base, models);
    const c = cpuTaskVectorSums(base, models);
    expect(g.pairConflicts).toEqual(c.pairConflicts);
    expect(g.conflicts).toBe(c.conflicts);
    g.squares.forEach((v, i) => expect(Math.abs(v - c.squares[i]) / c.squares[i]).toBeLessThan(1e-4));
    g.dots.forEach((v, p) => expect(Math.abs(v - c.dots[p])).toBeLessThan(1e-3 * Math.sqrt(c.squares[0] * c.squares[1])));
  });
});
