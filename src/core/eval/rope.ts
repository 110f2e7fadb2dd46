// Rotary position embedding tables, computed the way transformers does (float32 inverse
// frequencies, Llama-3 frequency-dependent scaling), shared by the CPU and WebGPU backends.
import type { CausalLMConfig } from './config.ts';

/** Inverse frequency of each of the head_dim/2 rotation pairs. */
export function ropeInverseFrequencies(c: CausalLMConfig): Float32Array {
  const half = c.headDim / 2;
  const inv = new Float32Array(half);
  for (let j = 0; j < half; j++) inv[j] = 1 / Math.fround(Math.pow(c.ropeTheta, Math.fround((2 * j) / c.headDim)));
  const s = c.ropeScaling;
  if (s?.kind === 'linear') {
    for (let j = 0; j < half; j++) inv[j] = inv[j] / s.factor;
  } else if (s?.kind === 'llama3') {
    // Long wavelengths are slowed by `factor`, short ones kept, the band between interpolated.
    const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
    const highWavelen = s.originalMaxPositions / s.highFreqFactor;
    for (let j = 0; j < half; j++) {
      const f = inv[j];
      const wavelen = (2 * Math.PI) / f;
      if (wavelen > lowWavelen) inv[j] = f / s.factor;
      else if (wavelen >= highWavelen) {
        const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        inv[j] = (1 - smooth) * (f / s.factor) + smooth * f;
      }
    }
  }
  return inv;
}

/** cos and sin of position * inverse frequency, [positions, head_dim/2] each, float32 like PyTorch. */
export class RopeTables {
  cos = new Float32Array(0);
  sin = new Float32Array(0);
  private positions = 0;
  private readonly half: number;

  constructor(private readonly inverseFrequencies: Float32Array) {
    this.half = inverseFrequencies.length;
  }

  /** Makes sure positions [0, n) are tabulated. */
  ensure(n: number): void {
    if (n <= this.positions) return;
    const cap = Math.max(n, this.positions * 2, 64);
    const cos = new Float32Array(cap * this.half), sin = new Float32Array(cap * this.half);
    for (let p = 0; p < cap; p++) {
      for (let j = 0; j < this.half; j++) {
        const angle = Math.fround(p * this.inverseFrequencies[j]);
        cos[p * this.half + j] = Math.cos(angle);
        sin[p * this.half + j] = Math.sin(angle);
      }
    }
    this.cos = cos;
    this.sin = sin;
    this.positions = cap;
  }
}
