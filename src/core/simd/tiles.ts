/** Float32 tile kernels of the CPU merge path: WebAssembly SIMD (kernels.wat, compiled once per
 * thread) when the runtime has it, else scalar JS twins that do the same float32 operations in the
 * same order on the same memory layout, so both give bit-identical results (simd.test.ts checks).
 * Inputs are copied tile by tile into the kernels' memory (a tile of every input stays in cache),
 * worked on there, and copied out; nothing full-size is allocated. */
import { draw24 } from '../methods/random.ts';
import { KERNELS_WASM_BASE64 } from './kernels.generated.ts';

/** Elements per tile slot (32 KiB of f32): large enough that per-call overhead vanishes, small
 * enough that a handful of slots stays in a core's L2 cache. */
export const TILE = 8192;

/** Raw kernels: byte addresses into `memory`, element counts a multiple of 8. */
export interface TileKernels {
  decode_bf16(src: number, dst: number, n: number): void;
  encode_bf16(src: number, dst: number, n: number): void;
  scale(dst: number, x: number, c: number, n: number): void;
  axpy(dst: number, x: number, c: number, n: number): void;
  sum3(dst: number, a: number, b: number, c: number, ca: number, cb: number, cc: number, n: number): void;
  subtract(x: number, base: number, n: number): void;
  add_scaled_to_base(dst: number, base: number, k: number, n: number): void;
  elect_accumulate(mixed: number, divisor: number, vote: number, x: number, c: number, w: number, n: number): void;
  divide_by_weights(mixed: number, divisor: number, n: number): void;
  keep_above_cut(x: number, n: number, threshold: number, budget: number): number;
  elect3(out: number, base: number, a: number, b: number, c: number, ca: number, cb: number, cc: number, wa: number, wb: number, wc: number, normalize: number, lambda: number, n: number): void;
  dare_elect3(out: number, base: number, a: number, b: number, c: number, ca: number, cb: number, cc: number, wa: number, wb: number, wc: number, normalize: number, lambda: number, n: number,
    first: number, keyA: number, keyB: number, keyC: number, thresholdA: number, thresholdB: number, thresholdC: number): void;
  task3(out: number, base: number, a: number, b: number, c: number, ca: number, cb: number, cc: number, n: number): void;
  histogram_high(x: number, n: number, hist: number): void;
  histogram_low(x: number, n: number, hist: number, bin: number): void;
  dare_mask(x: number, base: number, n: number, streamKey: number, first: number, threshold: number): void;
  dare_drop(x: number, base: number, n: number, streamKey: number, first: number, threshold: number, sums: number, bits: number): void;
  kept_elect3(out: number, base: number, a: number, b: number, c: number, ca: number, cb: number, cc: number, wa: number, wb: number, wc: number, normalize: number, lambda: number, n: number,
    bitsA: number, bitsB: number, bitsC: number): void;
  /** dare_drop and kept_elect3 reading BF16 inputs as stored (2 bytes per entry), decoded in
   * registers. WebAssembly only: without them the tiles are decoded first (the same values). */
  dare_drop_bf16?(x: number, base: number, n: number, streamKey: number, first: number, threshold: number, sums: number, bits: number): void;
  /** dare_drop_bf16 of three models in one pass (norms at sums + 64 x model, flags at bitsX..). */
  dare_drop3_bf16?(base: number, x: number, y: number, z: number, n: number, first: number, keyX: number, keyY: number, keyZ: number,
    thresholdX: number, thresholdY: number, thresholdZ: number, sums: number, bitsX: number, bitsY: number, bitsZ: number): void;
  kept_elect3_bf16?(out: number, base: number, a: number, b: number, c: number, ca: number, cb: number, cc: number, wa: number, wb: number, wc: number, normalize: number, lambda: number, n: number,
    bitsA: number, bitsB: number, bitsC: number): void;
  /** kept_elect3_bf16 writing BF16 bytes at `out` (2 per entry, rounded as encode_bf16 rounds). */
  kept_elect3_bf16_to_bf16?(out: number, base: number, a: number, b: number, c: number, ca: number, cb: number, cc: number, wa: number, wb: number, wc: number, normalize: number, lambda: number, n: number,
    bitsA: number, bitsB: number, bitsC: number): void;
  norms_and_dot(a: number, b: number, n: number, sums: number): void;
}

/** Where f64 reduction lanes live (up to 512 values), below the first slot. */
export const SUMS_ADDRESS = 0;
const FIRST_SLOT = 4096;
const SLOT_BYTES = TILE * 4;
const PAGE = 65536;

/** Element counts are padded to this (the kernels' stride). */
export function padded(length: number): number {
  return (length + 7) & ~7;
}

/** Input of a tile load: float32 values, or stored bytes (little-endian F32 or BF16). */
export type TileSource = { values: Float32Array } | { bytes: Uint8Array; dtype: 'F32' | 'BF16' };

/** One thread's tile workspace: numbered f32 slots of TILE elements, one bf16 staging area, and the
 * reduction lanes at SUMS_ADDRESS. */
export class TileWorkspace {
  private u8!: Uint8Array;
  private f32!: Float32Array;
  private f64!: Float64Array;
  private slotCount = 0;

  constructor(
    readonly kernels: TileKernels,
    private readonly memory: { buffer: ArrayBuffer; grow(pages: number): number },
    /** True for the WebAssembly SIMD kernels, false for the JS twins. */
    readonly simd: boolean,
  ) {
    this.refreshViews();
  }

  private refreshViews(): void {
    this.u8 = new Uint8Array(this.memory.buffer);
    this.f32 = new Float32Array(this.memory.buffer);
    this.f64 = new Float64Array(this.memory.buffer);
  }

  /** Makes slots 0..count-1 (plus staging) exist; growing detaches old views, so views are refreshed. */
  reserve(count: number): void {
    if (count <= this.slotCount) return;
    const needed = FIRST_SLOT + (count + 1) * SLOT_BYTES;
    const have = this.memory.buffer.byteLength;
    if (needed > have) {
      this.memory.grow(Math.ceil((needed - have) / PAGE));
      this.refreshViews();
    }
    this.slotCount = count;
  }

  /** Byte address of slot `i` (reserve first). */
  slot(i: number): number {
    return FIRST_SLOT + i * SLOT_BYTES;
  }

  private staging(): number {
    return FIRST_SLOT + this.slotCount * SLOT_BYTES;
  }

  /** Float32 values of elements [start, start + length) of `source` into `slot`, zero-padded to a
   * multiple of 8 (padding adds nothing to sums and is never copied out). */
  load(slot: number, source: TileSource, start: number, length: number): void {
    const at = this.slot(slot);
    if ('values' in source) {
      this.f32.set(source.values.subarray(start, start + length), at >> 2);
    } else if (source.dtype === 'F32') {
      this.u8.set(source.bytes.subarray(start * 4, (start + length) * 4), at);
    } else {
      const staging = this.staging();
      this.u8.set(source.bytes.subarray(start * 2, (start + length) * 2), staging);
      this.u8.fill(0, staging + length * 2, staging + padded(length) * 2);
      this.kernels.decode_bf16(staging, at, padded(length));
      return;
    }
    this.f32.fill(0, (at >> 2) + length, (at >> 2) + padded(length));
  }

  /** BF16 bytes of elements [start, start + length) into `slot` as stored (2 bytes each, not
   * decoded), zero-padded to a multiple of 8, for the kernels that decode in registers. */
  loadBf16(slot: number, bytes: Uint8Array, start: number, length: number): void {
    const at = this.slot(slot);
    this.u8.set(bytes.subarray(start * 2, (start + length) * 2), at);
    this.u8.fill(0, at + length * 2, at + padded(length) * 2);
  }

  /** Slot `slot`'s first `length` values into `out` at element `start`, as float32 values or as
   * F32 / BF16 bytes (round to nearest even). */
  store(slot: number, out: { values: Float32Array } | { bytes: Uint8Array; dtype: 'F32' | 'BF16' }, start: number, length: number): void {
    const at = this.slot(slot);
    if ('values' in out) {
      out.values.set(this.f32.subarray(at >> 2, (at >> 2) + length), start);
    } else if (out.dtype === 'F32') {
      out.bytes.set(this.u8.subarray(at, at + length * 4), start * 4);
    } else {
      const staging = this.staging();
      this.kernels.encode_bf16(at, staging, padded(length));
      out.bytes.set(this.u8.subarray(staging, staging + length * 2), start * 2);
    }
  }

  /** BF16 bytes a kernel wrote to `slot` (2 per element, as stored) into `out` at element `start`. */
  storeBf16(slot: number, out: Uint8Array, start: number, length: number): void {
    const at = this.slot(slot);
    out.set(this.u8.subarray(at, at + length * 2), start * 2);
  }

  /** Zeroes the first `n` elements of a slot. */
  zero(slot: number, n: number): void {
    const at = this.slot(slot) >> 2;
    this.f32.fill(0, at, at + n);
  }

  /** Copies bytes into the kernels' memory at byte address `at`. */
  putBytes(at: number, bytes: Uint8Array): void {
    this.u8.set(bytes, at);
  }

  /** A view of `length` bytes at byte address `at` (valid until the next reserve). */
  bytesAt(at: number, length: number): Uint8Array {
    return this.u8.subarray(at, at + length);
  }

  /** u32 counts (histograms) in slots from `slot` on. */
  counts(slot: number, n: number): Uint32Array {
    return new Uint32Array(this.memory.buffer, this.slot(slot), n);
  }

  /** Zeroes `count` f64 reduction values at SUMS_ADDRESS. */
  clearSums(count: number): void {
    this.f64.fill(0, SUMS_ADDRESS / 8, SUMS_ADDRESS / 8 + count);
  }

  /** Copies `count` f64 reduction values out of the kernels' memory (a chunked reduction keeps its
   * lanes between chunks, so the sums come out as if the tensor had been one piece). */
  saveSums(into: Float64Array): void {
    into.set(this.f64.subarray(SUMS_ADDRESS / 8, SUMS_ADDRESS / 8 + into.length));
  }

  /** Puts reduction values saved by saveSums back. */
  restoreSums(from: Float64Array): void {
    this.f64.set(from, SUMS_ADDRESS / 8);
  }

  /** Reduction value `i` at SUMS_ADDRESS. */
  sum(i: number): number {
    return this.f64[SUMS_ADDRESS / 8 + i];
  }

  /** Four per-lane sums starting at value `i`, combined in the one fixed order both backends share. */
  laneTotal(i: number): number {
    return this.sum(i) + this.sum(i + 1) + (this.sum(i + 2) + this.sum(i + 3));
  }
}

// ---- the JS twins ----

/** Scalar twins of kernels.wat over a plain ArrayBuffer. Float32Array stores round to f32, and f32
 * products/sums computed in f64 then rounded equal the f32 operations (53 >= 2 x 24 + 2 bits). */
function jsKernels(memory: { buffer: ArrayBuffer }): TileKernels {
  const f32 = () => new Float32Array(memory.buffer);
  const i32 = () => new Int32Array(memory.buffer);
  const fr = Math.fround;
  const kernels: TileKernels = {
    decode_bf16(src, dst, n) {
      const u16 = new Uint16Array(memory.buffer);
      const out = i32();
      for (let k = 0; k < n; k++) out[(dst >> 2) + k] = u16[(src >> 1) + k] << 16;
    },
    encode_bf16(src, dst, n) {
      const bits = i32();
      const u16 = new Uint16Array(memory.buffer);
      for (let k = 0; k < n; k++) {
        const u = bits[(src >> 2) + k];
        u16[(dst >> 1) + k] = ((u & 0x7fffffff) > 0x7f800000 ? u | 0x400000 : (u + 0x7fff + ((u >>> 16) & 1)) | 0) >>> 16;
      }
    },
    scale(dst, x, c, n) {
      const m = f32();
      for (let k = 0; k < n; k++) m[(dst >> 2) + k] = c * m[(x >> 2) + k];
    },
    axpy(dst, x, c, n) {
      const m = f32();
      for (let k = 0; k < n; k++) m[(dst >> 2) + k] = m[(dst >> 2) + k] + fr(c * m[(x >> 2) + k]);
    },
    sum3(dst, a, b, c, ca, cb, cc, n) {
      const m = f32();
      for (let k = 0; k < n; k++) m[(dst >> 2) + k] = fr(fr(ca * m[(a >> 2) + k]) + fr(cb * m[(b >> 2) + k])) + fr(cc * m[(c >> 2) + k]);
    },
    subtract(x, base, n) {
      const m = f32();
      for (let k = 0; k < n; k++) m[(x >> 2) + k] = m[(x >> 2) + k] - m[(base >> 2) + k];
    },
    add_scaled_to_base(dst, base, k0, n) {
      const m = f32();
      for (let k = 0; k < n; k++) m[(dst >> 2) + k] = m[(base >> 2) + k] + fr(m[(dst >> 2) + k] * k0);
    },
    elect_accumulate(mixed, divisor, vote, x, c, w, n) {
      const m = f32();
      for (let k = 0; k < n; k++) {
        const t = fr(c * m[(x >> 2) + k]);
        const agree = m[(vote >> 2) + k] < 0 ? t < 0 : t > 0;
        m[(mixed >> 2) + k] = m[(mixed >> 2) + k] + (agree ? t : 0);
        m[(divisor >> 2) + k] = m[(divisor >> 2) + k] + (agree ? w : 0);
      }
    },
    divide_by_weights(mixed, divisor, n) {
      const m = f32();
      for (let k = 0; k < n; k++) {
        const d = m[(divisor >> 2) + k];
        m[(mixed >> 2) + k] = m[(mixed >> 2) + k] / (d + (d === 0 ? 1 : 0));
      }
    },
    keep_above_cut(x, n, threshold, budget) {
      const m = f32();
      const bits = i32();
      for (let k = 0; k < n; k++) {
        const key = bits[(x >> 2) + k] & 0x7fffffff;
        if (key === threshold) {
          if (budget > 0) budget--;
          else m[(x >> 2) + k] = 0;
        } else if (!(key > threshold)) m[(x >> 2) + k] = 0;
      }
      return budget;
    },
    elect3(out, base, a, b, c, ca, cb, cc, wa, wb, wc, normalize, lambda, n) {
      const m = f32();
      for (let k = 0; k < n; k++) {
        const x = fr(ca * m[(a >> 2) + k]);
        const y = fr(cb * m[(b >> 2) + k]);
        const z = fr(cc * m[(c >> 2) + k]);
        const negative = fr(fr(x + y) + z) < 0;
        const ax = negative ? x < 0 : x > 0;
        const ay = negative ? y < 0 : y > 0;
        const az = negative ? z < 0 : z > 0;
        let mixed = fr(fr(fr(0 + (ax ? x : 0)) + (ay ? y : 0)) + (az ? z : 0));
        const divisor = fr(fr(fr(0 + (ax ? wa : 0)) + (ay ? wb : 0)) + (az ? wc : 0));
        if (normalize) mixed = fr(mixed / (divisor + (divisor === 0 ? 1 : 0)));
        m[(out >> 2) + k] = m[(base >> 2) + k] + fr(mixed * lambda);
      }
    },
    histogram_high(x, n, hist) {
      const bits = i32();
      const counts = new Uint32Array(memory.buffer, hist, 32768);
      for (let k = 0; k < n; k++) counts[(bits[(x >> 2) + k] >>> 16) & 0x7fff]++;
    },
    histogram_low(x, n, hist, bin) {
      const bits = i32();
      const counts = new Uint32Array(memory.buffer, hist, 65536);
      for (let k = 0; k < n; k++) {
        const key = bits[(x >> 2) + k] & 0x7fffffff;
        if (key >>> 16 === bin) counts[key & 0xffff]++;
      }
    },
    dare_mask(x, base, n, streamKey, first, threshold) {
      const m = f32();
      for (let k = 0; k < n; k++) {
        const h = draw24(streamKey, first + k);
        m[(x >> 2) + k] = h < threshold ? m[(x >> 2) + k] - m[(base >> 2) + k] : 0;
      }
    },
    dare_drop(x, base, n, streamKey, first, threshold, sums, bits) {
      const m = f32();
      const s = new Float64Array(memory.buffer, sums, 8);
      const flags = new Uint8Array(memory.buffer, bits, n >> 3);
      flags.fill(0);
      const before = new Float32Array(8);
      const after = new Float32Array(8);
      for (let k = 0; k < n; k++) {
        const h = draw24(streamKey, first + k);
        const delta = fr(m[(x >> 2) + k] - m[(base >> 2) + k]);
        const kept = h < threshold ? delta : 0;
        if (h < threshold) flags[k >> 3] |= 1 << (k & 7);
        before[k & 7] = Math.abs(delta);
        after[k & 7] = Math.abs(kept);
        // Eight at a time: lane l adds fround(|x[l]| + |x[l + 4]|).
        if ((k & 7) === 7) {
          for (let l = 0; l < 4; l++) {
            s[l] += fr(before[l] + before[l + 4]);
            s[4 + l] += fr(after[l] + after[l + 4]);
          }
        }
      }
    },
    norms_and_dot(a, b, n, sums) {
      const m = f32();
      const s = new Float64Array(memory.buffer, sums, 12);
      for (let k = 0; k < n; k++) {
        const x = m[(a >> 2) + k];
        const y = m[(b >> 2) + k];
        s[k & 3] += x * x;
        s[4 + (k & 3)] += y * y;
        s[8 + (k & 3)] += x * y;
      }
    },
    // The fused kernels are, by definition, their unfused sequences.
    dare_elect3(out, base, a, b, c, ca, cb, cc, wa, wb, wc, normalize, lambda, n, first, keyA, keyB, keyC, thresholdA, thresholdB, thresholdC) {
      kernels.dare_mask(a, base, n, keyA, first, thresholdA);
      kernels.dare_mask(b, base, n, keyB, first, thresholdB);
      kernels.dare_mask(c, base, n, keyC, first, thresholdC);
      kernels.elect3(out, base, a, b, c, ca, cb, cc, wa, wb, wc, normalize, lambda, n);
    },
    kept_elect3(out, base, a, b, c, ca, cb, cc, wa, wb, wc, normalize, lambda, n, bitsA, bitsB, bitsC) {
      const m = f32();
      const u8 = new Uint8Array(memory.buffer);
      for (const [x, bits] of [[a, bitsA], [b, bitsB], [c, bitsC]]) {
        for (let k = 0; k < n; k++) m[(x >> 2) + k] = (u8[bits + (k >> 3)] >> (k & 7)) & 1 ? m[(x >> 2) + k] - m[(base >> 2) + k] : 0;
      }
      kernels.elect3(out, base, a, b, c, ca, cb, cc, wa, wb, wc, normalize, lambda, n);
    },
    task3(out, base, a, b, c, ca, cb, cc, n) {
      kernels.subtract(a, base, n);
      kernels.subtract(b, base, n);
      kernels.subtract(c, base, n);
      kernels.sum3(out, a, b, c, ca, cb, cc, n);
      kernels.add_scaled_to_base(out, base, 1, n);
    },
  };
  return kernels;
}

/** A growable ArrayBuffer with WebAssembly.Memory's grow semantics, for the JS twins. */
class JsMemory {
  buffer = new ArrayBuffer(PAGE);
  grow(pages: number): number {
    const before = this.buffer.byteLength / PAGE;
    const next = new ArrayBuffer(this.buffer.byteLength + pages * PAGE);
    new Uint8Array(next).set(new Uint8Array(this.buffer));
    this.buffer = next;
    return before;
  }
}

let wasmWorkspace: TileWorkspace | null | undefined;
let jsWorkspace: TileWorkspace | undefined;
let preferSimd = true;
/** Why the synchronous compile failed, when it did (shown by tileKernelStatus). */
let wasmFailure: string | undefined;

function kernelBytes(): Uint8Array<ArrayBuffer> {
  const text = atob(KERNELS_WASM_BASE64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

function workspaceOf(instance: WebAssembly.Instance): TileWorkspace {
  const exports = instance.exports as unknown as TileKernels & { memory: WebAssembly.Memory };
  return new TileWorkspace(exports, exports.memory, true);
}

function instantiateWasm(): TileWorkspace | null {
  try {
    const bytes = kernelBytes();
    // Runtimes without SIMD reject the module here; the JS twins take over.
    if (typeof WebAssembly === 'undefined' || !WebAssembly.validate(bytes)) {
      wasmFailure = 'this runtime does not validate the WebAssembly SIMD module';
      return null;
    }
    // Chrome refuses synchronous compiles above a size limit on a page's main thread (4 KB until
    // recently, now 8 MB; workers have none): precompileTileKernels compiles asynchronously there.
    return workspaceOf(new WebAssembly.Instance(new WebAssembly.Module(bytes), {}));
  } catch (err) {
    wasmFailure = err instanceof Error ? err.message : String(err);
    return null;
  }
}

/** Compiles and instantiates the SIMD kernels asynchronously, for threads where the synchronous
 * compile is refused (a browser page's main thread); tiles use them from then on. Resolves to
 * whether they are available. */
export async function precompileTileKernels(): Promise<boolean> {
  if (wasmWorkspace) return true;
  try {
    const bytes = kernelBytes();
    if (typeof WebAssembly === 'undefined' || !WebAssembly.validate(bytes)) return false;
    const module = await WebAssembly.compile(bytes);
    wasmWorkspace ??= workspaceOf(await WebAssembly.instantiate(module, {}));
    wasmFailure = undefined;
    return true;
  } catch (err) {
    wasmFailure = err instanceof Error ? err.message : String(err);
    return false;
  }
}

/** Which kernels this thread's tile loops run, and why not SIMD when they fall back. */
export function tileKernelStatus(): { simd: boolean; detail: string } {
  const simd = tileWorkspace().simd;
  const why = simdAvailable() ? 'SIMD turned off' : (wasmFailure ?? 'WebAssembly SIMD unavailable');
  return { simd, detail: simd ? 'WebAssembly SIMD' : `JS twins (${why})` };
}

/** This thread's workspace: the WebAssembly SIMD kernels when available (and not turned off with
 * setSimdPreferred(false)), else the JS twins. Instantiated once, on first use. */
export function tileWorkspace(): TileWorkspace {
  if (preferSimd) {
    if (wasmWorkspace === undefined) wasmWorkspace = instantiateWasm();
    if (wasmWorkspace) return wasmWorkspace;
  }
  if (!jsWorkspace) {
    const memory = new JsMemory();
    jsWorkspace = new TileWorkspace(jsKernels(memory), memory, false);
  }
  return jsWorkspace;
}

/** Whether the WebAssembly SIMD kernels can run here. */
export function simdAvailable(): boolean {
  if (wasmWorkspace === undefined) wasmWorkspace = instantiateWasm();
  return wasmWorkspace !== null;
}

/** Chooses the SIMD kernels (default) or the JS twins; tests compare the two. Returns the old choice. */
export function setSimdPreferred(prefer: boolean): boolean {
  const before = preferSimd;
  preferSimd = prefer;
  return before;
}
