/** Exact magnitude rank cuts on the GPU by radix select: a histogram of the top 16 bits of every
 * |x| key, then of the low 16 bits inside the chosen bin (atomics, accumulated over chunks), and
 * for ties at the threshold a per-block count so that the lowest indices are kept first. Same
 * definition of a cut as src/core/methods/select.ts (threshold key + tied entries inside). */
import type { KernelRunner } from '../runner.ts';
import type { Chunk, ChunkView, StackedTensors } from './tensors.ts';

const BINS = 65536;
/** Entries one histogram invocation counts (RUN in magnitude_histogram.wgsl). */
const RUN_LENGTH = 8;

/** Entries ranked < `count` in descending |x| are those with key > threshold plus the first
 * `inside` (by index) of the `tied` entries whose key equals it. */
export interface MagnitudeCut {
  threshold: number;
  inside: number;
  tied: number;
}

/** Keep the entries of row `row` whose descending-|x| rank lies in [from, to). */
export interface RankBand {
  row: number;
  from: number;
  to: number;
}

export interface BandCuts {
  outer: MagnitudeCut;
  inner: MagnitudeCut;
  /** Per chunk: tied entries (outer, inner) before each 256-element block; absent when ties need no order. */
  tiePrefix?: Uint32Array[];
}

/** Highest bin whose count, added to those above it, reaches `count` (bin 0 at the latest). */
function descend(histogram: Uint32Array, count: number): { bin: number; above: number } {
  let above = 0;
  let bin = BINS - 1;
  for (; bin > 0; bin--) {
    if (above + histogram[bin] >= count) break;
    above += histogram[bin];
  }
  return { bin, above };
}

function trivialCut(count: number, elements: number): MagnitudeCut | undefined {
  if (count <= 0) return { threshold: 0xffffffff, inside: 0, tied: 0 };
  if (count >= elements) return { threshold: 0, inside: elements, tied: elements };
  return undefined;
}

function needsOrder(c: MagnitudeCut): boolean {
  return c.inside > 0 && c.inside < c.tied;
}

/** Magnitude-key histograms of stacked rows over the whole tensor: the top 16 bits, or with `bin`
 * the low 16 bits of the keys in that top bin. */
export async function histogramPass(runner: KernelRunner, tensors: StackedTensors, jobs: { row: number; bin?: number }[], signedOrder = false, beforeChunk?: (view: ChunkView) => void): Promise<Uint32Array[]> {
  const buffers = jobs.map(() => runner.zeros(BINS * 4, 'histogram'));
  await tensors.forEachChunk((view) => {
    beforeChunk?.(view);
    const { chunk, stacked } = view;
    jobs.forEach(({ row, bin }, k) => {
      const params = runner.params([['u32', chunk.count], ['u32', chunk.stride], ['u32', row], ['u32', bin ?? 0], ['u32', signedOrder ? 1 : 0]]);
      // RUN_LENGTH consecutive entries per invocation (see magnitude_histogram.wgsl).
      runner.dispatchItems('magnitude_histogram', [params, stacked, buffers[k]], Math.ceil(chunk.count / RUN_LENGTH), bin === undefined ? 'high' : 'low');
      params.destroy();
    });
  });
  const histograms = await Promise.all(buffers.map((b) => runner.readU32(b, BINS)));
  runner.release(...buffers);
  return histograms;
}

/** The two cuts of every band, with tie order where a cut splits a run of equal magnitudes. */
export async function rankBandCuts(runner: KernelRunner, tensors: StackedTensors, bands: RankBand[]): Promise<BandCuts[]> {
  const n = tensors.elements;
  const rowsNeedingHigh = bands.filter((b) => !trivialCut(b.to, n) || !trivialCut(b.from, n));
  const high = await histogramPass(runner, tensors, rowsNeedingHigh.map((b) => ({ row: b.row })));
  const highOf = new Map(rowsNeedingHigh.map((b, k) => [b, high[k]]));

  // Second level: one low histogram per (band, distinct top-16 bin).
  const pending: { band: RankBand; which: 'outer' | 'inner'; count: number; bin: number; above: number }[] = [];
  for (const band of bands) {
    for (const [which, count] of [['outer', band.to], ['inner', band.from]] as const) {
      if (trivialCut(count, n)) continue;
      pending.push({ band, which, count, ...descend(highOf.get(band)!, count) });
    }
  }
  const lowJobs: { row: number; bin: number; band: RankBand }[] = [];
  for (const p of pending) if (!lowJobs.some((j) => j.band === p.band && j.bin === p.bin)) lowJobs.push({ row: p.band.row, bin: p.bin, band: p.band });
  const low = await histogramPass(runner, tensors, lowJobs);

  const cuts: BandCuts[] = bands.map((band) => ({ outer: trivialCut(band.to, n)!, inner: trivialCut(band.from, n)! }));
  for (const p of pending) {
    const histogram = low[lowJobs.findIndex((j) => j.band === p.band && j.bin === p.bin)];
    const { bin: lowBin, above } = descend(histogram, p.count - p.above);
    const cut = { threshold: ((p.bin << 16) | lowBin) >>> 0, inside: p.count - p.above - above, tied: histogram[lowBin] };
    cuts[bands.indexOf(p.band)][p.which] = cut;
  }

  // Tie order only where a cut keeps some but not all of the entries equal to its threshold.
  const ordered = bands.map((_, k) => k).filter((k) => needsOrder(cuts[k].outer) || needsOrder(cuts[k].inner));
  if (ordered.length > 0) {
    const running = ordered.map(() => [0, 0]);
    for (const k of ordered) cuts[k].tiePrefix = [];
    await tensors.forEachChunk(async ({ chunk, stacked }) => {
      const groups = Math.max(1, Math.ceil(chunk.count / 256));
      for (const [slot, k] of ordered.entries()) {
        const { counts, ranks } = dispatchTieRanks(runner, bands[k].row, cuts[k], chunk, stacked);
        const perBlock = await runner.readU32(counts, groups * 2);
        runner.release(counts, ranks);
        const prefix = new Uint32Array(groups * 2);
        for (let g = 0; g < groups; g++) {
          prefix[2 * g] = running[slot][0];
          prefix[2 * g + 1] = running[slot][1];
          running[slot][0] += perBlock[2 * g];
          running[slot][1] += perBlock[2 * g + 1];
        }
        cuts[k].tiePrefix!.push(prefix);
      }
    });
  }
  return cuts;
}

/** Per-entry tie ranks within each 256-element block and per-block tie totals, for both cuts. */
function dispatchTieRanks(runner: KernelRunner, row: number, cuts: BandCuts, chunk: Chunk, stacked: GPUBuffer): { counts: GPUBuffer; ranks: GPUBuffer } {
  const blocks = Math.max(1, Math.ceil(chunk.count / 256));
  const counts = runner.zeros(blocks * 8, 'tie counts');
  const ranks = runner.allocate(Math.max(1, chunk.count) * 4, 'tie ranks');
  const params = runner.params([['u32', chunk.count], ['u32', chunk.stride], ['u32', row], ['u32', cuts.outer.threshold], ['u32', cuts.inner.threshold]]);
  // One invocation per 256-element block.
  runner.dispatchItems('tie_rank', [params, stacked, counts, ranks], blocks);
  params.destroy();
  return { counts, ranks };
}

/** Zeroes, in place, the entries of `row` outside the band of `cuts` in one chunk. The kernel
 * writes the masked row to scratch first, then it is copied back over the row. */
export function applyRankBandMask(runner: KernelRunner, row: number, cuts: BandCuts, { chunk, stacked }: ChunkView): void {
  const { outer, inner, tiePrefix } = cuts;
  const blocks = Math.max(1, Math.ceil(chunk.count / 256));
  const prefix = tiePrefix ? runner.upload(tiePrefix[chunk.index]) : runner.zeros(blocks * 8, 'no tie prefix');
  const ties = tiePrefix ? dispatchTieRanks(runner, row, cuts, chunk, stacked) : undefined;
  const masked = runner.allocate(Math.max(1, chunk.count) * 4, 'masked row');
  const params = runner.params([
    ['u32', chunk.count], ['u32', chunk.stride], ['u32', row], ['u32', outer.threshold],
    ['u32', outer.inside], ['u32', inner.threshold], ['u32', inner.inside], ['u32', tiePrefix ? 1 : 0],
  ]);
  // Without tie order the rank binding is never read; the prefix buffer stands in for it.
  runner.dispatchItems('rank_band_mask', [params, stacked, prefix, ties?.ranks ?? prefix, masked], chunk.count);
  params.destroy();
  runner.copy(masked, 0, stacked, row * chunk.stride * 4, chunk.count * 4);
  runner.release(prefix, masked, ties?.counts, ties?.ranks);
}

/** Values at the given ascending ranks (0 = smallest) of one stacked row, in signed order (ties
 * irrelevant), by the same two-level radix select. */
export async function valuesAtAscendingRanks(runner: KernelRunner, tensors: StackedTensors, row: number, ranks: number[], beforeChunk?: (view: ChunkView) => void): Promise<number[]> {
  const n = tensors.elements;
  const [high] = await histogramPass(runner, tensors, [{ row }], true, beforeChunk);
  // Descending count n - rank; rank 0 (count n) lands on the lowest occupied bins, i.e. the minimum.
  const wanted = ranks.map((rank) => ({ count: n - rank, ...descend(high, n - rank) }));
  const bins = [...new Set(wanted.map((w) => w.bin))];
  const low = await histogramPass(runner, tensors, bins.map((bin) => ({ row, bin })), true, beforeChunk);
  return wanted.map((w) => {
    const { bin: lowBin } = descend(low[bins.indexOf(w.bin)], w.count - w.above);
    const key = ((w.bin << 16) | lowBin) >>> 0;
    const bits = (key & 0x80000000 ? key & 0x7fffffff : ~key) >>> 0;
    return new Float32Array(new Uint32Array([bits]).buffer)[0];
  });
}
