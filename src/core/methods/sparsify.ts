/** Sparsifiers of the generalized task-arithmetic pipeline (mergekit's `sparsify.py` semantics).
 * Each masks a task vector IN PLACE (dropped entries become 0) and returns the scalar that the
 * optional L1 rescale multiplies the survivors by, so no second full-size pass is needed. */
import { MergeStudioError } from '../errors.ts';
import { descendingRankCut, f32Bits, type RankCut } from './select.ts';
import { dareKeepProbability, dellaKeepProbability, dellaKeepRule, draw24, keepThreshold24, uniform01 } from './random.ts';

export type Sparsification =
  | { kind: 'magnitude'; density: number }
  | { kind: 'magnitude_outliers'; density: number; gamma: number }
  | { kind: 'random'; density: number; streamKey: number }
  | { kind: 'della_magprune'; density: number; epsilon: number; streamKey: number };

/** mergekit skips rescaling when either L1 norm is below this. */
const RESCALE_EPS = 1e-7;

/** A sparsified task vector: `values` (dropped entries 0) times `scale` (the L1 rescale, else 1). */
export interface SparseTaskVector {
  values: Float32Array;
  scale: number;
}

/** Task vector `fround(model - base)`, sparsified by `rule`; `shape` is needed by della (ranks along
 * dim 1), `label` names the tensor and model in errors; `into` (optional, any contents) receives it. */
export function sparseTaskVector(model: Float32Array, base: Float32Array, shape: number[], rule: Sparsification, rescaleL1: boolean, label: string, into?: Float32Array): SparseTaskVector {
  const values = into ?? new Float32Array(model.length);
  // DARE needs no whole-tensor statistic before masking, so it runs in one fused pass.
  if (rule.kind === 'random') return randomDrop(values, model, base, rule.density, rule.streamKey, rescaleL1);
  taskVectorInto(values, model, base);
  return { values, scale: sparsifyInPlace(values, shape, rule, rescaleL1, label) };
}

/** A cut that keeps every element (threshold below every magnitude key). */
export const KEEP_ALL: RankCut = { threshold: -1, tiedInside: 0 };

/** TIES' magnitude sparsifier for a caller that applies the mask while mixing (no rescale): the
 * unmasked task vector in `into` and the cut keeping the int(density * n) largest |delta| (ties:
 * lowest index first), i.e. key > threshold, or the first `tiedInside` keys equal to it. */
export function magnitudeTaskVector(model: Float32Array, base: Float32Array, density: number, into: Float32Array): { values: Float32Array; cut: RankCut } {
  taskVectorInto(into, model, base);
  if (density >= 1) return { values: into, cut: KEEP_ALL };
  return { values: into, cut: descendingRankCut(f32Bits(into), Math.trunc(density * into.length), 0x7fffffff) };
}

/** `fround(model - base)` into `values`; its own function so V8's on-stack compile of the loop is
 * not thrown away by cold code after it (see dropAtRandom). */
function taskVectorInto(values: Float32Array, model: Float32Array, base: Float32Array): void {
  for (let i = 0; i < values.length; i++) values[i] = model[i] - base[i];
}

/** Masks a task vector in place; returns the factor for the survivors (1 unless L1 rescale applies).
 * DARE is not here: it runs fused with the task vector in `sparseTaskVector`. */
export function sparsifyInPlace(delta: Float32Array, shape: number[], rule: Exclude<Sparsification, { kind: 'random' }>, rescaleL1: boolean, label: string): number {
  if (rule.density >= 1) return 1;
  const before = rescaleL1 ? l1Norm(delta) : 0;
  switch (rule.kind) {
    case 'magnitude':
      // int(density * n) in double, like Python. k == 0 keeps nothing; mergekit asserts instead.
      keepRankBand(delta, 0, Math.trunc(rule.density * delta.length));
      break;
    case 'magnitude_outliers':
      magnitudeOutliers(delta, rule.density, rule.gamma);
      break;
    case 'della_magprune':
      dellaMagprune(delta, shape, rule.density, rule.epsilon, rule.streamKey, label);
      break;
  }
  if (!rescaleL1) return 1;
  return rescaleFactor(before, l1Norm(delta));
}

/** The L1 rescale factor of the survivors (1 when either norm is too small, as in mergekit). */
export function rescaleFactor(before: number, after: number): number {
  return before < RESCALE_EPS || after < RESCALE_EPS ? 1 : before / after;
}

/** Sum of |x| in f64, in index order; `from` continues a sum over earlier chunks. */
export function l1Norm(values: Float32Array, from = 0): number {
  let s = from;
  for (let i = 0; i < values.length; i++) s += Math.abs(values[i]);
  return s;
}

/** Zeroes every element outside the descending-|x| rank band [from, to) (ties: lowest index first). */
function keepRankBand(delta: Float32Array, from: number, to: number): void {
  const bits = f32Bits(delta);
  const outer = descendingRankCut(bits, to, 0x7fffffff);
  if (from <= 0) keepAboveCut(delta, bits, outer, 0);
  else keepBetweenCuts(delta, bits, outer, descendingRankCut(bits, from, 0x7fffffff), [0, 0]);
}

/** Zeroes, in one chunk of a tensor, the elements outside the rank band between `inner` (absent:
 * from rank 0) and `outer`; `tied` holds how many keys equal to each threshold (outer, inner)
 * came before this chunk, and is advanced past it. */
export function keepRankBandChunk(delta: Float32Array, outer: RankCut, inner: RankCut | undefined, tied: number[]): void {
  const bits = f32Bits(delta);
  if (!inner) tied[0] = keepAboveCut(delta, bits, outer, tied[0]);
  else keepBetweenCuts(delta, bits, outer, inner, tied);
}

// In both loops, keys equal to a threshold (rare) take the counting path and all others multiply
// by a 0/1 flag, avoiding a mispredicted branch per element on unordered data. Each loop is alone
// in its function so V8's on-stack compile of it is not deoptimized by cold code after it.

/** Keeps rank < cut: key above the threshold, or one of its first `tiedInside` equals (`tied` of
 * them came before `delta`); returns the equals counted so far. */
function keepAboveCut(delta: Float32Array, bits: Uint32Array, cut: RankCut, tiedBefore: number): number {
  const T = cut.threshold;
  const tiedInside = cut.tiedInside;
  let tied = tiedBefore;
  for (let i = 0; i < delta.length; i++) {
    const key = bits[i] & 0x7fffffff;
    if (key === T) {
      if (tied++ >= tiedInside) delta[i] = 0;
    } else delta[i] *= +(key > T);
  }
  return tied;
}

/** Keeps inner <= rank < outer; `ties` (equals of each threshold before `delta`) is advanced. */
function keepBetweenCuts(delta: Float32Array, bits: Uint32Array, outer: RankCut, inner: RankCut, ties: number[]): void {
  const T = outer.threshold;
  const I = inner.threshold;
  let tied = ties[0];
  let tiedInner = ties[1];
  for (let i = 0; i < delta.length; i++) {
    const key = bits[i] & 0x7fffffff;
    if (key === T || key === I) {
      const belowTo = key > T || (key === T && tied++ < outer.tiedInside);
      const belowFrom = key > I || (key === I && tiedInner++ < inner.tiedInside);
      if (!belowTo || belowFrom) delta[i] = 0;
    } else delta[i] *= +(key > T) * +(key < I);
  }
  ties[0] = tied;
  ties[1] = tiedInner;
}

/** Breadcrumbs: drops the `gamma` share of largest magnitudes and the smallest ones down to
 * `density`. mergekit keeps `sorted[n_bot:-n_top]`, which is EMPTY when n_top == 0 (gamma = 0 or
 * a tensor under 1/gamma elements) and zeroes the whole delta; here n_top == 0 removes no large
 * entries, the evident intent (see README.md, "Deviations"). */
function magnitudeOutliers(delta: Float32Array, density: number, gamma: number): void {
  const [from, to] = outlierBand(delta.length, density, gamma);
  keepRankBand(delta, from, to);
}

/** The descending-rank band [from, to) breadcrumbs keeps of `n` entries. */
export function outlierBand(n: number, density: number, gamma: number): [number, number] {
  const target = Math.trunc(density * n);
  let top = Math.trunc(gamma * n);
  let bottom = n - target - top;
  if (bottom < 0) {
    top += bottom;
    bottom = 0;
  }
  return [top, n - bottom];
}

/** DARE: keeps each entry with probability p from the counter-based stream; task vector, mask
 * and both L1 norms in one pass over the inputs. */
function randomDrop(values: Float32Array, model: Float32Array, base: Float32Array, density: number, streamKey: number, rescaleL1: boolean): SparseTaskVector {
  if (density >= 1) {
    taskVectorInto(values, model, base);
    return { values, scale: 1 };
  }
  dropAtRandom(values, model, base, keepThreshold24(dareKeepProbability(density)), streamKey, l1Sums);
  return { values, scale: rescaleL1 ? rescaleFactor(l1Sums[0], l1Sums[1]) : 1 };
}

/** L1 norms before/after of the last `dropAtRandom`, passed back through a typed array. */
const l1Sums = new Float64Array(2);

/** The DARE hot loop, alone in its function: V8 compiles it on-stack mid-loop, and any cold code
 * after the loop would deoptimize it on every call. */
function dropAtRandom(values: Float32Array, model: Float32Array, base: Float32Array, threshold: number, streamKey: number, sums: Float64Array): void {
  let before = 0;
  let after = 0;
  for (let i = 0; i < values.length; i++) {
    const delta = Math.fround(model[i] - base[i]);
    // Multiplying by the 0/1 keep flag avoids a data-dependent branch per element.
    const kept = delta * +(draw24(streamKey, i) < threshold);
    before += Math.abs(delta);
    after += Math.abs(kept);
    values[i] = kept;
  }
  sums[0] = before;
  sums[1] = after;
}

/** DELLA: keep probability rises linearly with the ascending rank of |x| along dim 1 (1-D
 * tensors are one row), from density-epsilon to density+epsilon. `delta` may be whole rows
 * (along dim 0) of a larger tensor starting at tensor index `first` (`shape` then its rows). */
export function dellaMagprune(delta: Float32Array, shape: number[], density: number, epsilon: number, streamKey: number, label: string, first = 0): void {
  if (density <= 0) {
    delta.fill(0);
    return;
  }
  if (density + epsilon >= 1 || density - epsilon <= 0) {
    throw new MergeStudioError('invalid-parameter', `${label}: della needs density ± epsilon inside (0, 1), found density ${density} and epsilon ${epsilon}`, { density, epsilon });
  }
  const rowLength = shape.length < 2 ? delta.length : shape[1];
  const inner = shape.length < 2 ? 1 : shape.slice(2).reduce((a, b) => a * b, 1);
  const outer = delta.length / (rowLength * inner);
  const rule = dellaKeepRule(density, epsilon, rowLength);
  const bits = f32Bits(delta);
  const sorter = new RowSorter(rowLength);
  for (let o = 0; o < outer; o++) {
    for (let r = 0; r < inner; r++) {
      const start = o * rowLength * inner + r;
      const columns = sorter.ascendingMagnitudeOrder(bits, start, inner);
      for (let rank = 0; rank < rowLength; rank++) {
        const index = start + columns[rank] * inner;
        if (!(uniform01(streamKey, first + index) < dellaKeepProbability(rule, rank))) delta[index] = 0;
      }
    }
  }
}

const RADIX_BITS = 11;
const RADIX = 1 << RADIX_BITS;

/** Orders the columns of one row by ascending |x| (ties: lower column first) with a stable LSD
 * radix sort of the 31-bit magnitude keys, three 11-bit passes; buffers are reused across rows. */
class RowSorter {
  private keys: Uint32Array;
  private columns: Uint32Array;
  private keysSpare: Uint32Array;
  private columnsSpare: Uint32Array;
  private readonly counts = new Uint32Array(RADIX);

  constructor(readonly length: number) {
    this.keys = new Uint32Array(length);
    this.columns = new Uint32Array(length);
    this.keysSpare = new Uint32Array(length);
    this.columnsSpare = new Uint32Array(length);
  }

  /** Columns in ascending magnitude order; valid until the next call. */
  ascendingMagnitudeOrder(bits: Uint32Array, start: number, stride: number): Uint32Array {
    const n = this.length;
    for (let j = 0; j < n; j++) {
      this.keys[j] = bits[start + j * stride] & 0x7fffffff;
      this.columns[j] = j;
    }
    for (let shift = 0; shift < 31; shift += RADIX_BITS) this.pass(shift);
    return this.columns;
  }

  private pass(shift: number): void {
    const { keys, columns, keysSpare, columnsSpare, counts, length: n } = this;
    counts.fill(0);
    for (let j = 0; j < n; j++) counts[(keys[j] >>> shift) & (RADIX - 1)]++;
    let total = 0;
    for (let d = 0; d < RADIX; d++) {
      const c = counts[d];
      counts[d] = total;
      total += c;
    }
    for (let j = 0; j < n; j++) {
      const slot = counts[(keys[j] >>> shift) & (RADIX - 1)]++;
      keysSpare[slot] = keys[j];
      columnsSpare[slot] = columns[j];
    }
    this.keys = keysSpare;
    this.columns = columnsSpare;
    this.keysSpare = keys;
    this.columnsSpare = columns;
  }
}
