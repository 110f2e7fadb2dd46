/** Shared part of ram and ramplus_tl: which models contribute (|tau| > epsilon) to each entry. */

export interface ContributionMap {
  /** Task vectors tau_i = m_i - base (f32), with non-contributing entries set to 0. */
  vectors: Float32Array[];
  /** Number of contributing models per entry. */
  contributors: Uint8Array;
}

export function contributions(models: Float32Array[], base: Float32Array, epsilon: number): ContributionMap {
  const n = base.length;
  const contributors = new Uint8Array(n);
  const vectors = models.map((m) => {
    const tau = new Float32Array(n);
    for (let j = 0; j < n; j++) {
      const d = Math.fround(m[j] - base[j]);
      if (Math.abs(d) > epsilon) {
        tau[j] = d;
        contributors[j]++;
      }
    }
    return tau;
  });
  return { vectors, contributors };
}

/** base + sum_i tau_i * (entry unique to model i ? uniqueScale[i] : 1 / contributors). */
export function mixContributions(out: Float32Array, base: Float32Array, map: ContributionMap, uniqueScale: number[]): Float32Array {
  const { vectors, contributors } = map;
  for (let j = 0; j < out.length; j++) {
    const c = contributors[j];
    let sum = 0;
    for (let i = 0; i < vectors.length; i++) {
      const tau = vectors[i][j];
      if (tau !== 0) sum += c === 1 ? tau * uniqueScale[i] : tau / c;
    }
    out[j] = base[j] + sum;
  }
  return out;
}
