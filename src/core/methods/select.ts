/** Exact rank cuts by radix select over 32-bit keys (two histogram passes, O(n), no sort).
 * Keys order the elements; ties at the cut go to the lowest index first, so a cut is one
 * threshold key plus how many elements equal to it (in index order) are inside. */

/** Elements ranked `< count` in descending key order are those with key > threshold, plus the
 * first `tiedInside` elements (by index) whose key equals threshold. */
export interface RankCut {
  threshold: number;
  tiedInside: number;
}

const HIGH_BINS = 1 << 16;

/** Cut at descending rank `count` over keys `(bits[i] & keyMask) >>> 0`.
 * keyMask 0x7fffffff over f32 bit patterns orders by magnitude; 0xffffffff takes keys as given. */
export function descendingRankCut(bits: Uint32Array, count: number, keyMask = 0xffffffff): RankCut {
  const n = bits.length;
  if (count <= 0 || count > n) return trivialCut(count, n)!;
  const high = new Uint32Array(HIGH_BINS);
  countHighBins(bits, keyMask, high);
  const { bin, above } = highBinOfRank(high, count);
  const low = new Uint32Array(HIGH_BINS);
  countLowBins(bits, keyMask, bin, low);
  return cutInLowBins(low, bin, above, count);
}

/** The cuts that need no histogram: nothing inside (count <= 0) or everything (count > n). */
export function trivialCut(count: number, n: number): RankCut | undefined {
  if (count <= 0) return { threshold: 0xffffffff, tiedInside: 0 };
  if (count > n) return { threshold: 0, tiedInside: n };
  return undefined;
}

/** Adds the high 16 key bits of `bits` to `high` (65536 bins); called chunk by chunk, the counts
 * are those of the whole tensor. */
export function countHighBins(bits: Uint32Array, keyMask: number, high: Uint32Array): void {
  for (let i = 0; i < bits.length; i++) high[((bits[i] & keyMask) >>> 16) & 0xffff]++;
}

/** Adds the low 16 key bits of the keys in high bin `bin` to `low` (65536 bins). */
export function countLowBins(bits: Uint32Array, keyMask: number, bin: number, low: Uint32Array): void {
  for (let i = 0; i < bits.length; i++) {
    const key = (bits[i] & keyMask) >>> 0;
    if (key >>> 16 === bin) low[key & 0xffff]++;
  }
}

/** The high bin holding descending rank `count`, and how many keys lie in bins above it. */
export function highBinOfRank(high: Uint32Array, count: number): { bin: number; above: number } {
  let above = 0;
  let bin = HIGH_BINS - 1;
  for (; bin > 0; bin--) {
    if (above + high[bin] >= count) break;
    above += high[bin];
  }
  return { bin, above };
}

/** The cut at descending rank `count`, from the low-bit counts of its high bin. */
export function cutInLowBins(low: Uint32Array, bin: number, above: number, count: number): RankCut {
  const wanted = count - above;
  let lowBin = HIGH_BINS - 1;
  let aboveInBin = 0;
  for (; lowBin > 0; lowBin--) {
    if (aboveInBin + low[lowBin] >= wanted) break;
    aboveInBin += low[lowBin];
  }
  const threshold = ((bin << 16) | lowBin) >>> 0;
  return { threshold, tiedInside: count - above - aboveInBin };
}

/** Bit patterns of an f32 array, shared memory (no copy). */
export function f32Bits(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

/** Keys whose unsigned order is the numeric order of the f32 values (NaN-free input), into
 * `into` when given. */
export function orderedF32Keys(values: Float32Array, into?: Uint32Array): Uint32Array {
  const bits = f32Bits(values);
  const keys = into ?? new Uint32Array(values.length);
  for (let i = 0; i < keys.length; i++) {
    const b = bits[i];
    keys[i] = (b & 0x80000000 ? ~b : b | 0x80000000) >>> 0;
  }
  return keys;
}

/** Value of the element at ascending rank `rank` (0-based) of an f32 array, ties irrelevant. */
export function valueAtAscendingRank(values: Float32Array, rank: number): number {
  const keys = orderedF32Keys(values);
  return valueOfOrderedKey(descendingRankCut(keys, values.length - rank).threshold);
}

/** The f32 value of an ordered key (orderedF32Keys' inverse). */
export function valueOfOrderedKey(key: number): number {
  const bits = (key & 0x80000000 ? key & 0x7fffffff : ~key) >>> 0;
  return new Float32Array(new Uint32Array([bits]).buffer)[0];
}
