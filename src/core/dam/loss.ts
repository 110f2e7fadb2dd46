// The distillation target: each expert's logits on its own sequences, computed once and cached as
// the top-K (indices, values) per position or the full vocabulary, and the tempered KL between
// that and the merged model's logits, with its gradient.
import { MergeStudioError } from '../errors.ts';
import type { Real } from './network.ts';

export interface TeacherTargets {
  tokens: Int32Array;
  /** Entries kept per position (the vocabulary size when all are kept). */
  k: number;
  /** [positions, k] vocabulary ids of the kept logits; null when the whole vocabulary is kept. */
  indices: Int32Array | null;
  /** [positions, k] logits. */
  logits: Float32Array;
}

/** Keeps each row's `topK` largest logits (all of them when topK is 0 or at least the vocabulary). */
export function teacherTargets(tokens: Int32Array, logits: Float32Array, vocab: number, topK = 0): TeacherTargets {
  const T = tokens.length;
  if (logits.length !== T * vocab) throw new MergeStudioError('dam-teacher-shape', `DAM: expert logits have ${logits.length} values, expected ${T} positions x ${vocab} vocabulary`, { found: logits.length });
  if (topK <= 0 || topK >= vocab) return { tokens, k: vocab, indices: null, logits: logits.slice() };
  const indices = new Int32Array(T * topK), kept = new Float32Array(T * topK);
  const order = Array.from({ length: vocab }, (_, i) => i);
  for (let t = 0; t < T; t++) {
    const row = t * vocab;
    order.sort((a, b) => logits[row + b] - logits[row + a] || a - b);
    for (let j = 0; j < topK; j++) {
      indices[t * topK + j] = order[j];
      kept[t * topK + j] = logits[row + order[j]];
    }
  }
  return { tokens, k: topK, indices, logits: kept };
}

/** Sum over positions of T^2 * KL(softmax(teacher / T) || softmax(merged / T)), the teacher
 * renormalised over its kept entries. Overwrites `logits` [positions, vocab] with `scale` times
 * the gradient of that sum, and returns the (unscaled) sum. */
export function distillationLoss(logits: Real, vocab: number, target: TeacherTargets, temperature: number, scale: number): number {
  const T = target.tokens.length, K = target.k;
  const p = new Float64Array(K);
  let total = 0;
  for (let t = 0; t < T; t++) {
    const row = t * vocab;
    // Teacher probabilities over the kept entries.
    let pMax = -Infinity;
    for (let j = 0; j < K; j++) pMax = Math.max(pMax, target.logits[t * K + j] / temperature);
    let pSum = 0;
    for (let j = 0; j < K; j++) pSum += (p[j] = Math.exp(target.logits[t * K + j] / temperature - pMax));
    const logPSum = Math.log(pSum);
    // Merged log-softmax at temperature T.
    let qMax = -Infinity;
    for (let v = 0; v < vocab; v++) qMax = Math.max(qMax, logits[row + v] / temperature);
    let qSum = 0;
    for (let v = 0; v < vocab; v++) qSum += Math.exp(logits[row + v] / temperature - qMax);
    const logQSum = Math.log(qSum);
    let kl = 0;
    for (let j = 0; j < K; j++) {
      const pj = p[j] / pSum;
      if (pj === 0) continue;
      const v = target.indices ? target.indices[t * K + j] : j;
      const logP = target.logits[t * K + j] / temperature - pMax - logPSum;
      const logQ = logits[row + v] / temperature - qMax - logQSum;
      kl += pj * (logP - logQ);
    }
    total += temperature * temperature * kl;
    // d(T^2 KL)/dz_v = T * (q_v - p_v).
    for (let v = 0; v < vocab; v++) logits[row + v] = scale * temperature * Math.exp(logits[row + v] / temperature - qMax - logQSum);
    for (let j = 0; j < K; j++) {
      const v = target.indices ? target.indices[t * K + j] : j;
      logits[row + v] -= scale * temperature * (p[j] / pSum);
    }
  }
  return total;
}
