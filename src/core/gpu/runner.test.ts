import { describe, it, expect } from 'vitest';
import { dispatchGrid, elementChunks, packParams } from './runner.ts';
import { MergeStudioError } from '../errors.ts';

describe('dispatchGrid', () => {
  it('keeps small dispatches one-dimensional', () => {
    expect(dispatchGrid(1)).toEqual([1, 1, 1]);
    expect(dispatchGrid(65535)).toEqual([65535, 1, 1]);
  });
  it('folds counts over the per-dimension limit into y, covering every group with little waste', () => {
    for (const n of [65536, 100_000, 65535 * 3 + 1, 10_000_000]) {
      const [x, y] = dispatchGrid(n);
      expect(x).toBeLessThanOrEqual(65535);
      expect(y).toBeLessThanOrEqual(65535);
      expect(x * y).toBeGreaterThanOrEqual(n);
      expect(x * y - n).toBeLessThan(y);
    }
  });
  it('rejects a dispatch no grid can hold', () => {
    expect(() => dispatchGrid(65535 * 65535 + 1)).toThrow(MergeStudioError);
  });
});

describe('elementChunks', () => {
  it('covers every element exactly once, in order, within the budget', () => {
    const chunks = elementChunks(1_000_003, 0, 4, 4096);
    let next = 0;
    for (const c of chunks) {
      expect(c.start).toBe(next);
      expect(c.start % 2).toBe(0);
      expect(c.count * 4).toBeLessThanOrEqual(4096);
      next += c.count;
    }
    expect(next).toBe(1_000_003);
  });
  it('cuts on whole rows when a row fits, even with an odd row length', () => {
    const chunks = elementChunks(33 * 100, 33, 4 * 3, 4096); // three stacked models of 33-wide rows
    for (const c of chunks.slice(0, -1)) {
      expect(c.count % 33).toBe(0);
      expect(c.count % 2).toBe(0);
      expect(c.count * 12).toBeLessThanOrEqual(4096);
    }
    expect(chunks.reduce((s, c) => s + c.count, 0)).toBe(3300);
  });
  it('splits inside a row when one row exceeds the budget', () => {
    const chunks = elementChunks(5000, 5000, 4, 1024);
    expect(chunks.length).toBe(Math.ceil(5000 / 256));
  });
  it('refuses a budget too small for two elements', () => {
    expect(() => elementChunks(10, 0, 4, 7)).toThrow(/cannot hold two elements/);
  });
});

describe('packParams', () => {
  it('lays out u32/i32/f32 scalars little-endian in a 16-byte aligned block', () => {
    const buf = packParams([['u32', 0xfffffffe], ['i32', -3], ['f32', 0.5], ['u32', 7], ['f32', -2]]);
    expect(buf.byteLength).toBe(32);
    const v = new DataView(buf);
    expect(v.getUint32(0, true)).toBe(0xfffffffe);
    expect(v.getInt32(4, true)).toBe(-3);
    expect(v.getFloat32(8, true)).toBe(0.5);
    expect(v.getUint32(12, true)).toBe(7);
    expect(v.getFloat32(16, true)).toBe(-2);
  });
});
