// Element types of the safetensors format and exact conversions between them and float32.
// Decoding is bit-exact (NaN payloads kept); encoding rounds to nearest, ties to even, and turns
// every NaN into a quiet NaN of the same sign, so the CPU path matches the GPU packing kernels.
import { MergeStudioError } from './errors.ts';
import { convertTiles } from './simd/merge-tiles.ts';
import { tileWorkspace } from './simd/tiles.ts';

/** Every dtype the safetensors format defines (huggingface/safetensors `Dtype`). */
export type DType =
  | 'BOOL' | 'U8' | 'I8' | 'U16' | 'I16' | 'U32' | 'I32' | 'U64' | 'I64'
  | 'F16' | 'BF16' | 'F32' | 'F64' | 'C64'
  | 'F8_E4M3' | 'F8_E5M2' | 'F8_E8M0' | 'F4' | 'F6_E2M3' | 'F6_E3M2';

const BITS: Record<DType, number> = {
  BOOL: 8, U8: 8, I8: 8, U16: 16, I16: 16, U32: 32, I32: 32, U64: 64, I64: 64,
  F16: 16, BF16: 16, F32: 32, F64: 64, C64: 64,
  F8_E4M3: 8, F8_E5M2: 8, F8_E8M0: 8, F4: 4, F6_E2M3: 6, F6_E3M2: 6,
};

export const ALL_DTYPES: readonly DType[] = Object.keys(BITS) as DType[];

export function isDType(name: unknown): name is DType {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(BITS, name);
}

/** Size of one element in bits (4 and 6 for the packed micro-float types). */
export function dtypeBits(d: DType): number {
  return BITS[d];
}

/** Real floating-point types (C64 is complex, the rest are integers or booleans). */
export function isFloatDType(d: DType): boolean {
  return d === 'F16' || d === 'BF16' || d === 'F32' || d === 'F64' || d.startsWith('F8_') || d === 'F4' || d.startsWith('F6_');
}

/** Types that decodeToF32 understands. */
export function canDecodeToF32(d: DType): boolean {
  return d !== 'C64' && d !== 'F4' && d !== 'F6_E2M3' && d !== 'F6_E3M2';
}

/** Types that encodeFromF32 can write. */
export function canEncodeFromF32(d: DType): boolean {
  return d === 'F32' || d === 'F16' || d === 'BF16' || d === 'F64';
}

// Typed arrays use the platform byte order; safetensors is little-endian.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('merge-studio needs a little-endian platform');
}

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

function f32Bits(x: number): number {
  scratchF32[0] = x;
  return scratchU32[0];
}
function bitsToF32(u: number): number {
  scratchU32[0] = u;
  return scratchF32[0];
}

// ---- bfloat16: the upper half of a float32 ----

export function bf16BitsToF32(b: number): number {
  return bitsToF32((b & 0xffff) << 16);
}

export function f32ToBf16Bits(x: number): number {
  return roundToBf16High(f32Bits(x)) >>> 16;
}

// ---- IEEE binary16 ----

function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal half: normalise into a float32 exponent.
  let e = 113;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

function f32BitsToF16Bits(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const a = u & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7e00 | ((a >>> 13) & 0x3ff); // quiet NaN
  if (a >= 0x477ff000) return sign | 0x7c00; // >= 65520 rounds to infinity (and infinity itself)
  if (a < 0x38800000) {
    // Result is subnormal (or zero): units of 2^-24, rounded to nearest even. Exact in float64.
    const v = bitsToF32(a) * 16777216;
    let q = Math.floor(v);
    const rest = v - q;
    if (rest > 0.5 || (rest === 0.5 && (q & 1) === 1)) q++;
    return sign | q; // q === 0x400 is correctly the smallest normal
  }
  const mant = a & 0x7fffff;
  let h = (((a >>> 23) - 112) << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}

export function f16BitsToF32(b: number): number {
  return bitsToF32(f16BitsToF32Bits(b & 0xffff));
}

export function f32ToF16Bits(x: number): number {
  return f32BitsToF16Bits(f32Bits(x));
}

// ---- 8-bit floats: small lookup tables ----

function buildTable(decode: (b: number) => number): Float32Array {
  const t = new Float32Array(256);
  for (let b = 0; b < 256; b++) t[b] = decode(b);
  return t;
}

let f16Table: Uint32Array | undefined; // all 65536 halves as float32 bits (256 KiB)

/** Every f16 bit pattern's float32 bits, built on first use and shared by every decoder. */
export function f16ToF32BitsTable(): Uint32Array {
  return (f16Table ??= Uint32Array.from({ length: 65536 }, (_, h) => f16BitsToF32Bits(h)));
}
let e4m3Table: Float32Array | undefined;
let e5m2Table: Float32Array | undefined;
let e8m0Table: Float32Array | undefined;

// float8_e4m3fn: bias 7, no infinities, S.1111.111 is NaN, max 448.
function decodeE4M3(b: number): number {
  const s = b & 0x80 ? -1 : 1;
  const e = (b >>> 3) & 0xf;
  const m = b & 7;
  if (e === 0xf && m === 7) return NaN;
  return e === 0 ? s * m * 2 ** -9 : s * (1 + m / 8) * 2 ** (e - 7);
}
// float8_e5m2 is the top byte of a binary16.
function decodeE5M2(b: number): number {
  return f16BitsToF32(b << 8);
}
// float8_e8m0fnu: an unsigned power of two, 0xff is NaN.
function decodeE8M0(b: number): number {
  return b === 0xff ? NaN : 2 ** (b - 127);
}

function fp8Table(d: DType): Float32Array {
  if (d === 'F8_E4M3') return (e4m3Table ??= buildTable(decodeE4M3));
  if (d === 'F8_E5M2') return (e5m2Table ??= buildTable(decodeE5M2));
  return (e8m0Table ??= buildTable(decodeE8M0));
}

// ---- bulk conversion ----

/** From this many elements on, bf16 converts through the WebAssembly SIMD tiles (same bits, several
 * times faster); below it, or without SIMD, the scalar loops below. */
const SIMD_MIN_ELEMENTS = 4096;

function elementCount(bytes: Uint8Array, dtype: DType): number {
  const size = BITS[dtype] / 8;
  if (bytes.byteLength % size !== 0) {
    throw new MergeStudioError('dtype-byte-length', `${bytes.byteLength} bytes is not a whole number of ${dtype} elements (${size} bytes each)`, { dtype, bytes: bytes.byteLength });
  }
  return bytes.byteLength / size;
}

/** A view of `bytes` as elements of `size` bytes; copies only when the input is unaligned. */
function aligned(bytes: Uint8Array, size: number): ArrayBuffer {
  if (bytes.byteOffset % size === 0 && bytes.buffer instanceof ArrayBuffer) {
    return bytes.buffer;
  }
  return bytes.slice().buffer as ArrayBuffer;
}
function alignedOffset(bytes: Uint8Array, size: number): number {
  return bytes.byteOffset % size === 0 && bytes.buffer instanceof ArrayBuffer ? bytes.byteOffset : 0;
}

/** Decodes little-endian elements to float32. Integers convert to the nearest float32. */
export function decodeToF32(bytes: Uint8Array, dtype: DType, out?: Float32Array): Float32Array {
  if (!canDecodeToF32(dtype)) {
    throw new MergeStudioError('dtype-unsupported', `cannot decode ${dtype} to float32 (supported: ${ALL_DTYPES.filter(canDecodeToF32).join(', ')})`, { dtype });
  }
  const n = elementCount(bytes, dtype);
  if (out && out.length < n) {
    throw new MergeStudioError('dtype-output-too-small', `output holds ${out.length} values, ${n} needed for ${dtype}`, { dtype });
  }
  const dst = out ?? new Float32Array(n);
  const size = BITS[dtype] / 8;
  const buf = aligned(bytes, size);
  const off = alignedOffset(bytes, size);
  switch (dtype) {
    case 'F32':
      dst.set(new Float32Array(buf, off, n));
      break;
    case 'F64':
      dst.set(new Float64Array(buf, off, n)); // assignment rounds to nearest even
      break;
    case 'BF16':
      if (n >= SIMD_MIN_ELEMENTS && tileWorkspace().simd) convertTiles({ bytes, dtype: 'BF16' }, { values: dst }, n);
      else decodeBf16(buf, off, n, new Int32Array(dst.buffer, dst.byteOffset, n));
      break;
    case 'F16': {
      const src = new Uint16Array(buf, off, n);
      const bits = new Uint32Array(dst.buffer, dst.byteOffset, n);
      const table = f16ToF32BitsTable();
      for (let i = 0; i < n; i++) bits[i] = table[src[i]];
      break;
    }
    case 'F8_E4M3':
    case 'F8_E5M2':
    case 'F8_E8M0': {
      const table = fp8Table(dtype);
      for (let i = 0; i < n; i++) dst[i] = table[bytes[i]];
      break;
    }
    case 'BOOL':
      for (let i = 0; i < n; i++) dst[i] = bytes[i] === 0 ? 0 : 1;
      break;
    case 'U8':
      dst.set(bytes);
      break;
    case 'I8':
      dst.set(new Int8Array(buf, off, n));
      break;
    case 'U16':
      dst.set(new Uint16Array(buf, off, n));
      break;
    case 'I16':
      dst.set(new Int16Array(buf, off, n));
      break;
    case 'U32':
      dst.set(new Uint32Array(buf, off, n));
      break;
    case 'I32':
      dst.set(new Int32Array(buf, off, n));
      break;
    case 'U64': {
      const src = new BigUint64Array(buf, off, n);
      for (let i = 0; i < n; i++) dst[i] = Number(src[i]);
      break;
    }
    case 'I64': {
      const src = new BigInt64Array(buf, off, n);
      for (let i = 0; i < n; i++) dst[i] = Number(src[i]);
      break;
    }
  }
  return dst;
}

/** Encodes float32 values as little-endian F32, F16, BF16 or F64 (round to nearest even). With
 * `out` (at least the encoded size, 4-byte aligned) the bytes go there and a view of it is returned:
 * a streaming caller reuses one buffer instead of faulting in a fresh one per tensor. */
export function encodeFromF32(values: Float32Array, dtype: DType, out?: Uint8Array): Uint8Array {
  if (!canEncodeFromF32(dtype)) {
    throw new MergeStudioError('dtype-unsupported', `cannot encode float32 values as ${dtype} (supported: F32, F16, BF16, F64)`, { dtype });
  }
  const n = values.length;
  const byteLength = n * (BITS[dtype] / 8);
  if (out && (out.byteLength < byteLength || out.byteOffset % (dtype === 'F64' ? 8 : 4) !== 0 || !(out.buffer instanceof ArrayBuffer))) {
    throw new MergeStudioError('dtype-output-too-small', `output buffer of ${out.byteLength} bytes at offset ${out.byteOffset} cannot hold ${n} ${dtype} values (${byteLength} bytes, aligned to 4 bytes, 8 for F64)`, { dtype });
  }
  const dst = out ? out.subarray(0, byteLength) : new Uint8Array(byteLength);
  switch (dtype) {
    case 'F32':
      new Float32Array(dst.buffer, dst.byteOffset, n).set(values);
      break;
    case 'F64':
      new Float64Array(dst.buffer, dst.byteOffset, n).set(values);
      break;
    case 'BF16':
      if (n >= SIMD_MIN_ELEMENTS && tileWorkspace().simd) convertTiles({ values }, { bytes: dst, dtype: 'BF16' }, n);
      else encodeBf16(new Int32Array(values.buffer, values.byteOffset, n), dst.buffer as ArrayBuffer, dst.byteOffset);
      break;
    case 'F16': {
      const bits = new Uint32Array(values.buffer, values.byteOffset, n);
      const half = new Uint16Array(dst.buffer, dst.byteOffset, n);
      for (let i = 0; i < n; i++) half[i] = f32BitsToF16Bits(bits[i]);
      break;
    }
  }
  return dst;
}

// The bf16 loops work on int32 views (values above 2^31 read from a Uint32Array would be boxed
// doubles in V8) and, where the data allows, on two elements per 32-bit load or store.

/** bf16 -> f32 bits: each bf16 is the upper half of its float32. */
function decodeBf16(buf: ArrayBuffer, byteOffset: number, n: number, dst: Int32Array): void {
  if (byteOffset % 4 !== 0) {
    const src = new Uint16Array(buf, byteOffset, n);
    for (let i = 0; i < n; i++) dst[i] = src[i] << 16;
    return;
  }
  const pairs = n >>> 1;
  decodeBf16Pairs(new Int32Array(buf, byteOffset, pairs), dst);
  if (n & 1) dst[n - 1] = new Uint16Array(buf, byteOffset + 4 * pairs, 1)[0] << 16;
}

/** Alone in its function so V8's on-stack compile of the loop stays valid across calls. */
function decodeBf16Pairs(src: Int32Array, dst: Int32Array): void {
  for (let k = 0; k < src.length; k++) {
    const w = src[k];
    dst[2 * k] = w << 16;
    dst[2 * k + 1] = w & -65536;
  }
}

/** f32 bits rounded to nearest even bf16, result in the UPPER 16 bits (lower bits are junk). */
function roundToBf16High(u: number): number {
  // NaN: quiet it (bit 22), keep sign and top payload; no rounding carry may turn it into inf.
  if ((u & 0x7fffffff) > 0x7f800000) return u | 0x00400000;
  // Adding 0x7fff plus the lowest kept bit rounds to nearest, ties to even; carries move into the
  // exponent. `| 0` keeps the sum in int32 arithmetic (it wraps exactly like the u32 sum).
  return (u + 0x7fff + ((u >>> 16) & 1)) | 0;
}

function encodeBf16(bits: Int32Array, buf: ArrayBuffer, byteOffset: number): void {
  const n = bits.length;
  const pairs = n >>> 1;
  encodeBf16Pairs(bits, new Int32Array(buf, byteOffset, pairs));
  if (n & 1) new Uint16Array(buf, byteOffset + 4 * pairs, 1)[0] = roundToBf16High(bits[n - 1]) >>> 16;
}

function encodeBf16Pairs(bits: Int32Array, dst: Int32Array): void {
  for (let k = 0; k < dst.length; k++) {
    dst[k] = (roundToBf16High(bits[2 * k + 1]) & -65536) | (roundToBf16High(bits[2 * k]) >>> 16);
  }
}
