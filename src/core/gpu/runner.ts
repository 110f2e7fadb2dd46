/** Runs the WGSL kernels of src/core/gpu/kernels: cached pipelines, pooled storage buffers, uploads
 * and read-backs, and dispatch grids split over the per-dimension workgroup limit. */
import { WGSL } from './kernels/index.generated.ts';
import type { GpuContext } from './device.ts';
import { MergeStudioError } from '../errors.ts';

/** Every kernel in kernels/ uses this many invocations per workgroup along x. */
export const WORKGROUP_SIZE = 256;

export type ParamField = readonly ['u32' | 'i32' | 'f32', number];
export type Binding = GPUBuffer | GPUBufferBinding;

const STORAGE_USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
/** Pooled buffers are kept until this many bytes sit idle; beyond it released buffers are destroyed. */
const POOL_IDLE_BYTES = 256 * 1024 * 1024;

/** Size classes keep the pool reusable: powers of two up to 1 MiB, then whole MiB. */
function sizeClass(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes / 4) * 4);
  if (b <= 1 << 20) return 2 ** Math.ceil(Math.log2(b));
  return Math.ceil(b / (1 << 20)) * (1 << 20);
}

/** Workgroup counts for `workgroups` groups, folded into y when x would pass the adapter limit.
 * Kernels recover the flat group index as wid.x + wid.y * num_workgroups.x and bounds-check it. */
export function dispatchGrid(workgroups: number, perDimensionLimit = 65535): [number, number, number] {
  if (workgroups <= 0) return [0, 1, 1];
  if (workgroups <= perDimensionLimit) return [workgroups, 1, 1];
  const y = Math.ceil(workgroups / perDimensionLimit);
  if (y > perDimensionLimit) {
    throw new MergeStudioError('gpu_dispatch_too_large', `A dispatch of ${workgroups} workgroups exceeds ${perDimensionLimit}² workgroups`, { workgroups });
  }
  return [Math.ceil(workgroups / y), y, 1];
}

/** Splits `totalElements` into consecutive ranges whose bytes (times `copies`, e.g. one per stacked
 * model) fit one binding. Ranges cover whole rows when a row fits, and always start on an even
 * element so packed 16-bit words never straddle two chunks. */
export function elementChunks(
  totalElements: number,
  rowLength: number,
  bytesPerElementTimesCopies: number,
  bindingBudget: number,
): { start: number; count: number }[] {
  let per = Math.floor(bindingBudget / bytesPerElementTimesCopies);
  if (per < 2) throw new MergeStudioError('gpu_binding_too_small', `A binding budget of ${bindingBudget} bytes cannot hold two elements`, { bindingBudget });
  if (rowLength > 0 && rowLength <= per) {
    const rows = Math.floor(per / rowLength);
    // Whole rows, an even element count per chunk.
    per = rows * rowLength % 2 === 0 ? rows * rowLength : rows > 1 ? (rows - 1) * rowLength : per;
  }
  per -= per % 2;
  const out: { start: number; count: number }[] = [];
  for (let start = 0; start < totalElements; start += per) out.push({ start, count: Math.min(per, totalElements - start) });
  if (out.length === 0) out.push({ start: 0, count: 0 });
  return out;
}

export function packParams(fields: readonly ParamField[]): ArrayBuffer {
  // Uniform structs are 16-byte aligned; each field here is one 4-byte scalar.
  const bytes = Math.max(16, Math.ceil((fields.length * 4) / 16) * 16);
  const buf = new ArrayBuffer(bytes);
  const view = new DataView(buf);
  fields.forEach(([kind, value], i) => {
    if (kind === 'u32') view.setUint32(i * 4, value >>> 0, true);
    else if (kind === 'i32') view.setInt32(i * 4, value | 0, true);
    else view.setFloat32(i * 4, value, true);
  });
  return buf;
}

export class KernelRunner {
  readonly device: GPUDevice;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly pool = new Map<number, GPUBuffer[]>();
  private readonly logicalSize = new WeakMap<GPUBuffer, number>();
  private idleBytes = 0;
  private pendingCompileChecks: Promise<string | null>[] = [];

  constructor(readonly gpu: GpuContext) {
    this.device = gpu.device;
  }

  get bindingBudget(): number {
    return this.gpu.capabilities.bindingBudget;
  }

  pipeline(kernel: string, entryPoint = 'main'): GPUComputePipeline {
    const key = `${kernel}:${entryPoint}`;
    let p = this.pipelines.get(key);
    if (!p) {
      const code = WGSL[kernel];
      if (code === undefined) throw new MergeStudioError('gpu_unknown_kernel', `No WGSL kernel named "${kernel}" (known: ${Object.keys(WGSL).join(', ')})`, { kernel });
      // Compile errors surface asynchronously: the next read() reports them as a typed error.
      this.device.pushErrorScope('validation');
      const module = this.device.createShaderModule({ code, label: kernel });
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint }, label: key });
      this.pendingCompileChecks.push(this.device.popErrorScope().then((error) => (error ? `kernel "${key}": ${error.message}` : null)));
      this.pipelines.set(key, p);
    }
    return p;
  }

  /** A storage buffer of at least `byteLength` bytes from the pool (contents undefined). */
  allocate(byteLength: number, label = 'storage'): GPUBuffer {
    if (byteLength > this.gpu.capabilities.limits.maxBufferSize) {
      throw new MergeStudioError('gpu_buffer_too_large', `Buffer "${label}" needs ${byteLength} bytes, over the adapter's maxBufferSize ${this.gpu.capabilities.limits.maxBufferSize}`, { byteLength });
    }
    const cls = sizeClass(byteLength);
    const free = this.pool.get(cls);
    let buf = free?.pop();
    if (buf) this.idleBytes -= cls;
    else buf = this.device.createBuffer({ size: cls, usage: STORAGE_USAGE(), label });
    this.logicalSize.set(buf, Math.max(4, Math.ceil(byteLength / 4) * 4));
    return buf;
  }

  /** A zero-filled storage buffer. */
  zeros(byteLength: number, label = 'zeros'): GPUBuffer {
    const buf = this.allocate(byteLength, label);
    const enc = this.device.createCommandEncoder();
    enc.clearBuffer(buf, 0, this.logicalSize.get(buf)!);
    this.device.queue.submit([enc.finish()]);
    return buf;
  }

  upload(data: ArrayBufferView, label = 'upload'): GPUBuffer {
    const buf = this.allocate(data.byteLength, label);
    this.write(buf, data);
    return buf;
  }

  write(buf: GPUBuffer, data: ArrayBufferView, bufferOffset = 0): void {
    // Views over SharedArrayBuffer are accepted by every implementation we target; the DOM typings are narrower.
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength) as Uint8Array<ArrayBuffer>;
    const aligned = Math.floor(bytes.byteLength / 4) * 4;
    if (aligned > 0) this.device.queue.writeBuffer(buf, bufferOffset, bytes, 0, aligned);
    if (aligned < bytes.byteLength) {
      // writeBuffer needs 4-byte multiples: pad the tail (odd 16-bit counts end on half a word).
      const tail = new Uint8Array(4);
      tail.set(bytes.subarray(aligned));
      this.device.queue.writeBuffer(buf, bufferOffset + aligned, tail);
    }
  }

  /** A small uniform buffer holding `fields` in order (one 4-byte scalar each). */
  params(fields: readonly ParamField[]): GPUBuffer {
    const data = packParams(fields);
    const buf = this.device.createBuffer({ size: data.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'params' });
    this.device.queue.writeBuffer(buf, 0, data);
    return buf;
  }

  release(...bufs: (GPUBuffer | undefined)[]): void {
    for (const buf of bufs) {
      if (!buf) continue;
      if (!(buf.usage & GPUBufferUsage.STORAGE) || this.idleBytes + buf.size > POOL_IDLE_BYTES) {
        buf.destroy();
        continue;
      }
      const list = this.pool.get(buf.size) ?? [];
      list.push(buf);
      this.pool.set(buf.size, list);
      this.idleBytes += buf.size;
    }
  }

  /** Binds `bindings` to @binding(0..n) of @group(0) in order and dispatches `workgroups` groups. */
  dispatch(kernel: string, bindings: Binding[], workgroups: number, entryPoint = 'main'): void {
    if (workgroups <= 0) return;
    const pipeline = this.pipeline(kernel, entryPoint);
    const entries = bindings.map((b, binding) => ({
      binding,
      resource: 'buffer' in b ? b : { buffer: b, size: this.logicalSize.get(b) ?? b.size },
    }));
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const enc = this.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    const [x, y, z] = dispatchGrid(workgroups, this.gpu.capabilities.limits.maxComputeWorkgroupsPerDimension);
    pass.dispatchWorkgroups(x, y, z);
    pass.end();
    this.device.queue.submit([enc.finish()]);
  }

  /** Dispatches enough groups for one invocation per item. */
  dispatchItems(kernel: string, bindings: Binding[], items: number, entryPoint = 'main'): void {
    this.dispatch(kernel, bindings, Math.ceil(items / WORKGROUP_SIZE), entryPoint);
  }

  copy(source: GPUBuffer, sourceOffset: number, target: GPUBuffer, targetOffset: number, byteLength: number): void {
    if (byteLength <= 0) return;
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(source, sourceOffset, target, targetOffset, byteLength);
    this.device.queue.submit([enc.finish()]);
  }

  /** Throws a typed error if any kernel compiled since the last check was invalid. */
  async checkKernels(): Promise<void> {
    if (this.pendingCompileChecks.length === 0) return;
    const failures = (await Promise.all(this.pendingCompileChecks.splice(0))).filter((f): f is string => f !== null);
    if (failures.length > 0) throw new MergeStudioError('gpu_kernel_invalid', `WGSL kernel failed to compile: ${failures.join('; ')}`, { failures });
  }

  async read(buf: GPUBuffer, byteLength = this.logicalSize.get(buf) ?? buf.size, offset = 0): Promise<ArrayBuffer> {
    await this.checkKernels();
    const size = Math.ceil(byteLength / 4) * 4;
    const staging = this.device.createBuffer({ size: Math.max(4, size), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'readback' });
    const enc = this.device.createCommandEncoder();
    if (size > 0) enc.copyBufferToBuffer(buf, offset, staging, 0, size);
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const out = staging.getMappedRange().slice(0, byteLength);
    staging.unmap();
    staging.destroy();
    return out;
  }

  async readF32(buf: GPUBuffer, count: number): Promise<Float32Array> {
    return new Float32Array(await this.read(buf, count * 4));
  }

  async readU32(buf: GPUBuffer, count: number): Promise<Uint32Array> {
    return new Uint32Array(await this.read(buf, count * 4));
  }

  /** Drops pooled buffers and cached pipelines (the device itself belongs to the caller). */
  dispose(): void {
    for (const list of this.pool.values()) for (const b of list) b.destroy();
    this.pool.clear();
    this.idleBytes = 0;
    this.pipelines.clear();
  }
}
