/** Counter-based random masks for DARE and DELLA. Every draw is a pure function of
 * (seed, tensor name, model index, flat element index), so the CPU path and the WGSL kernels
 * produce the same mask whatever the chunking or dispatch order. The WGSL twin follows this file
 * bit for bit: change both or neither. */

/** The finalizer on int32 values; kept signed so hot loops stay in small integers (an unsigned
 * result above 2^31 would make V8 box numbers and run about 2x slower). */
function mix32Signed(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  return x ^ (x >>> 16);
}

/** 32-bit integer finalizer (xor-shift / multiply, "lowbias32" constants), as an unsigned value. */
export function mix32(x: number): number {
  return mix32Signed(x) >>> 0;
}

const utf8 = new TextEncoder();

/** FNV-1a 32-bit hash of the UTF-8 bytes of a tensor name. */
export function tensorKey(tensorName: string): number {
  let h = 0x811c9dc5;
  for (const byte of utf8.encode(tensorName)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The per-(seed, tensor, model) part of the hash; hoisted out of the per-element loop. */
export function maskStreamKey(seed: number, tensorName: string, modelIndex: number): number {
  return mix32(mix32(mix32(seed) ^ tensorKey(tensorName)) ^ modelIndex);
}

const TWO_POW_24 = 2 ** 24;

/** The 24-bit integer behind one element's uniform draw: uniform01 = draw24 * 2^-24. */
export function draw24(streamKey: number, elementIndex: number): number {
  return mix32Signed(streamKey ^ elementIndex) >>> 8;
}

/** Uniform draw in [0, 1) on a 2^-24 grid (exactly representable in f32) for one element. */
export function uniform01(streamKey: number, elementIndex: number): number {
  return draw24(streamKey, elementIndex) / TWO_POW_24;
}

/** `uniform01 < p` holds exactly when `draw24 < keepThreshold24(p)` (integer compare, no float). */
export function keepThreshold24(p: number): number {
  return Math.ceil(p * TWO_POW_24);
}

/** DARE's keep probability as the f32 value both backends compare against (`uniform01 < p`). */
export function dareKeepProbability(density: number): number {
  return Math.fround(density);
}

/** Constants of DELLA's per-row keep probability p(rank) = fround(low + fround(rank * step)),
 * rank = 0-based ascending rank of |delta| within the ranked row, in [0, rowLength-1].
 * `low` and `step` are rounded to f32 on the host so the WGSL twin (f32 multiply and add, both
 * correctly rounded) gets the same p. A row of length 1 has no rank spread: p = density. */
export interface DellaKeepRule {
  low: number;
  step: number;
}

export function dellaKeepRule(density: number, epsilon: number, rowLength: number): DellaKeepRule {
  if (rowLength <= 1) return { low: Math.fround(density), step: 0 };
  return { low: Math.fround(density - epsilon), step: Math.fround((2 * epsilon) / (rowLength - 1)) };
}

export function dellaKeepProbability(rule: DellaKeepRule, rank: number): number {
  return Math.fround(rule.low + Math.fround(rank * rule.step));
}
