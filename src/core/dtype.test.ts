import { describe, expect, it } from 'vitest';
import {
  ALL_DTYPES, bf16BitsToF32, decodeToF32, dtypeBits, encodeFromF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, isFloatDType,
} from './dtype.ts';
import { MergeStudioError } from './errors.ts';

// Independent reference: the textbook value of a binary float with `e` exponent bits and `m`
// mantissa bits, computed in float64 with no bit tricks.
function refFloat(bits: number, eBits: number, mBits: number, opts: { infNan: 'ieee' | 'fn' } = { infNan: 'ieee' }): number {
  const sign = (bits >> (eBits + mBits)) & 1 ? -1 : 1;
  const e = (bits >> mBits) & ((1 << eBits) - 1);
  const m = bits & ((1 << mBits) - 1);
  const bias = (1 << (eBits - 1)) - 1;
  const eMax = (1 << eBits) - 1;
  if (opts.infNan === 'ieee' && e === eMax) return m === 0 ? sign * Infinity : NaN;
  if (opts.infNan === 'fn' && e === eMax && m === (1 << mBits) - 1) return NaN;
  if (e === 0) return sign * (m / 2 ** mBits) * 2 ** (1 - bias);
  return sign * (1 + m / 2 ** mBits) * 2 ** (e - bias);
}

const f32Bits = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0];
const isQuietNaN16 = (h: number, expBits: number, mantBits: number) =>
  ((h >> mantBits) & ((1 << expBits) - 1)) === (1 << expBits) - 1 && (h & (1 << (mantBits - 1))) !== 0;

describe('bf16 (exhaustive over all 65536 patterns)', () => {
  it('decodes every pattern to the textbook value and re-encodes it exactly; NaN becomes quiet NaN', () => {
    for (let h = 0; h < 65536; h++) {
      const v = bf16BitsToF32(h);
      const ref = refFloat(h, 8, 7);
      if (Number.isNaN(ref)) {
        expect(Number.isNaN(v)).toBe(true);
        const back = f32ToBf16Bits(v);
        expect(isQuietNaN16(back, 8, 7)).toBe(true);
        continue;
      }
      if (v !== ref || f32ToBf16Bits(v) !== h) throw new Error(`bf16 ${h.toString(16)}: decoded ${v}, expected ${ref}, re-encoded ${f32ToBf16Bits(v).toString(16)}`);
    }
  });

  it('bulk decode/encode agree with the scalar functions, NaN payload sign kept', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const values = decodeToF32(new Uint8Array(all.buffer), 'BF16');
    const back = new Uint16Array(encodeFromF32(values, 'BF16').buffer);
    for (let h = 0; h < 65536; h++) {
      const nan = (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;
      if (nan) {
        expect(back[h] & 0x8000).toBe(h & 0x8000);
        expect(isQuietNaN16(back[h], 8, 7)).toBe(true);
      } else if (back[h] !== h) throw new Error(`bulk bf16 ${h}`);
    }
  });

  it('rounds to nearest, ties to even', () => {
    // 1 + 2^-8 is exactly half-way between bf16 1.0 (0x3f80) and 1.0078125 (0x3f81): even wins.
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80);
    // 1.0078125 + 2^-8 is half-way between 0x3f81 and 0x3f82: even (0x3f82) wins.
    expect(f32ToBf16Bits(1 + 2 ** -7 + 2 ** -8)).toBe(0x3f82);
    // A hair above half-way rounds up, a hair below rounds down.
    expect(f32ToBf16Bits(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81);
    expect(f32ToBf16Bits(1 + 2 ** -8 - 2 ** -20)).toBe(0x3f80);
    // The largest float32 rounds up to infinity; subnormals keep their top bits.
    expect(f32ToBf16Bits(3.4028234663852886e38)).toBe(0x7f80);
    expect(f32ToBf16Bits(-(2 ** -130))).toBe(0x8000 | (f32Bits(2 ** -130) >>> 16));
    expect(f32ToBf16Bits(-0)).toBe(0x8000);
  });
});

describe('bf16 bulk rounding (two elements per 32-bit word, odd tails, reused buffers)', () => {
  // Independent reference in float64: the bf16 grid has 8 significant bits; pick the nearer
  // neighbour, the even mantissa on an exact tie (no bit tricks on the f32 pattern).
  function refBf16(x: number): number {
    if (Number.isNaN(x)) return NaN;
    if (x === 0 || !Number.isFinite(x)) return x;
    const e = Math.max(Math.floor(Math.log2(Math.abs(x))), -126);
    const ulp = 2 ** (e - 7);
    const down = Math.floor(x / ulp) * ulp;
    const up = down + ulp;
    const pick = x - down < up - x ? down : x - down > up - x ? up : (down / ulp) % 2 === 0 ? down : up;
    return Math.abs(pick) >= 2 ** 128 ? Math.sign(x) * Infinity : pick;
  }

  it('matches the float64 reference on random f32 patterns of every class, at odd lengths and both alignments', () => {
    let s = 12345;
    const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
    const reused = new Uint8Array(2 * 1001);
    for (const n of [1, 2, 3, 1000, 1001]) {
      const bits = new Uint32Array(n).map(() => next());
      bits[0] = 0x3f808000; // an exact tie (1 + 2^-8) -> even
      const values = new Float32Array(bits.buffer);
      const encoded = encodeFromF32(values, 'BF16', reused);
      expect(encoded.buffer).toBe(reused.buffer);
      expect(Array.from(encoded)).toEqual(Array.from(encodeFromF32(values, 'BF16')));
      // Decoding the packed words (aligned) and the same bytes two bytes off (unaligned path).
      const shifted = new Uint8Array(encoded.byteLength + 2);
      shifted.set(encoded, 2);
      const decoded = decodeToF32(encoded, 'BF16');
      const decodedShifted = decodeToF32(shifted.subarray(2), 'BF16', new Float32Array(n + 3));
      for (let i = 0; i < n; i++) {
        const want = refBf16(values[i]);
        const half = new Uint16Array(encoded.buffer, encoded.byteOffset, n)[i];
        if (Number.isNaN(want)) {
          expect(isQuietNaN16(half, 8, 7) && (half & 0x8000) === (bits[i] >>> 31) << 15).toBe(true);
          continue;
        }
        if (!Object.is(decoded[i], want) || !Object.is(decodedShifted[i], want)) {
          throw new Error(`bf16 of ${bits[i].toString(16)} (${values[i]}): got ${decoded[i]} / ${decodedShifted[i]}, expected ${want}`);
        }
      }
    }
  });

  it('refuses an output buffer that is too small or misaligned', () => {
    const values = new Float32Array(4);
    expect(() => encodeFromF32(values, 'BF16', new Uint8Array(6))).toThrow(MergeStudioError);
    expect(() => encodeFromF32(values, 'F32', new Uint8Array(20).subarray(2))).toThrow(/4 F32 values/);
  });
});

describe('f16 (exhaustive over all 65536 patterns)', () => {
  it('decodes every pattern to the textbook value and re-encodes it exactly', () => {
    const bulk = decodeToF32(new Uint8Array(new Uint16Array(65536).map((_, i) => i).buffer), 'F16');
    const back = new Uint16Array(encodeFromF32(bulk, 'F16').buffer);
    for (let h = 0; h < 65536; h++) {
      const v = f16BitsToF32(h);
      const ref = refFloat(h, 5, 10);
      if (Number.isNaN(ref)) {
        expect(Number.isNaN(v) && Number.isNaN(bulk[h])).toBe(true);
        expect(isQuietNaN16(f32ToF16Bits(v), 5, 10)).toBe(true);
        expect(isQuietNaN16(back[h], 5, 10) && (back[h] & 0x8000) === (h & 0x8000)).toBe(true);
        continue;
      }
      if (v !== ref || bulk[h] !== ref || f32ToF16Bits(v) !== h || back[h] !== h) throw new Error(`f16 ${h.toString(16)}: decoded ${v}, expected ${ref}`);
    }
  });

  it('rounds to nearest, ties to even, including into subnormals and infinity', () => {
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie -> even 1.0
    expect(f32ToF16Bits(1 + 2 ** -10 + 2 ** -11)).toBe(0x3c02); // tie -> even
    expect(f32ToF16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65519.99)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // tie between 65504 (odd) and 2^16 -> infinity
    expect(f32ToF16Bits(-Infinity)).toBe(0xfc00);
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000); // tie between 0 and the smallest subnormal -> 0
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 ulps -> 2
    expect(f32ToF16Bits(2 ** -25 + 2 ** -40)).toBe(0x0001);
    expect(f32ToF16Bits(2 ** -14 - 2 ** -25)).toBe(0x0400); // rounds up into the smallest normal
    expect(f32ToF16Bits(1e-10)).toBe(0);
  });
});

describe('8-bit floats against the textbook formula', () => {
  it('F8_E4M3 (fn: no infinity, 0x7f is NaN, max 448)', () => {
    const all = decodeToF32(new Uint8Array(256).map((_, i) => i), 'F8_E4M3');
    for (let b = 0; b < 256; b++) {
      const ref = refFloat(b, 4, 3, { infNan: 'fn' });
      if (Number.isNaN(ref)) expect(all[b]).toBeNaN();
      else expect(all[b]).toBe(ref);
    }
    expect(all[0x7e]).toBe(448);
    expect(all[0x7f]).toBeNaN();
    expect(all[0xff]).toBeNaN();
    expect(all[0x01]).toBe(2 ** -9);
    expect(all[0x78]).toBe(256); // exponent 15 is finite in the fn variant
  });

  it('F8_E5M2 (IEEE-like, has infinity)', () => {
    const all = decodeToF32(new Uint8Array(256).map((_, i) => i), 'F8_E5M2');
    for (let b = 0; b < 256; b++) {
      const ref = refFloat(b, 5, 2);
      if (Number.isNaN(ref)) expect(all[b]).toBeNaN();
      else expect(all[b]).toBe(ref);
    }
    expect(all[0x7c]).toBe(Infinity);
    expect(all[0xfc]).toBe(-Infinity);
    expect(all[0x7b]).toBe(57344);
  });

  it('F8_E8M0 is a power of two, 0xff NaN', () => {
    const all = decodeToF32(new Uint8Array([0, 127, 128, 254, 255]), 'F8_E8M0');
    expect(Array.from(all.slice(0, 4))).toEqual([2 ** -127, 1, 2, 2 ** 127]);
    expect(all[4]).toBeNaN();
  });
});

describe('bulk conversion', () => {
  it('decodes from unaligned byte offsets', () => {
    const values = new Float32Array([1.5, -2.25, 3e-8]);
    for (const dtype of ['F32', 'F16', 'BF16', 'F64'] as const) {
      const enc = encodeFromF32(values, dtype);
      const shifted = new Uint8Array(enc.byteLength + 1);
      shifted.set(enc, 1);
      const dec = decodeToF32(shifted.subarray(1), dtype);
      expect(Array.from(dec)).toEqual(Array.from(decodeToF32(enc, dtype)));
    }
  });

  it('decodes integers and booleans', () => {
    const i64 = new BigInt64Array([-3n, 1n << 40n]);
    expect(Array.from(decodeToF32(new Uint8Array(i64.buffer), 'I64'))).toEqual([-3, 2 ** 40]);
    expect(Array.from(decodeToF32(new Uint8Array([0, 1, 7]), 'BOOL'))).toEqual([0, 1, 1]);
    expect(Array.from(decodeToF32(new Uint8Array([0xff, 0x7f]), 'I8'))).toEqual([-1, 127]);
    expect(Array.from(decodeToF32(new Uint8Array(new Int16Array([-300]).buffer), 'I16'))).toEqual([-300]);
  });

  it('F64 decode rounds to the nearest float32', () => {
    const x = 1 + 2 ** -24; // exactly half-way between two float32s -> even (1.0)
    expect(decodeToF32(new Uint8Array(new Float64Array([x, 1 + 3 * 2 ** -24]).buffer), 'F64')[0]).toBe(1);
    expect(decodeToF32(new Uint8Array(new Float64Array([1 + 3 * 2 ** -24]).buffer), 'F64')[0]).toBe(1 + 2 ** -22);
  });

  it('refuses what it cannot convert with a typed error', () => {
    expect(() => decodeToF32(new Uint8Array(3), 'F16')).toThrow(MergeStudioError);
    expect(() => decodeToF32(new Uint8Array(4), 'F4')).toThrow(/F4/);
    expect(() => encodeFromF32(new Float32Array(2), 'I32')).toThrow(MergeStudioError);
  });

  it('knows the bit size of every safetensors dtype', () => {
    expect(ALL_DTYPES.length).toBe(20);
    expect(ALL_DTYPES.map((d) => `${d}:${dtypeBits(d)}`)).toContain('F6_E2M3:6');
    expect(dtypeBits('F4')).toBe(4);
    expect(isFloatDType('BF16') && !isFloatDType('I8') && !isFloatDType('C64')).toBe(true);
  });
});
