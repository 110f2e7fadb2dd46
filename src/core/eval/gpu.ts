// The WebGPU backend: the same forward pass as cpu.ts, as WGSL kernels (kernels/eval_llama.wgsl)
// over weights held in GPU buffers. 16-bit weights stay packed two to a u32 word and are decoded
// in the kernels; a whole forward pass is one command submission and one read-back. A matrix over
// the storage binding budget (a 151936 x 896 embedding) is held in row slices, one buffer each,
// and every kernel that reads it runs once per slice.
import { requireGpu, type GpuContext } from '../gpu/device.ts';
import { WGSL } from '../gpu/kernels/index.generated.ts';
import { MergeStudioError } from '../errors.ts';
import { throwIfAborted } from '../progress.ts';
import type { CausalLMConfig } from './config.ts';
import { RopeTables, ropeInverseFrequencies } from './rope.ts';
import { KvCachedLM, batchedGreedy, checkSlidingWindow, logSoftmaxAt, isHostTensor, type GenerateOptions, type WeightUpdate } from './runtime.ts';
import { EMBED_TENSOR, FINAL_NORM_TENSOR, LM_HEAD_TENSOR, expectedTensors, layerTensorName, type HostTensor, type LayerTensorRole } from './weights.ts';

const KERNEL = 'eval_llama';
/** dtype codes the kernels understand. */
const DTYPE_CODE = { F32: 0, BF16: 1, F16: 2 } as const;
/** The attention kernel keeps one head's output in registers (MAX_HEAD_DIM in eval_llama.wgsl). */
const MAX_HEAD_DIM = 256;
const UNIFORM_STRIDE = 256; // minUniformBufferOffsetAlignment's largest allowed value
/** Bytes of one dispatch's uniform block (the largest params struct, MatmulParams, is 48). */
const UNIFORM_BYTES = 48;
const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Rows [row0, row0 + rows) of a weight, in one buffer. */
interface GpuSlice {
  buffer: GPUBuffer;
  row0: number;
  rows: number;
}

interface GpuWeight {
  /** The first (for vectors and matrices within the budget, the only) slice's buffer. */
  buffer: GPUBuffer;
  slices: GpuSlice[];
  dtype: 0 | 1 | 2;
  elements: number;
  /** Elements per row (the last dimension; a vector is one row). */
  rowLength: number;
}

/** Rows per slice of a matrix: as many as fit the binding budget even as float32 (what a merged
 * update turns a 16-bit weight into), so the same slices serve every dtype. */
export function sliceRows(rows: number, rowLength: number, budgetBytes: number): number {
  return Math.max(1, Math.min(rows, Math.floor(budgetBytes / (rowLength * 4))));
}

/** `rows` rows cut into slices of `per`, each with the buffer `make` gives it. */
function rowSlices(name: string, rows: number, per: number, make: (row0: number, rows: number, label: string) => GPUBuffer): GpuSlice[] {
  const slices: GpuSlice[] = [];
  for (let row0 = 0; row0 < rows; row0 += per) {
    const n = Math.min(per, rows - row0);
    slices.push({ buffer: make(row0, n, n === rows ? name : `${name}[${row0}:${row0 + n}]`), row0, rows: n });
  }
  return slices;
}

/** A weight the runtime allocates empty on this device in a stored dtype (f32 words, or 16-bit
 * values two per u32 word), in the same row slices as an uploaded one; the caller fills it on the
 * device with copyIntoWeight (the live loop merges straight into it). */
export interface GpuWeightAllocation {
  allocate: 'F32' | 'BF16' | 'F16';
}

type Uniform = readonly (readonly ['u32' | 'f32', number])[];

/** One forward pass being recorded: its dispatches, and their uniforms packed in one buffer. */
class PassRecorder {
  private readonly uniforms: ArrayBuffer[] = [];
  private readonly work: { entry: string; bind: (uniform: GPUBufferBinding) => GPUBindGroupEntry[]; groups: [number, number] }[] = [];

  constructor(private readonly lm: GpuCausalLM) {}

  /** `groups` is a flat workgroup count (folded into y past the limit) or an explicit 2-D grid. */
  add(entry: string, uniform: Uniform, bindings: Record<number, GPUBuffer>, groups: number | [number, number], uniformBinding: number): void {
    const data = new ArrayBuffer(UNIFORM_BYTES);
    const view = new DataView(data);
    uniform.forEach(([kind, v], i) => (kind === 'u32' ? view.setUint32(i * 4, v >>> 0, true) : view.setFloat32(i * 4, v, true)));
    this.uniforms.push(data);
    const grid = typeof groups === 'number' ? this.lm.grid(groups) : groups;
    this.work.push({
      entry,
      groups: grid,
      bind: (u) => [{ binding: uniformBinding, resource: u }, ...Object.entries(bindings).map(([b, buffer]) => ({ binding: Number(b), resource: { buffer } }))],
    });
  }

  encode(enc: GPUCommandEncoder): GPUBuffer {
    const device = this.lm.device;
    const uniformBuffer = device.createBuffer({ size: Math.max(1, this.uniforms.length) * UNIFORM_STRIDE, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'eval-uniforms' });
    const packed = new Uint8Array(this.uniforms.length * UNIFORM_STRIDE);
    this.uniforms.forEach((u, i) => packed.set(new Uint8Array(u), i * UNIFORM_STRIDE));
    device.queue.writeBuffer(uniformBuffer, 0, packed);
    // Dispatches share one compute pass: WebGPU orders them and makes each one's writes visible to the next.
    const pass = enc.beginComputePass();
    this.work.forEach((w, i) => {
      const pipeline = this.lm.pipeline(w.entry);
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: w.bind({ buffer: uniformBuffer, offset: i * UNIFORM_STRIDE, size: UNIFORM_BYTES }) }));
      pass.dispatchWorkgroups(w.groups[0], w.groups[1]);
    });
    pass.end();
    return uniformBuffer;
  }
}

/** (slot 0, position pos0 + t) for each of `count` rows of one sequence. */
function singleSequenceRows(count: number, pos0: number): Uint32Array {
  const rows = new Uint32Array(count * 2);
  for (let t = 0; t < count; t++) rows[2 * t + 1] = pos0 + t;
  return rows;
}

export class GpuCausalLM extends KvCachedLM {
  readonly backend = 'webgpu' as const;
  readonly device: GPUDevice;
  private readonly weights = new Map<string, GpuWeight>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly module: GPUShaderModule;
  private readonly ropeTables: RopeTables;
  private ropeCos: GPUBuffer | null = null;
  private ropeSin: GPUBuffer | null = null;
  private ropePositions = 0;
  private keys: GPUBuffer[] = [];
  private values: GPUBuffer[] = [];
  private capacity = 0;
  /** Sequences the KV cache holds side by side (several during batched generation). */
  private slots = 0;
  private scratch = new Map<string, GPUBuffer>();

  /** `matmulKernel` forces one matmul kernel everywhere (tests); by default matrix-vector products use
   * the naive kernel and batches the faster of the two on this device. */
  constructor(readonly gpu: GpuContext, config: CausalLMConfig, weights: ReadonlyMap<string, HostTensor | Float32Array | GpuWeightAllocation>, private readonly opts: { matmulKernel?: 'tiled' | 'naive' } = {}) {
    super(config);
    this.device = gpu.device;
    if (config.headDim > MAX_HEAD_DIM) {
      throw new MergeStudioError('eval-unsupported-architecture', `WebGPU runtime: head_dim ${config.headDim} is over the attention kernel's ${MAX_HEAD_DIM}; use the CPU backend`, { found: config.headDim });
    }
    this.module = this.device.createShaderModule({ code: WGSL[KERNEL], label: KERNEL });
    try {
      for (const [name, shape] of expectedTensors(config)) {
        const t = weights.get(name);
        if (!t) throw new MergeStudioError('eval-tensor-missing', `WebGPU runtime: tensor '${name}' was not provided`, { tensor: name });
        this.weights.set(name, 'allocate' in t ? this.allocateWeight(name, shape, t.allocate) : this.uploadWeight(name, shape, t));
      }
    } catch (err) {
      // Buffers of the weights made before the failure are not left to the garbage collector.
      this.dispose();
      throw err;
    }
    this.ropeTables = new RopeTables(ropeInverseFrequencies(config));
  }

  /** Elements per row of a weight and rows per slice (see sliceRows); a vector is one slice. */
  private sliceLayout(name: string, shape: number[]): { elements: number; rowLength: number; rows: number; per: number } {
    const elements = shape.reduce((a, b) => a * b, 1);
    const rowLength = shape[shape.length - 1], rows = elements / rowLength;
    const budget = this.gpu.capabilities.bindingBudget;
    if (rowLength * 4 > budget) {
      throw new MergeStudioError('eval-tensor-too-large', `WebGPU runtime: one row of tensor '${name}' (${rowLength} values, ${rowLength * 4} bytes as float32) is over this device's storage binding budget of ${budget} bytes; use the CPU backend`, { tensor: name, found: rowLength * 4, expected: budget });
    }
    return { elements, rowLength, rows, per: shape.length === 1 ? rows : sliceRows(rows, rowLength, budget) };
  }

  private uploadWeight(name: string, shape: number[], t: HostTensor | Float32Array): GpuWeight {
    const { elements, rowLength, rows, per } = this.sliceLayout(name, shape);
    const host: HostTensor = t instanceof Float32Array ? { dtype: 'F32', shape, data: t } : t;
    if (host.data.length !== elements) throw new MergeStudioError('eval-tensor-shape', `WebGPU runtime: tensor '${name}' has ${host.data.length} values, expected ${elements} (${JSON.stringify(shape)})`, { tensor: name });
    const slices = rowSlices(name, rows, per, (row0, n, label) => this.uploadWords(host.data.subarray(row0 * rowLength, (row0 + n) * rowLength), label));
    return { buffer: slices[0].buffer, slices, dtype: DTYPE_CODE[host.dtype], elements, rowLength };
  }

  private allocateWeight(name: string, shape: number[], dtype: 'F32' | 'BF16' | 'F16'): GpuWeight {
    const layout = this.sliceLayout(name, shape);
    const { elements, rowLength, rows } = layout;
    const size = dtype === 'F32' ? 4 : 2;
    let per = layout.per;
    // copyIntoWeight copies whole u32 words: every slice of a 16-bit weight must start on an even element.
    if (size === 2 && rowLength % 2 === 1 && per < rows) per &= ~1;
    if (per === 0) {
      const budget = this.gpu.capabilities.bindingBudget;
      throw new MergeStudioError('eval-tensor-too-large', `WebGPU runtime: two rows of tensor '${name}' (${2 * rowLength} values of an odd row length, ${2 * rowLength * 4} bytes as float32) are over this device's storage binding budget of ${budget} bytes; use the CPU backend`, { tensor: name, found: 2 * rowLength * 4, expected: budget });
    }
    const slices = rowSlices(name, rows, per, (_row0, n, label) => this.device.createBuffer({ size: Math.max(4, Math.ceil((n * rowLength * size) / 4) * 4), usage: STORAGE(), label }));
    return { buffer: slices[0].buffer, slices, dtype: DTYPE_CODE[dtype], elements, rowLength };
  }

  /** Bytes of weight buffers on the device (16-bit weights at two bytes a value). */
  get weightBytes(): number {
    let n = 0;
    for (const w of this.weights.values()) for (const s of w.slices) n += s.buffer.size;
    return n;
  }

  /** Workgroup grid for a flat count, folded into y past the per-dimension limit. */
  grid(groups: number): [number, number] {
    const limit = this.gpu.capabilities.limits.maxComputeWorkgroupsPerDimension;
    if (groups <= limit) return [Math.max(groups, 0), 1];
    const y = Math.ceil(groups / limit);
    return [Math.ceil(groups / y), y];
  }

  pipeline(entry: string): GPUComputePipeline {
    let p = this.pipelines.get(entry);
    if (!p) {
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module: this.module, entryPoint: entry }, label: `${KERNEL}:${entry}` });
      this.pipelines.set(entry, p);
    }
    return p;
  }

  private uploadWords(data: Float32Array | Uint16Array | Int32Array, label: string): GPUBuffer {
    const bytes = Math.max(4, Math.ceil(data.byteLength / 4) * 4);
    const buffer = this.device.createBuffer({ size: bytes, usage: STORAGE(), label, mappedAtCreation: true });
    new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    buffer.unmap();
    return buffer;
  }

  private buffer(name: string, bytes: number): GPUBuffer {
    let b = this.scratch.get(name);
    if (!b || b.size < bytes) {
      b?.destroy();
      b = this.device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 16) * 16), usage: STORAGE(), label: name });
      this.scratch.set(name, b);
    }
    return b;
  }

  /** Makes room for `slots` sequences of `positions` positions each, keeping what is cached. */
  private ensureCache(slots: number, positions: number): void {
    if (positions <= this.capacity && slots <= this.slots) return;
    const c = this.config;
    const kvBytes = c.numKvHeads * c.headDim * 4;
    const cap = positions <= this.capacity ? this.capacity : Math.max(positions, this.capacity * 2, 64);
    const newSlots = Math.max(slots, this.slots);
    const enc = this.device.createCommandEncoder();
    const old = [...this.keys, ...this.values];
    for (let l = 0; l < c.numLayers; l++) {
      const k = this.device.createBuffer({ size: newSlots * cap * kvBytes, usage: STORAGE(), label: `kv-k-${l}` });
      const v = this.device.createBuffer({ size: newSlots * cap * kvBytes, usage: STORAGE(), label: `kv-v-${l}` });
      for (let slot = 0; slot < this.slots; slot++) {
        enc.copyBufferToBuffer(this.keys[l], slot * this.capacity * kvBytes, k, slot * cap * kvBytes, this.capacity * kvBytes);
        enc.copyBufferToBuffer(this.values[l], slot * this.capacity * kvBytes, v, slot * cap * kvBytes, this.capacity * kvBytes);
      }
      this.keys[l] = k;
      this.values[l] = v;
    }
    this.device.queue.submit([enc.finish()]);
    for (const b of old) b.destroy();
    this.capacity = cap;
    this.slots = newSlots;
  }

  private ensureRope(positions: number): void {
    if (positions <= this.ropePositions) return;
    this.ropeTables.ensure(Math.max(positions, this.capacity));
    this.ropeCos?.destroy();
    this.ropeSin?.destroy();
    this.ropeCos = this.uploadWords(this.ropeTables.cos, 'rope-cos');
    this.ropeSin = this.uploadWords(this.ropeTables.sin, 'rope-sin');
    this.ropePositions = this.ropeTables.cos.length / (this.config.headDim / 2);
  }

  private weight(name: string): GpuWeight {
    return this.weights.get(name)!;
  }

  /** Records out (+)= x W^T (+ bias) for `rows` rows; a sliced W is one dispatch per slice, each
   * writing its own columns of `out`. */
  recordMatmul(rec: PassRecorder, x: GPUBuffer, w: GpuWeight, rows: number, inDim: number, outDim: number, out: GPUBuffer, bias: GpuWeight | null, accumulate: boolean, kernel?: 'matmul_tiled' | 'matmul_naive'): void {
    // A 16-row tile would leave most of its invocations idle for one generated token (a
    // matrix-vector product): one invocation per output does that job without barriers.
    const forced = this.opts.matmulKernel && (this.opts.matmulKernel === 'tiled' ? 'matmul_tiled' : 'matmul_naive');
    const entry = kernel ?? forced ?? (rows < 16 ? 'matmul_naive' : this.batchedMatmul);
    for (const slice of w.slices) {
      const n = slice.rows;
      const uniform: Uniform = [['u32', rows], ['u32', inDim], ['u32', n], ['u32', w.dtype], ['u32', bias ? 1 : 0], ['u32', bias?.dtype ?? 0], ['u32', accumulate ? 1 : 0], ['u32', slice.row0], ['u32', outDim]];
      const bindings = { 21: x, 22: slice.buffer, 23: (bias ?? w).buffer, 24: out };
      if (entry === 'matmul_naive') rec.add(entry, uniform, bindings, Math.ceil((rows * n) / 256), 20);
      // The tiled kernel's grid is 2-D: 64-wide output tiles by 16-row token tiles.
      else rec.add(entry, uniform, bindings, [Math.ceil(n / 64), Math.ceil(rows / 16)], 20);
    }
  }

  /** Which kernel multiplies batches of 16+ rows: tiled, unless the naive one measures faster here
   * (CPU implementations of WebGPU such as SwiftShader run workgroup barriers slowly). */
  private batchedMatmul: 'matmul_tiled' | 'matmul_naive' = 'matmul_tiled';
  private calibrated = false;

  private async calibrateMatmul(): Promise<void> {
    this.calibrated = true;
    const { hiddenSize: H, intermediateSize: I } = this.config;
    const outDim = sliceRows(I, H, this.gpu.capabilities.bindingBudget);
    const x = new Float32Array(64 * H).fill(0.5), w = new Float32Array(outDim * H).fill(0.25);
    const tiled = await this.matmul(x, w, 64, H, outDim, 'matmul_tiled');
    const naive = await this.matmul(x, w, 64, H, outDim, 'matmul_naive');
    this.batchedMatmul = naive.seconds < tiled.seconds ? 'matmul_naive' : 'matmul_tiled';
  }

  /** The kernel chosen for batched rows (after the first batched forward pass). */
  get batchedMatmulKernel(): string {
    return this.batchedMatmul;
  }

  protected async forward(tokens: Int32Array, pos0: number, fromRow: number, signal?: AbortSignal): Promise<Float32Array> {
    return this.forwardRows(tokens, singleSequenceRows(tokens.length, pos0), fromRow, signal);
  }

  /** Rows per forward pass whose logits fit one storage binding (a 151936-token vocabulary fills
   * 128 MiB at 220 rows); longer runs go in consecutive chunks of rows over the KV cache. */
  private get logitRowsPerPass(): number {
    return Math.max(1, Math.floor(this.gpu.capabilities.bindingBudget / (this.config.vocabSize * 4)));
  }

  /** Rows of any sequences: row t is tokens[t] at position rows[2t + 1] of cache slot rows[2t]. */
  private async forwardRows(tokens: Int32Array, rows: Uint32Array, fromRow: number, signal?: AbortSignal): Promise<Float32Array> {
    throwIfAborted(signal);
    if (!this.calibrated && !this.opts.matmulKernel && tokens.length >= 16) await this.calibrateMatmul();
    const V = this.config.vocabSize, T = tokens.length, step = this.logitRowsPerPass;
    if (T - fromRow <= step) {
      const logits = this.recordForward(tokens, rows, fromRow);
      return new Float32Array(await this.readBack(logits.buffer, logits.enc, (T - fromRow) * V * 4, logits.uniforms));
    }
    // Rows run in order (each sequence's rows by position), so a chunk sees the cache of the ones before.
    const out = new Float32Array((T - fromRow) * V);
    for (let a = 0; a < T; a += step) {
      throwIfAborted(signal);
      const b = Math.min(T, a + step), from = Math.min(Math.max(0, fromRow - a), b - a);
      const logits = this.recordForward(tokens.subarray(a, b), rows.subarray(2 * a, 2 * b), from);
      const part = new Float32Array(await this.readBack(logits.buffer, logits.enc, (b - a - from) * V * 4, logits.uniforms));
      out.set(part, (a + from - fromRow) * V);
    }
    return out;
  }

  /** Batched greedy generation: each prompt is prefilled into its own cache slot, then every step
   * advances all unfinished sequences in one forward pass (one submission and read-back per step). */
  protected async greedy(prompts: readonly Int32Array[], opts: GenerateOptions): Promise<number[][]> {
    this.ensureCache(prompts.length, Math.max(...prompts.map((p) => p.length)) + opts.maxNewTokens);
    return batchedGreedy(prompts, opts, this.config.vocabSize, (tokens, seqs, positions, fromRow) => {
      // Each sequence has its own cache slot: rows carry (slot, position) pairs.
      const rows = new Uint32Array(tokens.length * 2);
      for (let t = 0; t < tokens.length; t++) { rows[2 * t] = seqs[t]; rows[2 * t + 1] = positions[t]; }
      return this.forwardRows(tokens, rows, fromRow, opts.signal);
    });
  }

  /** Records the whole forward pass; returns the logits buffer of rows [fromRow, T). */
  private recordForward(tokens: Int32Array, rowSlots: Uint32Array, fromRow: number): { buffer: GPUBuffer; enc: GPUCommandEncoder; uniforms: GPUBuffer } {
    const c = this.config;
    const T = tokens.length, H = c.hiddenSize, hd = c.headDim;
    const qDim = c.numHeads * hd, kvDim = c.numKvHeads * hd, I = c.intermediateSize, V = c.vocabSize;
    let end = 0, slots = 0;
    for (let t = 0; t < T; t++) {
      slots = Math.max(slots, rowSlots[2 * t] + 1);
      end = Math.max(end, rowSlots[2 * t + 1] + 1);
    }
    checkSlidingWindow(c, end);
    this.ensureCache(slots, end);
    this.ensureRope(end);
    const ids = this.buffer('ids', T * 4);
    this.device.queue.writeBuffer(ids, 0, tokens as Int32Array<ArrayBuffer>);
    const rowsBuffer = this.buffer('rows', T * 8);
    this.device.queue.writeBuffer(rowsBuffer, 0, rowSlots as Uint32Array<ArrayBuffer>);
    const x = this.buffer('x', T * H * 4), h = this.buffer('h', T * H * 4);
    const qRaw = this.buffer('q-raw', T * qDim * 4), q = c.qkNorm ? this.buffer('q', T * qDim * 4) : qRaw;
    const kRaw = this.buffer('k-raw', T * kvDim * 4), k = c.qkNorm ? this.buffer('k', T * kvDim * 4) : kRaw;
    const v = this.buffer('v', T * kvDim * 4), att = this.buffer('att', T * qDim * 4);
    const gate = this.buffer('gate', T * I * 4), up = this.buffer('up', T * I * 4);
    const rows = T - fromRow;
    const normed = this.buffer('final', rows * H * 4);
    const logits = this.buffer('logits', rows * V * 4);
    const rec = new PassRecorder(this);
    const norm = (input: GPUBuffer, w: GpuWeight, nRows: number, dim: number, out: GPUBuffer, offset = 0) =>
      rec.add('rms_norm', [['u32', nRows], ['u32', dim], ['u32', w.dtype], ['f32', c.rmsNormEps], ['u32', offset]], { 11: input, 12: w.buffer, 13: out }, Math.ceil(nRows / 64), 10);
    const ropeOn = (buf: GPUBuffer, heads: number) =>
      rec.add('rope', [['u32', T], ['u32', heads], ['u32', hd]], { 31: buf, 32: this.ropeCos!, 33: this.ropeSin!, 34: rowsBuffer }, Math.ceil((T * heads * (hd / 2)) / 256), 30);

    const embed = this.weight(EMBED_TENSOR);
    for (const slice of embed.slices) {
      rec.add('embed', [['u32', T], ['u32', H], ['u32', embed.dtype], ['u32', slice.row0], ['u32', slice.rows]], { 1: ids, 2: slice.buffer, 3: x }, Math.ceil((T * H) / 256), 0);
    }
    const opt = (role: LayerTensorRole, l: number) => this.weights.get(layerTensorName(role, l)) ?? null;
    for (let l = 0; l < c.numLayers; l++) {
      const W = (role: LayerTensorRole) => this.weight(layerTensorName(role, l));
      norm(x, W('inputNorm'), T, H, h);
      this.recordMatmul(rec, h, W('q'), T, H, qDim, qRaw, opt('qBias', l), false);
      this.recordMatmul(rec, h, W('k'), T, H, kvDim, kRaw, opt('kBias', l), false);
      this.recordMatmul(rec, h, W('v'), T, H, kvDim, v, opt('vBias', l), false);
      if (c.qkNorm) {
        norm(qRaw, W('qNorm'), T * c.numHeads, hd, q);
        norm(kRaw, W('kNorm'), T * c.numKvHeads, hd, k);
      }
      ropeOn(q, c.numHeads);
      ropeOn(k, c.numKvHeads);
      const kc = this.keys[l], vc = this.values[l];
      rec.add('kv_store', [['u32', T], ['u32', kvDim], ['u32', this.capacity]], { 71: k, 72: v, 73: rowsBuffer, 74: kc, 75: vc }, Math.ceil((T * kvDim) / 256), 70);
      rec.add('attention', [['u32', T], ['u32', c.numHeads], ['u32', c.numKvHeads], ['u32', hd], ['u32', this.capacity], ['f32', 1 / Math.sqrt(hd)]],
        { 41: q, 42: kc, 43: vc, 45: att, 46: rowsBuffer }, Math.ceil((T * c.numHeads) / 64), 40);
      this.recordMatmul(rec, att, W('o'), T, qDim, H, x, opt('oBias', l), true);
      norm(x, W('postNorm'), T, H, h);
      this.recordMatmul(rec, h, W('gate'), T, H, I, gate, null, false);
      this.recordMatmul(rec, h, W('up'), T, H, I, up, null, false);
      rec.add('silu_gate', [['u32', T * I]], { 51: gate, 52: up }, Math.ceil((T * I) / 256), 50);
      this.recordMatmul(rec, gate, W('down'), T, I, H, x, null, true);
    }
    norm(x, this.weight(FINAL_NORM_TENSOR), rows, H, normed, fromRow * H);
    this.recordMatmul(rec, normed, this.weight(c.tiedEmbeddings ? EMBED_TENSOR : LM_HEAD_TENSOR), rows, H, V, logits, null, false);
    const enc = this.device.createCommandEncoder();
    const uniforms = rec.encode(enc);
    return { buffer: logits, enc, uniforms };
  }

  /** Copies `bytes` of `buffer` out after the work recorded in `enc`; `transient` is freed after. */
  private async readBack(buffer: GPUBuffer, enc: GPUCommandEncoder, bytes: number, transient?: GPUBuffer): Promise<ArrayBuffer> {
    const staging = this.device.createBuffer({ size: Math.max(4, bytes), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'eval-readback' });
    enc.copyBufferToBuffer(buffer, 0, staging, 0, bytes);
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const out = staging.getMappedRange().slice(0);
    staging.unmap();
    staging.destroy();
    transient?.destroy();
    return out;
  }

  /** Log-probabilities of the continuation tokens, reduced on the GPU (only one float per token
   * comes back instead of a vocabulary-wide row). */
  /** Two submissions per call: the prefix in cache slot 0; then every continuation in its own slot
   * (a copy of the prefix's keys and values) as one batch of rows, reduced to log-probabilities of
   * its targets on the GPU, so one float per token comes back instead of a vocabulary-wide row. */
  protected async scoreContinuations(prefix: Int32Array, continuations: readonly Int32Array[], signal?: AbortSignal): Promise<Float64Array[]> {
    const V = this.config.vocabSize, P = prefix.length;
    const last = await this.forward(prefix, 0, P - 1, signal);
    const out = continuations.map((c) => {
      const lp = new Float64Array(c.length);
      if (c.length > 0) lp[0] = logSoftmaxAt(last, 0, V, c[0]);
      return lp;
    });
    const rowsOf = continuations.map((c) => Math.max(0, c.length - 1));
    const total = rowsOf.reduce((a, b) => a + b, 0);
    if (total === 0) return out;
    throwIfAborted(signal);
    this.ensureCache(continuations.length + 1, P + Math.max(...rowsOf));
    const kvBytes = this.config.numKvHeads * this.config.headDim * 4;
    // A buffer cannot be copied onto itself: the prefix goes through a staging buffer.
    const staging = this.buffer('prefix-kv', 2 * P * kvBytes);
    const copies = this.device.createCommandEncoder();
    for (let l = 0; l < this.config.numLayers; l++) {
      copies.copyBufferToBuffer(this.keys[l], 0, staging, 0, P * kvBytes);
      copies.copyBufferToBuffer(this.values[l], 0, staging, P * kvBytes, P * kvBytes);
      for (let k = 0; k < continuations.length; k++) {
        if (rowsOf[k] === 0) continue;
        const at = (k + 1) * this.capacity * kvBytes;
        copies.copyBufferToBuffer(staging, 0, this.keys[l], at, P * kvBytes);
        copies.copyBufferToBuffer(staging, P * kvBytes, this.values[l], at, P * kvBytes);
      }
    }
    this.device.queue.submit([copies.finish()]);
    const tokens = new Int32Array(total), targets = new Int32Array(total), rows = new Uint32Array(total * 2);
    let r = 0;
    continuations.forEach((c, k) => {
      for (let j = 0; j + 1 < c.length; j++, r++) {
        tokens[r] = c[j];
        targets[r] = c[j + 1];
        rows[2 * r] = k + 1;
        rows[2 * r + 1] = P + j;
      }
    });
    const values = await this.targetLogProbs(tokens, targets, rows, signal);
    r = 0;
    continuations.forEach((c, k) => {
      for (let j = 1; j < c.length; j++) out[k][j] = values[r++];
    });
    return out;
  }

  /** Several sequences in one forward pass: sequence k in cache slot k, its rows at positions
   * 0 .. length - 2, all rows in order in chunks whose logits fit one binding (a chunk sees the
   * cache the earlier ones wrote); only each row's target log-probability is read back. */
  protected async scoreSequences(sequences: readonly Int32Array[], signal?: AbortSignal): Promise<Float64Array[]> {
    const out = sequences.map((s) => new Float64Array(s.length - 1));
    const total = sequences.reduce((a, s) => a + s.length - 1, 0);
    if (total === 0) return out;
    throwIfAborted(signal);
    this.ensureCache(sequences.length, Math.max(...sequences.map((s) => s.length)));
    const tokens = new Int32Array(total), targets = new Int32Array(total), rows = new Uint32Array(total * 2);
    let r = 0;
    sequences.forEach((s, k) => {
      for (let j = 0; j + 1 < s.length; j++, r++) {
        tokens[r] = s[j];
        targets[r] = s[j + 1];
        rows[2 * r] = k;
        rows[2 * r + 1] = j;
      }
    });
    const values = await this.targetLogProbs(tokens, targets, rows, signal);
    r = 0;
    for (const lp of out) for (let j = 0; j < lp.length; j++) lp[j] = values[r++];
    return out;
  }

  /** log p(targets[t]) after row t (tokens[t] at slot/position rows[2t], rows[2t + 1]), in chunks of
   * rows whose logits fit one binding, in order (each sequence's rows by position). */
  private async targetLogProbs(tokens: Int32Array, targets: Int32Array<ArrayBuffer>, rows: Uint32Array, signal?: AbortSignal): Promise<Float32Array> {
    const V = this.config.vocabSize, total = tokens.length;
    if (!this.calibrated && !this.opts.matmulKernel && total >= 16) await this.calibrateMatmul();
    const values = new Float32Array(total);
    for (let a = 0; a < total; a += this.logitRowsPerPass) {
      throwIfAborted(signal);
      const b = Math.min(total, a + this.logitRowsPerPass);
      const { buffer: logits, enc, uniforms } = this.recordForward(tokens.subarray(a, b), rows.subarray(2 * a, 2 * b), 0);
      const targetBuffer = this.buffer('targets', (b - a) * 4);
      this.device.queue.writeBuffer(targetBuffer, 0, targets, a, b - a);
      const lsm = this.buffer('log-probs', (b - a) * 4);
      const rec = new PassRecorder(this);
      rec.add('log_softmax_target', [['u32', b - a], ['u32', V]], { 61: logits, 62: targetBuffer, 63: lsm }, Math.ceil((b - a) / 64), 60);
      const more = rec.encode(enc);
      values.set(new Float32Array(await this.readBack(lsm, enc, (b - a) * 4, uniforms)), a);
      more.destroy();
    }
    return values;
  }

  protected async replaceWeights(tensors: ReadonlyMap<string, WeightUpdate>): Promise<void> {
    for (const [name, update] of tensors) {
      const w = this.weights.get(name);
      if (!w) throw new MergeStudioError('eval-unknown-tensor', `WebGPU runtime: no weight named '${name}' (tied lm_head lives in '${EMBED_TENSOR}')`, { tensor: name });
      if (isHostTensor(update)) {
        if (update.data.length !== w.elements) throw new MergeStudioError('eval-tensor-shape', `WebGPU runtime: tensor '${name}': update has ${update.data.length} values, the weight has ${w.elements}`, { tensor: name });
        continue;
      }
      const size = update instanceof Float32Array ? update.length * 4 : update.size;
      if (update instanceof Float32Array ? update.length !== w.elements : size < w.elements * 4) {
        throw new MergeStudioError('eval-tensor-shape', `WebGPU runtime: tensor '${name}': update holds ${update instanceof Float32Array ? update.length : Math.floor(size / 4)} float32 values, the weight has ${w.elements}`, { tensor: name });
      }
    }
    const enc = this.device.createCommandEncoder();
    const retired: GPUBuffer[] = [];
    for (const [name, update] of tensors) {
      const w = this.weights.get(name)!;
      if (isHostTensor(update) && update.dtype !== 'F32') {
        // A 16-bit update is held packed as uploaded (new buffers in the same slices).
        for (const s of w.slices) {
          retired.push(s.buffer);
          s.buffer = this.uploadWords(update.data.subarray(s.row0 * w.rowLength, (s.row0 + s.rows) * w.rowLength), name);
        }
        w.buffer = w.slices[0].buffer;
        w.dtype = DTYPE_CODE[update.dtype];
        continue;
      }
      const values = isHostTensor(update) ? update.data as Float32Array : update;
      // Float32 values: a packed 16-bit weight becomes a float32 one (same slices).
      if (w.dtype !== 0) {
        for (const s of w.slices) {
          retired.push(s.buffer);
          s.buffer = this.device.createBuffer({ size: s.rows * w.rowLength * 4, usage: STORAGE(), label: name });
        }
        w.buffer = w.slices[0].buffer;
        w.dtype = 0;
      }
      for (const s of w.slices) {
        const from = s.row0 * w.rowLength, count = s.rows * w.rowLength;
        if (values instanceof Float32Array) this.device.queue.writeBuffer(s.buffer, 0, values as Float32Array<ArrayBuffer>, from, count);
        else enc.copyBufferToBuffer(values, from * 4, s.buffer, 0, count * 4);
      }
    }
    this.device.queue.submit([enc.finish()]);
    await this.device.queue.onSubmittedWorkDone();
    for (const b of retired) b.destroy();
  }

  /** Records a copy of stored words into weight `name`: elements [start, start + count) (start
   * even; a 16-bit tail rounds up to its word) from `source` at byte `sourceOffset`, into each
   * row slice the range touches. The weight must be stored as `dtype` (the live loop writes merged
   * weights in their own dtype into weights made with GpuWeightAllocation). */
  copyIntoWeight(encoder: GPUCommandEncoder, name: string, dtype: 'F32' | 'BF16' | 'F16', source: GPUBuffer, sourceOffset: number, start: number, count: number): void {
    const w = this.weights.get(name);
    if (!w) throw new MergeStudioError('eval-unknown-tensor', `WebGPU runtime: no weight named '${name}'`, { tensor: name });
    if (w.dtype !== DTYPE_CODE[dtype]) throw new MergeStudioError('eval-tensor-dtype', `WebGPU runtime: weight '${name}' is not stored as ${dtype}`, { tensor: name });
    if (start < 0 || start + count > w.elements) throw new MergeStudioError('eval-tensor-shape', `WebGPU runtime: elements [${start}, ${start + count}) are outside weight '${name}' (${w.elements} values)`, { tensor: name });
    const size = dtype === 'F32' ? 4 : 2, end = start + count;
    for (const s of w.slices) {
      const first = s.row0 * w.rowLength, from = Math.max(start, first), to = Math.min(end, first + s.rows * w.rowLength);
      if (from >= to) continue;
      encoder.copyBufferToBuffer(source, sourceOffset + (from - start) * size, s.buffer, (from - first) * size, Math.ceil(((to - from) * size) / 4) * 4);
    }
  }

  /** Raw matmul of host data on this device (bench and kernel tests): y = x W^T, [rows, outDim]. */
  async matmul(x: Float32Array, w: Float32Array, rows: number, inDim: number, outDim: number, entry: 'matmul_tiled' | 'matmul_naive', repeats = 1): Promise<{ y: Float32Array; seconds: number }> {
    const xb = this.uploadWords(x, 'bench-x');
    const wBuffer = this.uploadWords(w, 'bench-w');
    const wb: GpuWeight = { buffer: wBuffer, slices: [{ buffer: wBuffer, row0: 0, rows: outDim }], dtype: 0, elements: w.length, rowLength: inDim };
    const yb = this.device.createBuffer({ size: rows * outDim * 4, usage: STORAGE(), label: 'bench-y' });
    const run = async () => {
      const rec = new PassRecorder(this);
      for (let r = 0; r < repeats; r++) this.recordMatmul(rec, xb, wb, rows, inDim, outDim, yb, null, false, entry);
      const enc = this.device.createCommandEncoder();
      const u = rec.encode(enc);
      this.device.queue.submit([enc.finish()]);
      await this.device.queue.onSubmittedWorkDone();
      u.destroy();
    };
    await run(); // warm-up: pipeline creation and first-use costs stay out of the timing
    const started = performance.now();
    await run();
    const seconds = (performance.now() - started) / 1000 / repeats;
    const enc = this.device.createCommandEncoder();
    const y = new Float32Array(await this.readBack(yb, enc, rows * outDim * 4));
    xb.destroy(); wb.buffer.destroy(); yb.destroy();
    return { y, seconds };
  }

  dispose(): void {
    for (const w of this.weights.values()) for (const s of w.slices) s.buffer.destroy();
    for (const b of [...this.keys, ...this.values, ...this.scratch.values()]) b.destroy();
    this.ropeCos?.destroy();
    this.ropeSin?.destroy();
    this.weights.clear();
    this.scratch.clear();
    this.keys = [];
    this.values = [];
    this.capacity = 0;
    this.slots = 0;
    this.ropePositions = 0;
  }
}

/** Creates the WebGPU runtime (acquiring a device unless one is given). */
export async function createGpuCausalLM(config: CausalLMConfig, weights: ReadonlyMap<string, HostTensor | Float32Array>, gpu?: GpuContext): Promise<GpuCausalLM> {
  return new GpuCausalLM(gpu ?? (await requireGpu()), config, weights);
}
