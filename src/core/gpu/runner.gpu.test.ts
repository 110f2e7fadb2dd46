import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { requireGpu, acquireGpu, MAX_BINDING_BUDGET, type GpuContext } from './device.ts';
import { KernelRunner } from './runner.ts';
import { decode16OnGpu } from './convert.ts';
import { decodeToF32 } from '../dtype.ts';
import { MergeStudioError } from '../errors.ts';

let gpu: GpuContext;
beforeAll(async () => {
  gpu = await requireGpu();
});

describe('device', () => {
  it('reports the adapter, shader-f16 and limits, and caps the binding budget at 128 MiB', () => {
    const c = gpu.capabilities;
    expect(typeof c.features.shaderF16).toBe('boolean');
    expect(c.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    expect(c.bindingBudget).toBeLessThanOrEqual(MAX_BINDING_BUDGET);
    expect(c.bindingBudget).toBeLessThanOrEqual(c.limits.maxStorageBufferBindingSize);
    expect(c.adapter.vendor + c.adapter.architecture + c.adapter.description).not.toBe('');
  });
  it('lowers the binding budget on request (tests use this to force chunking)', async () => {
    const small = await acquireGpu({ bindingBudget: 1000 });
    expect(small.ok && small.gpu.capabilities.bindingBudget).toBe(992);
    if (small.ok) small.gpu.device.destroy();
  });
});

describe('KernelRunner', () => {
  let runner: KernelRunner;
  beforeAll(() => {
    runner = new KernelRunner(gpu);
  });
  afterAll(() => runner.dispose());

  it('folds dispatches into 2-D grids when x would pass the per-dimension limit', async () => {
    // Pretend the adapter allows 9 groups per dimension: 20001 words need 79 groups, a 9x9 grid.
    const folded = new KernelRunner({ ...gpu, capabilities: { ...gpu.capabilities, limits: { ...gpu.capabilities.limits, maxComputeWorkgroupsPerDimension: 9 } } });
    const bytes = new Uint8Array(80_002).map((_, i) => (i * 131 + 17) & 0xff);
    const out = await decode16OnGpu(folded, bytes, 'BF16');
    const cpu = decodeToF32(bytes, 'BF16');
    expect(Array.from(new Uint32Array(out.buffer).subarray(-3))).toEqual(Array.from(new Uint32Array(cpu.buffer).subarray(-3)));
    expect(Buffer.from(out.buffer).equals(Buffer.from(cpu.buffer))).toBe(true);
    folded.dispose();
  });

  it('reuses pooled buffers of the same size class', () => {
    const a = runner.allocate(1000);
    runner.release(a);
    const b = runner.allocate(900);
    expect(b).toBe(a);
    runner.release(b);
  });

  it('names an unknown kernel in a typed error', () => {
    expect(() => runner.pipeline('no_such_kernel')).toThrow(MergeStudioError);
    expect(() => runner.pipeline('no_such_kernel')).toThrow(/no_such_kernel/);
  });

  it('round-trips bytes through upload and read, including a length that is not a multiple of 4', async () => {
    const data = new Uint8Array(4099).map((_, i) => i * 7);
    const buf = runner.upload(data);
    expect(new Uint8Array(await runner.read(buf, 4099))).toEqual(data);
    runner.release(buf);
  });
});

describe('kernel compile errors', () => {
  it('surface as a typed error naming the kernel at the next read', async () => {
    const { WGSL } = await import('./kernels/index.generated.ts');
    WGSL.__broken_probe = 'fn main( {';
    const runner = new KernelRunner(gpu);
    try {
      runner.pipeline('__broken_probe');
      const buf = runner.upload(new Uint32Array([1]));
      await expect(runner.read(buf, 4)).rejects.toThrow(/kernel "__broken_probe:main"/);
    } finally {
      delete WGSL.__broken_probe;
      runner.dispose();
    }
  });
});
