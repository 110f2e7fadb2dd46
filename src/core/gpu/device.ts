/** Acquires a WebGPU device in the browser (navigator.gpu) or in Node (Dawn), with the adapter's
 * largest buffer limits, and reports what was found in one place. Callers that get `null` fall
 * back to the CPU path. */
import { MergeStudioError } from '../errors.ts';

/** Never rely on more than this per storage binding, whatever the adapter claims: large tensors are
 * split into row chunks instead (many drivers misbehave near their advertised maximum). */
export const MAX_BINDING_BUDGET = 128 * 1024 * 1024;

export interface GpuCapabilities {
  adapter: { description: string; vendor: string; architecture: string; device: string };
  features: { shaderF16: boolean };
  limits: {
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxComputeWorkgroupSizeX: number;
    maxComputeWorkgroupsPerDimension: number;
    maxStorageBuffersPerShaderStage: number;
  };
  /** Bytes one storage binding may hold in this engine: min(adapter limit, 128 MiB), 4-byte aligned. */
  bindingBudget: number;
}

export interface GpuContext {
  device: GPUDevice;
  capabilities: GpuCapabilities;
}

export type GpuAcquisition = { ok: true; gpu: GpuContext } | { ok: false; reason: string };

export class GpuUnavailableError extends MergeStudioError {
  constructor(reason: string) {
    super('gpu_unavailable', `WebGPU is unavailable: ${reason}`, { reason });
  }
}

export interface AcquireOptions {
  /** Lower the per-binding budget (tests force tiny chunks with it). */
  bindingBudget?: number;
  powerPreference?: GPUPowerPreference;
}

const REQUESTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

async function findGpu(): Promise<GPU | string> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (!isNode) return 'this browser has no navigator.gpu (WebGPU disabled or unsupported)';
  try {
    const { nodeGpu } = await import('./node-gpu.ts');
    return await nodeGpu();
  } catch (e) {
    return `the Node WebGPU package (webgpu/Dawn) failed to load: ${(e as Error).message}`;
  }
}

/** Never throws: a missing GPU is an expected condition, reported with a reason. */
export async function acquireGpu(options: AcquireOptions = {}): Promise<GpuAcquisition> {
  const gpu = await findGpu();
  if (typeof gpu === 'string') return { ok: false, reason: gpu };
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  } catch (e) {
    return { ok: false, reason: `requestAdapter failed: ${(e as Error).message}` };
  }
  if (!adapter) return { ok: false, reason: 'no WebGPU adapter found (requestAdapter returned null)' };

  const requiredLimits: Record<string, number> = {};
  for (const name of REQUESTED_LIMITS) requiredLimits[name] = adapter.limits[name];
  const shaderF16 = adapter.features.has('shader-f16');
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({
      requiredLimits,
      requiredFeatures: shaderF16 ? ['shader-f16'] : [],
    });
  } catch (e) {
    return { ok: false, reason: `requestDevice failed: ${(e as Error).message}` };
  }
  watchDevice(device);
  const limits = Object.fromEntries(REQUESTED_LIMITS.map((n) => [n, device.limits[n]])) as GpuCapabilities['limits'];
  const adapterLimit = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  const wanted = Math.min(options.bindingBudget ?? MAX_BINDING_BUDGET, MAX_BINDING_BUDGET, adapterLimit);
  const bindingBudget = Math.max(16, Math.floor(wanted / 16) * 16);
  const info = adapter.info;
  return {
    ok: true,
    gpu: {
      device,
      capabilities: {
        adapter: {
          description: info?.description ?? '',
          vendor: info?.vendor ?? '',
          architecture: info?.architecture ?? '',
          device: info?.device ?? '',
        },
        features: { shaderF16 },
        limits,
        bindingBudget,
      },
    },
  };
}

/** A device that was lost: its `GPUDeviceLostInfo`, in plain data. */
export interface DeviceLoss {
  reason: string;
  message: string;
}

/** Every device this realm (tab, worker, Node process) acquired and has not lost. */
const liveDevices = new Set<GPUDevice>();
const lossListeners = new Set<(loss: DeviceLoss) => void>();

/** Each device acquireGpu makes is watched: when it is lost (driver reset, destroy(), the tab in
 * the background too long), every listener hears of it once, so callers drop GPU state and go on
 * on the CPU path. */
function watchDevice(device: GPUDevice): void {
  liveDevices.add(device);
  void device.lost.then((info) => {
    liveDevices.delete(device);
    const loss = { reason: String(info.reason ?? 'unknown'), message: info.message || 'the GPU device was lost' };
    for (const listener of lossListeners) listener(loss);
  });
}

/** Calls `listener` for every device lost from now on; returns the unsubscribe function. */
export function onDeviceLost(listener: (loss: DeviceLoss) => void): () => void {
  lossListeners.add(listener);
  return () => lossListeners.delete(listener);
}

/** Destroys every live device of this realm (the test hook that simulates a device loss). */
export function destroyAllDevices(): number {
  const n = liveDevices.size;
  for (const d of [...liveDevices]) d.destroy();
  return n;
}

/** For callers that cannot continue without a GPU (the GPU tests, `--backend webgpu`). */
export async function requireGpu(options: AcquireOptions = {}): Promise<GpuContext> {
  const found = await acquireGpu(options);
  if (!found.ok) throw new GpuUnavailableError(found.reason);
  return found.gpu;
}

/** One line for logs and the studio's banner. */
export function describeAdapter(c: GpuCapabilities): string {
  const a = c.adapter;
  const name = [a.vendor, a.architecture, a.description || a.device].filter(Boolean).join(' ') || 'unnamed adapter';
  return name;
}
