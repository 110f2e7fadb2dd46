// The blocked CPU matmul against the textbook triple loop, over every remainder case of its blocks;
// the 16-bit weight path against the same matmul over the decoded values; and the runtime keeping
// a bf16 model in its stored form.
import { describe, expect, it } from 'vitest';
import { encodeFromF32, decodeToF32 } from '../dtype.ts';
import { CpuCausalLM, matmulRows, matmulWeight } from './cpu.ts';
import { loadArchFixture, maxDiffToRows } from './fixtures/arch-fixtures.ts';
import { hostTensorToF32, type HostTensor } from './weights.ts';

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

describe('matmulWeight on bf16/f16 words', () => {
  it('equals matmulRows over the decoded float32 values, across decode blocks, odd sizes and unaligned words', () => {
    // 16384 / 129 -> blocks of 126 rows: 300 outputs take three blocks, the last one ragged.
    for (const [rows, inDim, outDim] of [[1, 129, 300], [5, 129, 300], [3, 7, 5], [4, 8, 9]]) {
      const x = Float32Array.from({ length: rows * inDim }, (_, i) => Math.sin(i * 0.37));
      const f = Float32Array.from({ length: outDim * inDim }, (_, i) => Math.cos(i * 0.11) * 0.5);
      const bias = Float32Array.from({ length: outDim }, (_, i) => 0.1 * i - 1);
      for (const dtype of ['BF16', 'F16'] as const) {
        const bytes = encodeFromF32(f, dtype);
        const aligned = new Uint16Array(bytes.buffer, bytes.byteOffset, f.length);
        // The same words at an odd word offset of their buffer (not 4-byte aligned).
        const shifted = new Uint16Array(f.length + 1);
        shifted.set(aligned, 1);
        const decoded = decodeToF32(bytes, dtype);
        const want = new Float32Array(rows * outDim);
        matmulRows(want, x, rows, inDim, decoded, outDim, bias);
        for (const data of [aligned, shifted.subarray(1)]) {
          const got = new Float32Array(rows * outDim).fill(NaN);
          matmulWeight(got, x, rows, inDim, { dtype, data, owned: false }, outDim, bias, new Float32Array(0));
          expect(Array.from(got)).toEqual(Array.from(want));
        }
      }
    }
  });
});

describe('CpuCausalLM keeps 16-bit weights as they are stored', () => {
  it('holds the bf16 fixture at 2 bytes a matrix value, matches PyTorch, and an update turns only that weight into float32', async () => {
    const f = await loadArchFixture('qwen3-qknorm-bf16');
    const model = new CpuCausalLM(f.config, f.weights);
    let bf16Bytes = 0, vectorValues = 0;
    for (const t of f.weights.values()) {
      expect(t.dtype).toBe('BF16');
      if (t.shape.length === 2) bf16Bytes += t.data.length * 2;
      else vectorValues += t.data.length;
    }
    // Matrices as stored; only the norm vectors are decoded to float32.
    expect(model.weightBytes).toBe(bf16Bytes + vectorValues * 4);
    expect(maxDiffToRows(await model.logits(f.ids), f.config.vocabSize, f.logits)).toBeLessThan(1e-4);
    const name = 'model.layers.0.mlp.up_proj.weight';
    const scaled = hostTensorToF32(f.weights.get(name)!).map((v) => v * 1.5);
    await model.updateWeights(new Map([[name, scaled]]));
    expect(model.weightBytes).toBe(bf16Bytes + vectorValues * 4 + scaled.length * 2);
    const fresh = new CpuCausalLM(f.config, new Map<string, HostTensor | Float32Array>([...f.weights, [name, scaled]]));
    expect(Array.from(await model.logits(f.ids))).toEqual(Array.from(await fresh.logits(f.ids)));
    expect(maxDiffToRows(await model.logits(f.ids), f.config.vocabSize, f.logits)).toBeGreaterThan(1e-3);
  });
});
