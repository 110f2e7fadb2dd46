// The blocked CPU matmul against the textbook triple loop, over every remainder case of its blocks.
import { describe, expect, it } from 'vitest';
import { matmulRows } from './cpu.ts';

describe('matmulRows', () => {
  it('equals the triple loop (with and without bias) for row counts 1..9 and odd and even output counts', () => {
    for (const rows of [1, 2, 3, 4, 5, 8, 9]) {
      for (const [inDim, outDim] of [[7, 5], [16, 6], [3, 1]]) {
        const x = Float32Array.from({ length: rows * inDim }, (_, i) => Math.sin(i * 0.9 + rows));
        const w = Float32Array.from({ length: outDim * inDim }, (_, i) => Math.cos(i * 1.7));
        const bias = Float32Array.from({ length: outDim }, (_, i) => i - 2.5);
        for (const b of [null, bias]) {
          const got = new Float32Array(rows * outDim).fill(NaN);
          matmulRows(got, x, rows, inDim, w, outDim, b);
          for (let t = 0; t < rows; t++) {
            for (let o = 0; o < outDim; o++) {
              let want = b ? b[o] : 0;
              for (let i = 0; i < inDim; i++) want += x[t * inDim + i] * w[o * inDim + i];
              expect(got[t * outDim + o]).toBeCloseTo(want, 5);
            }
          }
        }
      }
    }
  });
});
