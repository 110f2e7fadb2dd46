// Cross-check of the float conversions against numpy (float16) and ml_dtypes (bfloat16, float8),
// on every float32 class: random bit patterns, ties, subnormals, overflow. Runs where a Python with
// numpy and ml_dtypes is available (REFERENCE_PYTHON, or `python3`); skipped otherwise.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { decodeToF32, encodeFromF32 } from './dtype.ts';

const python = process.env.REFERENCE_PYTHON ?? 'python3';
const hasReference = spawnSync(python, ['-c', 'import numpy, ml_dtypes'], { stdio: 'ignore' }).status === 0;

// stdin: raw float32 bits; stdout: bf16 bits, f16 bits, then float32 decodes of all 256 e4m3fn and e5m2 bytes.
const CONVERT = `
import sys, numpy as np, ml_dtypes
x = np.frombuffer(sys.stdin.buffer.read(), dtype=np.float32)
with np.errstate(all="ignore"):
    out = [x.astype(ml_dtypes.bfloat16).tobytes(), x.astype(np.float16).tobytes()]
    b = np.arange(256, dtype=np.uint8)
    out += [b.view(ml_dtypes.float8_e4m3fn).astype(np.float32).tobytes(), b.view(ml_dtypes.float8_e5m2).astype(np.float32).tobytes()]
sys.stdout.buffer.write(b"".join(out))
`;

/** Random float32 bit patterns plus values built to sit exactly on rounding ties. */
function samples(): Float32Array {
  const n = 1 << 20;
  const bits = new Uint32Array(n + 4 * 4096);
  let s = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    bits[i] = s >>> 0;
  }
  for (let k = 0; k < 4096; k++) {
    const hi = (Math.floor(k * 1048573) % 0xffff) << 16;
    bits[n + 4 * k] = hi | 0x8000; // bf16 tie
    bits[n + 4 * k + 1] = (hi & 0x8fffffff) | 0x1000; // f16 tie on an ordinary exponent
    bits[n + 4 * k + 2] = 0x33000000 + k * 0x1000; // around the f16 subnormal range
    bits[n + 4 * k + 3] = 0x477fe000 + k * 0x80; // around the f16 overflow threshold
  }
  return new Float32Array(bits.buffer);
}

describe.skipIf(!hasReference)('float conversions agree with numpy / ml_dtypes', () => {
  it('bf16 and f16 encodes of 1M+ float32 patterns match bit for bit (NaN: both NaN, same sign); f8 decodes match', () => {
    const x = samples();
    const r = spawnSync(python, ['-c', CONVERT], { input: new Uint8Array(x.buffer), maxBuffer: 64 << 20 });
    expect(r.status, String(r.stderr)).toBe(0);
    const out = new Uint8Array(r.stdout.buffer, r.stdout.byteOffset, r.stdout.byteLength).slice();
    const n = x.length;
    const refBf16 = new Uint16Array(out.buffer, 0, n);
    const refF16 = new Uint16Array(out.buffer, 2 * n, n);
    const refE4m3 = new Float32Array(out.buffer, 4 * n, 256);
    const refE5m2 = new Float32Array(out.buffer, 4 * n + 1024, 256);
    const bf16 = new Uint16Array(encodeFromF32(x, 'BF16').buffer);
    const f16 = new Uint16Array(encodeFromF32(x, 'F16').buffer);
    const mismatches: string[] = [];
    const bits = new Uint32Array(x.buffer);
    for (let i = 0; i < n && mismatches.length < 10; i++) {
      if (Number.isNaN(x[i])) {
        const nan16 = (h: number, exp: number) => (h & exp) === exp && (h & ~exp & 0x7fff) !== 0;
        if (!nan16(bf16[i], 0x7f80) || (bf16[i] ^ refBf16[i]) & 0x8000) mismatches.push(`bf16 NaN ${bits[i].toString(16)}`);
        if (!nan16(f16[i], 0x7c00) || (f16[i] ^ refF16[i]) & 0x8000) mismatches.push(`f16 NaN ${bits[i].toString(16)}`);
        continue;
      }
      if (bf16[i] !== refBf16[i]) mismatches.push(`bf16 of ${bits[i].toString(16)}: ours ${bf16[i].toString(16)}, ml_dtypes ${refBf16[i].toString(16)}`);
      if (f16[i] !== refF16[i]) mismatches.push(`f16 of ${bits[i].toString(16)}: ours ${f16[i].toString(16)}, numpy ${refF16[i].toString(16)}`);
    }
    expect(mismatches).toEqual([]);
    const all = new Uint8Array(256).map((_, i) => i);
    expect(Array.from(decodeToF32(all, 'F8_E4M3'))).toEqual(Array.from(refE4m3));
    expect(Array.from(decodeToF32(all, 'F8_E5M2'))).toEqual(Array.from(refE5m2));
  });
});
