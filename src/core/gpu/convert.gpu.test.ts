import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { requireGpu } from './device.ts';
import { KernelRunner } from './runner.ts';
import { decode16OnGpu, encode16OnGpu, type PackedDType } from './convert.ts';
import { decodeToF32, encodeFromF32 } from '../dtype.ts';

let runner: KernelRunner;
beforeAll(async () => {
  runner = new KernelRunner(await requireGpu());
});
afterAll(() => runner?.dispose());

/** Deterministic bit patterns (xorshift32), so a failure reproduces. */
function randomWords(n: number, seed: number): Uint32Array {
  const out = new Uint32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = s;
  }
  return out;
}

/** f32 bit patterns at every rounding edge of both 16-bit formats. */
function edgeCaseBits(): Uint32Array {
  const bits: number[] = [
    0x00000000, 0x80000000, // ±0
    0x7f800000, 0xff800000, // ±Inf
    0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fbfffff, 0x7fffffff, 0xffffffff, // NaNs (quiet, signalling, payloads)
    0x00000001, 0x807fffff, 0x00400000, // f32 subnormals
    0x7f7fffff, 0xff7fffff, 0x7f7f7fff, 0x7f7f8000, // near f32 max (bf16 rounding to Inf)
    0x3f808000, 0x3f818000, 0x3f807fff, 0x3f808001, // bf16 ties to even / just below / just above
    0x3f801000, 0x3f803000, 0x3f800fff, 0x3f801001, // f16 ties to even / just below / just above
    0x477fe000, 0x477fefff, 0x477ff000, 0x47800000, 0xc77ff000, // f16 max 65504, just below 65520, 65520 -> Inf
    0x38800000, 0x387fffff, 0x38000000, 0x33800000, 0x33000000, 0x33000001, 0x32ffffff, 0x33c00000, // f16 subnormal edges (2^-14, 2^-24, 2^-25 ties)
    0x387fe000, 0x387ff000, // rounds up into the smallest normal half
    0x3f800000, 0xbf800000, 0x40490fdb, 0x3dcccccd,
  ];
  return Uint32Array.from(bits);
}

/** Compares two arrays word by word and names the first differing element (fast on 10^5+ items). */
function expectSameBits(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let first = -1;
  for (let i = 0; i < expected.length; i++) if (actual[i] !== expected[i]) { first = i; break; }
  const detail = first < 0 ? '' : ` at ${first}: got 0x${actual[first].toString(16)}, CPU 0x${expected[first].toString(16)}`;
  expect(first, `${what}: first mismatch${detail}`).toBe(-1);
}

function u16Bytes(words: Uint16Array): Uint8Array {
  return new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
}

describe.each<PackedDType>(['BF16', 'F16'])('%s on the GPU', (dtype) => {
  it('unpacks all 65536 bit patterns exactly as the CPU decoder (NaN payloads included)', async () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const gpu = await decode16OnGpu(runner, u16Bytes(all), dtype);
    const cpu = decodeToF32(u16Bytes(all), dtype);
    expectSameBits(new Uint32Array(gpu.buffer), new Uint32Array(cpu.buffer), 'all patterns');
  });

  it('unpacks an odd element count (last word half used)', async () => {
    const odd = Uint16Array.from(randomWords(1001, 7), (w) => w & 0xffff);
    const gpu = await decode16OnGpu(runner, u16Bytes(odd), dtype);
    expect(gpu.length).toBe(1001);
    expectSameBits(new Uint32Array(gpu.buffer), new Uint32Array(decodeToF32(u16Bytes(odd), dtype).buffer), 'odd count');
  });

  it('packs edge cases (±0, subnormals, Inf, NaN, ties, overflow) bit-identically to the CPU encoder', async () => {
    const edges = edgeCaseBits();
    const values = new Float32Array(edges.buffer);
    const gpu = await encode16OnGpu(runner, values, dtype);
    const cpu = encodeFromF32(values, dtype);
    const gw = new Uint16Array(gpu.buffer), cw = new Uint16Array(cpu.buffer);
    for (let i = 0; i < edges.length; i++) {
      expect(gw[i], `f32 bits 0x${edges[i].toString(16)}`).toBe(cw[i]);
    }
  });

  it('packs 300001 random f32 bit patterns (odd count) bit-identically to the CPU encoder', async () => {
    const values = new Float32Array(randomWords(300_001, dtype === 'BF16' ? 11 : 12).buffer);
    const gpu = await encode16OnGpu(runner, values, dtype);
    expect(gpu.length).toBe(600_002);
    expectSameBits(gpu, encodeFromF32(values, dtype), 'random patterns');
  });

  it('packs values in the 16-bit range, where rounding matters most, like the CPU', async () => {
    // Random f32 near representable halves: exponent window of each format, random low bits.
    const words = randomWords(200_000, 99).map((w) => (w & 0x8fffffff) | (dtype === 'F16' ? 0x30000000 : 0x38000000));
    const values = new Float32Array(words.buffer);
    expectSameBits(await encode16OnGpu(runner, values, dtype), encodeFromF32(values, dtype), '16-bit range');
  });

  it('round-trips through several binding-sized chunks when the budget is tiny', async () => {
    const small = new KernelRunner({ ...runner.gpu, capabilities: { ...runner.gpu.capabilities, bindingBudget: 4096 } });
    const values = new Float32Array(randomWords(10_001, 5).buffer);
    const packed = await encode16OnGpu(small, values, dtype);
    expectSameBits(packed, encodeFromF32(values, dtype), 'chunked pack');
    const back = await decode16OnGpu(small, packed, dtype);
    expectSameBits(new Uint32Array(back.buffer), new Uint32Array(decodeToF32(packed, dtype).buffer), 'chunked unpack');
    small.dispose();
  });
});
