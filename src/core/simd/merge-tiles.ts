/** Merge loops of the CPU path over float32 tiles (see tiles.ts): weighted sums (linear, task
 * arithmetic), the task-arithmetic family's mix with TIES sign election, DARE's random drop and
 * its L1 norms, and the norms/dot of SLERP. Every loop runs the same kernels whether they are
 * WebAssembly SIMD or the JS twins, so the CPU reference is one piece of float32 arithmetic. */
import { padded, SUMS_ADDRESS, TILE, tileWorkspace, type TileSource, type TileWorkspace } from './tiles.ts';

/** Where a tile loop writes: float32 values, or F32 / BF16 bytes. */
export type TileSink = { values: Float32Array } | { bytes: Uint8Array; dtype: 'F32' | 'BF16' };

/** How a task vector is formed in the tile from its source before mixing. */
export type VectorPrep =
  /** The source is already the (sparsified) task vector. */
  | { kind: 'ready' }
  /** source - base. */
  | { kind: 'delta' }
  /** The source is the unmasked task vector; TIES' magnitude cut keeps |x| keys above
   * `threshold`, and the first `tiedInside` keys equal to it (index order). */
  | { kind: 'cut'; threshold: number; tiedInside: number }
  /** source - base, then DARE's drop: kept where draw24(streamKey, index) < threshold; `keep`, when
   * given, holds those flags already (bit j of byte s for element 8s+j, from dareL1Norms). */
  | { kind: 'dare'; streamKey: number; threshold: number; keep?: Uint8Array };

export interface TaskVectorInput {
  source: TileSource;
  prep: VectorPrep;
  /** Multiplies the vector in the mix (weight x rescale factor x, without consensus, lambda/divisor). */
  coefficient: number;
  /** Counts in the divisor of the elected mean when the entry agrees. */
  weight: number;
}

export interface MixOptions {
  /** TIES sign election: only entries agreeing with the elected sign mix. */
  signConsensus: boolean;
  /** With sign consensus: divide by the sum of the agreeing weights (zero counts as one). */
  normalize: boolean;
  /** With sign consensus: scale of the mixed vector before it is added to the base. */
  lambda: number;
}

/** Threshold as the kernels take it: an i32 at most 0x7fffffff ("keep nothing" is 0x7fffffff with no ties). */
function kernelThreshold(threshold: number, tiedInside: number): [number, number] {
  return threshold > 0x7fffffff ? [0x7fffffff, 0] : [threshold, tiedInside];
}

/** sum_i c_i * x_i in slot `acc` from vectors already in `slots` (first term scaled, then added in order). */
function weightedSumOfSlots(w: TileWorkspace, acc: number, slots: number[], coefficients: number[], n: number): void {
  const k = w.kernels;
  if (slots.length === 3) {
    k.sum3(w.slot(acc), w.slot(slots[0]), w.slot(slots[1]), w.slot(slots[2]), coefficients[0], coefficients[1], coefficients[2], n);
    return;
  }
  k.scale(w.slot(acc), w.slot(slots[0]), coefficients[0], n);
  for (let i = 1; i < slots.length; i++) k.axpy(w.slot(acc), w.slot(slots[i]), coefficients[i], n);
}

/** out = sum_i c_i * m_i (no base), or base + sum_i c_i * (m_i - base), over `elements` elements. */
export function weightedSumTiles(out: TileSink, models: TileSource[], base: TileSource | undefined, coefficients: number[], elements: number): void {
  const w = tileWorkspace();
  const count = models.length;
  // Slots: 0 the sum, 1 the base, 2.. the models.
  w.reserve(count + 2);
  const c = coefficients.map(Math.fround);
  const modelSlots = models.map((_, i) => i + 2);
  for (let start = 0; start < elements; start += TILE) {
    const length = Math.min(TILE, elements - start);
    const n = padded(length);
    if (base) w.load(1, base, start, length);
    for (let i = 0; i < count; i++) w.load(modelSlots[i], models[i], start, length);
    if (base && count === 3) {
      // The general sequence below, fused into one pass.
      w.kernels.task3(w.slot(0), w.slot(1), w.slot(2), w.slot(3), w.slot(4), c[0], c[1], c[2], n);
    } else {
      if (base) for (const slot of modelSlots) w.kernels.subtract(w.slot(slot), w.slot(1), n);
      weightedSumOfSlots(w, 0, modelSlots, c, n);
      if (base) w.kernels.add_scaled_to_base(w.slot(0), w.slot(1), 1, n);
    }
    w.store(0, out, start, length);
  }
}

/** What every tile of an all-BF16 three-model DARE-TIES mix with keep flags shares. */
interface KeptBf16Mix {
  base: Uint8Array;
  models: Uint8Array[];
  keep: Uint8Array[];
  c: Float32Array;
  weights: Float32Array;
  normalize: number;
  lambda: number;
  out: TileSink;
  /** Set when the output is BF16 too: the kernel then writes it. */
  outBf16: Uint8Array | undefined;
}

/** One tile of that mix. A function of its own so that it stays optimized: called once per tile,
 * where a loop inside a once-per-tensor function gets recompiled (on-stack) for every tensor. */
function keptBf16MixTile(w: TileWorkspace, mix: KeptBf16Mix, start: number, length: number): void {
  const k = w.kernels;
  const n = padded(length);
  // Slots: 0 the result, 1 the base, 2 the keep flags, 4-6 the models (all BF16 as stored).
  w.reserve(7);
  w.loadBf16(1, mix.base, start, length);
  for (let i = 0; i < 3; i++) w.loadBf16(4 + i, mix.models[i], start, length);
  const bits = w.slot(2);
  for (let i = 0; i < 3; i++) w.putBytes(bits + i * (TILE / 8), mix.keep[i].subarray(start / 8, (start + n) / 8));
  const { c, weights } = mix;
  if (mix.outBf16 && k.kept_elect3_bf16_to_bf16) {
    // BF16 out as well: the kernel rounds and packs, no float32 tile and no encoding pass.
    k.kept_elect3_bf16_to_bf16(w.slot(0), w.slot(1), w.slot(4), w.slot(5), w.slot(6), c[0], c[1], c[2], weights[0], weights[1], weights[2], mix.normalize, mix.lambda, n, bits, bits + TILE / 8, bits + (2 * TILE) / 8);
    w.storeBf16(0, mix.outBf16, start, length);
  } else {
    k.kept_elect3_bf16!(w.slot(0), w.slot(1), w.slot(4), w.slot(5), w.slot(6), c[0], c[1], c[2], weights[0], weights[1], weights[2], mix.normalize, mix.lambda, n, bits, bits + TILE / 8, bits + (2 * TILE) / 8);
    w.store(0, mix.out, start, length);
  }
}

/** What every tile of mixTaskVectorTiles' general path shares; `budgets` carries each TIES cut's
 * remaining ties from tile to tile. */
interface MixPlan {
  out: TileSink;
  base: TileSource;
  vectors: TaskVectorInput[];
  options: MixOptions;
  vectorSlots: number[];
  c: number[];
  weights: number[];
  budgets: number[];
  lambda: number;
  dare: (Extract<VectorPrep, { kind: 'dare' }> | undefined)[];
  fusedDare: boolean;
  /** Tensor index of element 0 of this call (DARE hashes tensor indices; a chunk starts mid-tensor). */
  first: number;
}

/** One tile of mixTaskVectorTiles' general path (its own function so that it stays optimized: see
 * keptBf16MixTile). */
function mixTile(w: TileWorkspace, plan: MixPlan, start: number, length: number): void {
  const k = w.kernels;
  const { out, base, vectors, options, vectorSlots, c, weights, budgets, lambda, dare, fusedDare, first } = plan;
  const count = vectors.length;
  const n = padded(length);
  w.load(1, base, start, length);
  if (fusedDare) {
    const [a, b, c3] = vectorSlots.map((slot) => w.slot(slot));
    const [da, db, dc] = dare as { streamKey: number; threshold: number; keep?: Uint8Array }[];
    for (let i = 0; i < count; i++) w.load(vectorSlots[i], vectors[i].source, start, length);
    if (da.keep && db.keep && dc.keep) {
      // The keep flags of the norms pass, instead of hashing every index again.
      const bits = w.slot(2);
      w.putBytes(bits, da.keep.subarray(start / 8, (start + n) / 8));
      w.putBytes(bits + TILE / 8, db.keep.subarray(start / 8, (start + n) / 8));
      w.putBytes(bits + (2 * TILE) / 8, dc.keep.subarray(start / 8, (start + n) / 8));
      k.kept_elect3(w.slot(0), w.slot(1), a, b, c3, c[0], c[1], c[2], weights[0], weights[1], weights[2], options.normalize ? 1 : 0, lambda, n, bits, bits + TILE / 8, bits + (2 * TILE) / 8);
    } else {
      k.dare_elect3(w.slot(0), w.slot(1), a, b, c3, c[0], c[1], c[2], weights[0], weights[1], weights[2], options.normalize ? 1 : 0, lambda, n, first + start, da.streamKey, db.streamKey, dc.streamKey, da.threshold, db.threshold, dc.threshold);
    }
    w.store(0, out, start, length);
    return;
  }
  for (let i = 0; i < count; i++) {
    const at = w.slot(vectorSlots[i]);
    const { prep, source } = vectors[i];
    w.load(vectorSlots[i], source, start, length);
    if (prep.kind === 'delta') k.subtract(at, w.slot(1), n);
    if (prep.kind === 'cut') budgets[i] = k.keep_above_cut(at, n, kernelThreshold(prep.threshold, prep.tiedInside)[0], budgets[i]);
    if (prep.kind === 'dare') k.dare_mask(at, w.slot(1), n, prep.streamKey, first + start, prep.threshold);
  }
  if (options.signConsensus && count === 3) {
    // The general path below in one fused pass (same operations, same order).
    const [a, b, c3] = vectorSlots.map((slot) => w.slot(slot));
    k.elect3(w.slot(0), w.slot(1), a, b, c3, c[0], c[1], c[2], weights[0], weights[1], weights[2], options.normalize ? 1 : 0, lambda, n);
  } else if (!options.signConsensus) {
    weightedSumOfSlots(w, 0, vectorSlots, c, n);
    k.add_scaled_to_base(w.slot(0), w.slot(1), 1, n);
  } else {
    weightedSumOfSlots(w, 2, vectorSlots, c, n);
    w.zero(0, n);
    w.zero(3, n);
    for (let i = 0; i < count; i++) k.elect_accumulate(w.slot(0), w.slot(3), w.slot(2), w.slot(vectorSlots[i]), c[i], weights[i], n);
    if (options.normalize) k.divide_by_weights(w.slot(0), w.slot(3), n);
    k.add_scaled_to_base(w.slot(0), w.slot(1), lambda, n);
  }
  w.store(0, out, start, length);
}

/** The task-arithmetic family's mix: base + (sum of c_i x tau_i), or with sign consensus
 * base + lambda x (sum of the agreeing c_i x tau_i) [/ sum of their weights]. `first` is the
 * tensor index of element 0 (a chunk of a tensor; DARE's drop hashes tensor indices). Returns each
 * TIES cut's ties still inside after this call (the next chunk's `tiedInside`). */
export function mixTaskVectorTiles(out: TileSink, base: TileSource, vectors: TaskVectorInput[], options: MixOptions, elements: number, first = 0): number[] {
  if (!options.signConsensus && vectors.every((v) => v.prep.kind === 'delta')) {
    // Plain task arithmetic: the same operations as below, with the fused three-model kernel.
    weightedSumTiles(out, vectors.map((v) => v.source), base, vectors.map((v) => v.coefficient), elements);
    return vectors.map(() => 0);
  }
  const w = tileWorkspace();
  const count = vectors.length;
  // Slots: 0 the result (mixed), 1 the base, 2 the vote, 3 the divisor, 4.. the vectors.
  w.reserve(count + 4);
  const vectorSlots = vectors.map((_, i) => i + 4);
  const c = vectors.map((v) => Math.fround(v.coefficient));
  const weights = vectors.map((v) => Math.fround(v.weight));
  const budgets = vectors.map((v) => (v.prep.kind === 'cut' ? kernelThreshold(v.prep.threshold, v.prep.tiedInside)[1] : 0));
  const lambda = Math.fround(options.lambda);
  const dare = vectors.map((v) => (v.prep.kind === 'dare' ? v.prep : undefined));
  // DARE-TIES of three models: masks and election in one fused pass (same operations).
  const fusedDare = options.signConsensus && count === 3 && dare.every((d) => d !== undefined);
  if (fusedDare && dare.every((d) => d!.keep) && w.kernels.kept_elect3_bf16 && allBf16([base, ...vectors.map((v) => v.source)])) {
    // All BF16 with keep flags: decoded in registers, base included.
    const mix: KeptBf16Mix = {
      base: (base as { bytes: Uint8Array }).bytes,
      models: vectors.map((v) => (v.source as { bytes: Uint8Array }).bytes),
      keep: dare.map((d) => d!.keep!),
      c: Float32Array.from(c),
      weights: Float32Array.from(weights),
      normalize: options.normalize ? 1 : 0,
      lambda,
      out,
      outBf16: 'bytes' in out && out.dtype === 'BF16' ? out.bytes : undefined,
    };
    for (let start = 0; start < elements; start += TILE) keptBf16MixTile(w, mix, start, Math.min(TILE, elements - start));
    return budgets;
  }
  const plan: MixPlan = { out, base, vectors, options, vectorSlots, c, weights, budgets, lambda, dare, fusedDare, first };
  for (let start = 0; start < elements; start += TILE) mixTile(w, plan, start, Math.min(TILE, elements - start));
  return budgets;
}

/** Models whose DARE norms one pass gathers (eight f64 reduction values, TILE/8 flag bytes each). */
const NORMS_PER_PASS = 32;

function allBf16(sources: TileSource[]): boolean {
  return sources.every((s) => 'bytes' in s && s.dtype === 'BF16');
}

/** Bytes of DARE keep flags for `elements` elements (one bit each, tiles padded to 8). */
export function keepFlagBytes(elements: number): number {
  return padded(elements) / 8;
}

/** What every tile of one group of DARE's norms pass shares. */
interface DareNormsGroup {
  base: TileSource;
  models: TileSource[];
  /** The models' and base's stored bytes when all are BF16 (the kernels then decode in registers). */
  baseBf16: Uint8Array | undefined;
  modelsBf16: Uint8Array[] | undefined;
  streamKeys: Int32Array;
  thresholds: Int32Array;
  /** Where the group's keep flags go (one array per model), if anywhere. */
  keep: Uint8Array[] | undefined;
  /** Tensor index of element 0 of this call. */
  first: number;
}

/** One tile of DARE's norms pass over a group (a function of its own so that it stays optimized:
 * see keptBf16MixTile). Model i's sums go to SUMS_ADDRESS + 64 i, its flags to slot 2 + i TILE/8. */
function dareNormsTile(w: TileWorkspace, group: DareNormsGroup, start: number, length: number): void {
  const k = w.kernels;
  const n = padded(length);
  const count = group.models.length;
  const flags = w.slot(2);
  const { streamKeys: keys, thresholds } = group;
  const index = group.first + start;
  // Slots: 0 the model tile, 1 the base tile, 2 the keep flags of the group (TILE/8 bytes each),
  // 3-5 three model tiles for the fused three-model kernel.
  w.reserve(6);
  let i = 0;
  if (group.baseBf16 && group.modelsBf16 && k.dare_drop_bf16) {
    const models = group.modelsBf16;
    w.loadBf16(1, group.baseBf16, start, length);
    if (k.dare_drop3_bf16) {
      // Three models at a time share one pass over the base tile.
      for (; i + 3 <= count; i += 3) {
        for (let m = 0; m < 3; m++) w.loadBf16(3 + m, models[i + m], start, length);
        k.dare_drop3_bf16(w.slot(1), w.slot(3), w.slot(4), w.slot(5), n, index, keys[i], keys[i + 1], keys[i + 2], thresholds[i], thresholds[i + 1], thresholds[i + 2],
          SUMS_ADDRESS + 64 * i, flags + i * (TILE / 8), flags + (i + 1) * (TILE / 8), flags + (i + 2) * (TILE / 8));
      }
    }
    for (; i < count; i++) {
      w.loadBf16(0, models[i], start, length);
      k.dare_drop_bf16(w.slot(0), w.slot(1), n, keys[i], index, thresholds[i], SUMS_ADDRESS + 64 * i, flags + i * (TILE / 8));
    }
  } else {
    w.load(1, group.base, start, length);
    for (; i < count; i++) {
      w.load(0, group.models[i], start, length);
      k.dare_drop(w.slot(0), w.slot(1), n, keys[i], index, thresholds[i], SUMS_ADDRESS + 64 * i, flags + i * (TILE / 8));
    }
  }
  if (group.keep) for (let m = 0; m < count; m++) group.keep[m].set(w.bytesAt(flags + m * (TILE / 8), n / 8), start / 8);
}

/** A reduction over a tensor in chunks: the f64 lanes carried from chunk to chunk, and the tensor
 * index of the next chunk's first element (a multiple of 8 but at the end). */
export interface ChunkedSums {
  lanes: Float64Array;
  first: number;
}

/** For each model, the L1 norms of fround(model - base) before and after DARE's drop (its stream
 * key and threshold), in f64 over four index lanes; the base is read once per tile. With `keep`,
 * each model's keep flags (keepFlagBytes long) are written there for the mixing pass. With
 * `chunk` (8 lanes per model), the lanes continue from earlier chunks and the norms returned are
 * those of every chunk so far. */
export function dareL1Norms(models: TileSource[], base: TileSource, streamKeys: number[], thresholds: number[], elements: number, keep?: Uint8Array[], chunk?: ChunkedSums): { before: number; after: number }[] {
  const w = tileWorkspace();
  const norms: { before: number; after: number }[] = [];
  for (let from = 0; from < models.length; from += NORMS_PER_PASS) {
    const to = Math.min(from + NORMS_PER_PASS, models.length);
    const group = models.slice(from, to);
    const bf16 = allBf16([base, ...group]);
    const pass: DareNormsGroup = {
      base,
      models: group,
      baseBf16: bf16 ? (base as { bytes: Uint8Array }).bytes : undefined,
      modelsBf16: bf16 ? group.map((model) => (model as { bytes: Uint8Array }).bytes) : undefined,
      // As the kernels take them (i32): stream keys are u32, so some would not fit a small integer.
      streamKeys: Int32Array.from(streamKeys.slice(from, to)),
      thresholds: Int32Array.from(thresholds.slice(from, to)),
      keep: keep?.slice(from, to),
      first: chunk?.first ?? 0,
    };
    const lanes = chunk?.lanes.subarray(8 * from, 8 * to);
    if (lanes) w.restoreSums(lanes);
    else w.clearSums(8 * group.length);
    for (let start = 0; start < elements; start += TILE) dareNormsTile(w, pass, start, Math.min(TILE, elements - start));
    if (lanes) w.saveSums(lanes);
    for (let m = 0; m < group.length; m++) norms.push({ before: w.laneTotal(8 * m), after: w.laneTotal(8 * m + 4) });
  }
  return norms;
}

/** |a|^2, |b|^2 and a.b in f64 (four index lanes each). With `lanes` (12 values), the sums
 * continue from earlier chunks (each a multiple of 8 elements but the last). */
export function normsAndDotTiles(a: TileSource, b: TileSource, elements: number, lanes?: Float64Array): [number, number, number] {
  const w = tileWorkspace();
  w.reserve(2);
  if (lanes) w.restoreSums(lanes);
  else w.clearSums(12);
  for (let start = 0; start < elements; start += TILE) {
    const length = Math.min(TILE, elements - start);
    w.load(0, a, start, length);
    w.load(1, b, start, length);
    w.kernels.norms_and_dot(w.slot(0), w.slot(1), padded(length), SUMS_ADDRESS);
  }
  if (lanes) w.saveSums(lanes);
  return [w.laneTotal(0), w.laneTotal(4), w.laneTotal(8)];
}

/** fround(model - base) into `into` (its first `elements` values), tile by tile. */
export function taskVectorTiles(model: TileSource, base: TileSource, elements: number, into: Float32Array): void {
  const w = tileWorkspace();
  w.reserve(2);
  for (let start = 0; start < elements; start += TILE) {
    const length = Math.min(TILE, elements - start);
    w.load(0, model, start, length);
    w.load(1, base, start, length);
    w.kernels.subtract(w.slot(0), w.slot(1), padded(length));
    w.store(0, { values: into }, start, length);
  }
}

/** Copies `elements` values from `source` to `sink` through the tiles, converting between float32
 * and BF16 bytes on the way (the SIMD bf16 decode/encode). */
export function convertTiles(source: TileSource, sink: TileSink, elements: number): void {
  const w = tileWorkspace();
  w.reserve(1);
  for (let start = 0; start < elements; start += TILE) {
    const length = Math.min(TILE, elements - start);
    w.load(0, source, start, length);
    w.store(0, sink, start, length);
  }
}

/** A cut in descending |x| rank order: keys (f32 bits without the sign) above `threshold` are
 * inside, and the first `tiedInside` keys equal to it (index order). */
export interface MagnitudeCut {
  threshold: number;
  tiedInside: number;
}

/** The task vector fround(model - base) into `into`, and the cut keeping its `count` largest
 * magnitudes (ties: lowest index first), by an exact two-pass radix select: the high 15 key bits
 * are counted while the task vector is formed, then the low 16 bits of the one bin holding rank
 * `count`. */
export function magnitudeTaskVectorTiles(model: TileSource, base: TileSource, count: number, into: Float32Array): MagnitudeCut {
  const elements = into.length;
  const w = tileWorkspace();
  const k = w.kernels;
  // The first slots hold the histogram (32768, then 65536 u32), then the tile and the base.
  const tile = Math.ceil((65536 * 4) / (TILE * 4));
  const baseSlot = tile + 1;
  w.reserve(tile + 2);
  const hist = w.slot(0);
  const highBins = 32768;
  w.zero(0, highBins);
  for (let start = 0; start < elements; start += TILE) {
    const length = Math.min(TILE, elements - start);
    w.load(tile, model, start, length);
    w.load(baseSlot, base, start, length);
    k.subtract(w.slot(tile), w.slot(baseSlot), padded(length));
    k.histogram_high(w.slot(tile), length, hist);
    w.store(tile, { values: into }, start, length);
  }
  if (count <= 0) return { threshold: 0xffffffff, tiedInside: 0 };
  if (count > elements) return { threshold: 0, tiedInside: elements };
  const high = w.counts(0, highBins);
  let above = 0;
  let bin = highBins - 1;
  for (; bin > 0; bin--) {
    if (above + high[bin] >= count) break;
    above += high[bin];
  }
  w.zero(0, 65536);
  let padding = 0;
  for (let start = 0; start < elements; start += TILE) {
    const length = Math.min(TILE, elements - start);
    w.load(tile, { values: into }, start, length);
    k.histogram_low(w.slot(tile), padded(length), hist, bin);
    padding += padded(length) - length;
  }
  const low = w.counts(0, 65536);
  // The zero padding has key 0: it counted only if bin 0 was chosen.
  if (bin === 0) low[0] -= padding;
  const wanted = count - above;
  let lowBin = 65535;
  let aboveInBin = 0;
  for (; lowBin > 0; lowBin--) {
    if (aboveInBin + low[lowBin] >= wanted) break;
    aboveInBin += low[lowBin];
  }
  return { threshold: ((bin << 16) | lowBin) >>> 0, tiedInside: count - above - aboveInBin };
}

/** The chunked form of magnitudeTaskVectorTiles' two counting passes, for a tensor merged a chunk
 * at a time: the task vector fround(model - base) of one chunk is formed tile by tile in the
 * kernels' memory and only counted, never stored. `bin` undefined: the high 15 key bits (magnitude)
 * are added to `high` (at least 32768 bins); else the low 16 bits of the keys in high bin `bin` are
 * added to `low` (65536 bins). Counts equal countHighBins / countLowBins over the stored task vector. */
export function magnitudeBinsTiles(model: TileSource, base: TileSource, elements: number, bin: number | undefined, counts: Uint32Array): void {
  const w = tileWorkspace();
  const k = w.kernels;
  const tile = Math.ceil((65536 * 4) / (TILE * 4));
  const baseSlot = tile + 1;
  w.reserve(tile + 2);
  const hist = w.slot(0);
  const bins = bin === undefined ? 32768 : 65536;
  w.zero(0, bins);
  let padding = 0;
  for (let start = 0; start < elements; start += TILE) {
    const length = Math.min(TILE, elements - start);
    w.load(tile, model, start, length);
    w.load(baseSlot, base, start, length);
    k.subtract(w.slot(tile), w.slot(baseSlot), padded(length));
    if (bin === undefined) k.histogram_high(w.slot(tile), length, hist);
    else {
      k.histogram_low(w.slot(tile), padded(length), hist, bin);
      padding += padded(length) - length;
    }
  }
  const got = w.counts(0, bins);
  // The zero padding has key 0: it counted only in bin 0's low bins.
  if (bin === 0) got[0] -= padding;
  for (let i = 0; i < bins; i++) counts[i] += got[i];
}
