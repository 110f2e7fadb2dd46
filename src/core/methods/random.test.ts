// The counter-based RNG against an independent BigInt evaluation of the same formula (the WGSL
// twin's contract), published FNV-1a vectors, and the uniformity DARE relies on.
import { describe, expect, it } from 'vitest';
import { dellaKeepProbability, dellaKeepRule, draw24, keepThreshold24, maskStreamKey, mix32, tensorKey, uniform01 } from './random.ts';

const M32 = (1n << 32n) - 1n;
function mix32Reference(v: number): number {
  let x = BigInt(v >>> 0);
  x ^= x >> 16n;
  x = (x * 0x7feb352dn) & M32;
  x ^= x >> 15n;
  x = (x * 0x846ca68bn) & M32;
  x ^= x >> 16n;
  return Number(x);
}

describe('counter-based RNG', () => {
  it('mix32 matches a BigInt evaluation of the formula', () => {
    for (const x of [0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff, 123456789, 0xdeadbeef]) expect(mix32(x)).toBe(mix32Reference(x));
    let s = 1;
    for (let i = 0; i < 1000; i++) {
      s = mix32Reference(s + i);
      expect(mix32(s)).toBe(mix32Reference(s));
    }
  });

  it('tensorKey is FNV-1a 32 over UTF-8', () => {
    expect(tensorKey('')).toBe(0x811c9dc5);
    expect(tensorKey('a')).toBe(0xe40c292c);
    expect(tensorKey('foobar')).toBe(0xbf9cf968);
    // Multi-byte UTF-8: 'é' is 0xC3 0xA9.
    let h = 0x811c9dc5;
    for (const b of [0xc3, 0xa9]) h = Number((BigInt((h ^ b) >>> 0) * 0x01000193n) & M32);
    expect(tensorKey('é')).toBe(h);
  });

  it('composes seed, tensor, model and element as specified', () => {
    const key = maskStreamKey(42, 'model.layers.3.mlp.up_proj.weight', 2);
    const expected = mix32Reference(mix32Reference(mix32Reference(42) ^ tensorKey('model.layers.3.mlp.up_proj.weight')) ^ 2);
    expect(key).toBe(expected);
    for (const i of [0, 1, 1000, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1]) {
      expect(uniform01(key, i)).toBe(Number(BigInt(mix32Reference(Number((BigInt(key) ^ BigInt(i)) & M32))) >> 8n) / 2 ** 24);
    }
  });

  it('is uniform on [0, 1) and independent across models', () => {
    const n = 200_000;
    const a = maskStreamKey(0, 't', 0);
    const b = maskStreamKey(0, 't', 1);
    let sum = 0;
    let both = 0;
    for (let i = 0; i < n; i++) {
      const u = uniform01(a, i);
      expect(u >= 0 && u < 1).toBe(true);
      sum += u;
      if (u < 0.5 && uniform01(b, i) < 0.5) both++;
    }
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(4 * Math.sqrt(1 / 12 / n));
    expect(Math.abs(both / n - 0.25)).toBeLessThan(4 * Math.sqrt(0.25 * 0.75 / n));
  });

  it('della keep probability runs linearly from density-epsilon to density+epsilon', () => {
    const rule = dellaKeepRule(0.5, 0.15, 256);
    expect(dellaKeepProbability(rule, 0)).toBe(Math.fround(0.35));
    expect(Math.abs(dellaKeepProbability(rule, 255) - 0.65)).toBeLessThan(1e-6);
    expect(Math.abs(dellaKeepProbability(rule, 127.5) - 0.5)).toBeLessThan(1e-6);
  });
});

describe('integer keep threshold', () => {
  it('draw24 < keepThreshold24(p) exactly when uniform01 < p', () => {
    const key = maskStreamKey(7, 'w', 3);
    for (const p of [0, 1e-9, 0.1, 0.2, Math.fround(0.3), 0.5, 0.7, 0.9, 1 - 2 ** -25, 1]) {
      const threshold = keepThreshold24(p);
      for (let i = 0; i < 20000; i++) expect(draw24(key, i) < threshold).toBe(uniform01(key, i) < p);
      // Values right at the threshold, where rounding would bite.
      for (const d of [threshold - 1, threshold, threshold + 1]) expect(d < threshold).toBe(d / 2 ** 24 < p);
    }
  });
});
