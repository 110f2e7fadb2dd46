/** The generalized task-arithmetic pipeline shared by task_arithmetic, ties, dare_*, breadcrumbs*
 * and della*: task vectors (f32, like mergekit) -> sparsify -> sign consensus -> normalize ->
 * lambda -> add to base. Each method file only picks its sparsifier, consensus and defaults. */
import type { ChunkedMerge, MergeMethod, MergeTensorInput, ParamSpec, TensorChunk } from './types.ts';
import { checkInputs, elementCount, globalBoolean, globalNumber, modelNumbers, outputArray, type MethodContext } from './params.ts';
import { dellaMagprune, keepRankBandChunk, l1Norm, outlierBand, rescaleFactor, sparseTaskVector, type Sparsification } from './sparsify.ts';
import { countHighBins, countLowBins, cutInLowBins, f32Bits, highBinOfRank, trivialCut, type RankCut } from './select.ts';
import { dareKeepProbability, keepThreshold24, maskStreamKey } from './random.ts';
import { workArray } from './scratch.ts';
import { decodeToF32 } from '../dtype.ts';
import { MergeStudioError } from '../errors.ts';
import { dareL1Norms, keepFlagBytes, magnitudeBinsTiles, magnitudeTaskVectorTiles, mixTaskVectorTiles, taskVectorTiles, type TaskVectorInput, type TileSink } from '../simd/merge-tiles.ts';
import type { TileSource } from '../simd/tiles.ts';

export type SparsificationKind = 'none' | Sparsification['kind'];

export interface TaskArithmeticVariant {
  name: string;
  description: string;
  sparsification: SparsificationKind;
  /** TIES sign election ("sum" consensus): only entries agreeing with the weighted majority sign mix. */
  signConsensus: boolean;
  defaultNormalize: boolean;
  defaultRescale: boolean;
}

function schema(v: TaskArithmeticVariant): ParamSpec[] {
  const params: ParamSpec[] = [
    { name: 'int8_mask', scope: 'global', kind: 'boolean', default: false, description: 'Accepted for mergekit compatibility; it has no effect on the result.' },
    { name: 'normalize', scope: 'global', kind: 'boolean', default: v.defaultNormalize, description: 'Divide the mixed task vector by the sum of the (participating) weights.' },
    { name: 'rescale', scope: 'global', kind: 'boolean', default: v.defaultRescale, description: 'After sparsifying, scale survivors so the task vector keeps its L1 norm.' },
    { name: 'lambda', scope: 'global', kind: 'number', default: 1, description: 'Scale of the merged task vector before it is added to the base.' },
    { name: 'weight', scope: 'model', kind: 'number', required: true, description: 'Weight of this model\'s task vector.' },
    {
      name: 'density', scope: 'model', kind: 'number', default: 1, min: 0, max: 1,
      description: v.sparsification === 'none' ? 'Accepted for mergekit compatibility; task_arithmetic keeps every entry.' : 'Fraction of task-vector entries to keep.',
    },
  ];
  if (v.sparsification === 'magnitude_outliers') {
    params.push({ name: 'gamma', scope: 'model', kind: 'number', default: 0.01, min: 0, max: 1, description: 'Fraction of the largest-magnitude entries to drop as outliers.' });
  }
  if (v.sparsification === 'della_magprune') {
    params.push({ name: 'epsilon', scope: 'model', kind: 'number', default: 0.15, min: 0, max: 0.5, description: 'Keep probability spreads over density ± epsilon by magnitude rank within each row.' });
  }
  return params;
}

function sparsificationFor(v: TaskArithmeticVariant, ctx: MethodContext, position: number, density: number, gamma: number[], epsilon: number[]): Sparsification {
  const { input } = ctx;
  switch (v.sparsification) {
    case 'magnitude':
      return { kind: 'magnitude', density };
    case 'magnitude_outliers':
      return { kind: 'magnitude_outliers', density, gamma: gamma[position] };
    case 'random':
      return { kind: 'random', density, streamKey: maskStreamKey(input.seed, input.tensorName, input.modelIndices[position]) };
    case 'della_magprune':
      return { kind: 'della_magprune', density, epsilon: epsilon[position], streamKey: maskStreamKey(input.seed, input.tensorName, input.modelIndices[position]) };
    case 'none':
      throw new Error('unreachable: no sparsifier');
  }
}

/** Every method of this family by name, so other backends (the WebGPU binding) follow the same
 * sparsifier and consensus choices instead of keeping a copy of them. */
const VARIANTS = new Map<string, TaskArithmeticVariant>();

export function taskArithmeticVariant(name: string): TaskArithmeticVariant | undefined {
  return VARIANTS.get(name);
}

/** The family's resolved parameters for one tensor, read the same way by every backend. */
export function taskArithmeticParams(ctx: MethodContext, sparsification: SparsificationKind) {
  globalBoolean(ctx, 'int8_mask');
  return {
    normalize: globalBoolean(ctx, 'normalize'),
    rescale: globalBoolean(ctx, 'rescale'),
    lambda: globalNumber(ctx, 'lambda'),
    // mergekit multiplies by a float32 weight tensor.
    weights: modelNumbers(ctx, 'weight').map(Math.fround),
    densities: modelNumbers(ctx, 'density'),
    gamma: sparsification === 'magnitude_outliers' ? modelNumbers(ctx, 'gamma') : [],
    epsilon: sparsification === 'della_magprune' ? modelNumbers(ctx, 'epsilon') : [],
  };
}

export function defineTaskArithmeticMethod(v: TaskArithmeticVariant): MergeMethod {
  VARIANTS.set(v.name, v);
  const params = schema(v);
  return {
    name: v.name,
    description: v.description,
    base: 'required',
    // Without a sparsifier nothing looks beyond one element (the others rank or hash by position).
    elementwise: v.sparsification === 'none',
    params,
    mergeCpu(input: MergeTensorInput): Float32Array {
      const ctx: MethodContext = { method: v.name, params, input };
      checkInputs(ctx, { base: 'required', minModels: 1 });
      const base = input.base!;
      const out = outputArray(ctx, base.length);
      merge(v, ctx, input.models.map((values) => ({ values })), { values: base }, base.length, { values: out });
      return out;
    },
    mergeTiles(input: MergeTensorInput, models: TileSource[], base: TileSource | undefined, elements: number, out: TileSink): void {
      const ctx: MethodContext = { method: v.name, params, input };
      if (!base) throw new MergeStudioError('missing-base', `${v.name} needs a base_model; none was given for tensor '${input.tensorName}'`, { method: v.name, tensor: input.tensorName });
      merge(v, ctx, models, base, elements, out);
    },
    mergeChunks(input: MergeTensorInput): ChunkedMerge | undefined {
      const ctx: MethodContext = { method: v.name, params, input };
      checkInputs(ctx, { base: 'required', minModels: 1, placeholders: true });
      return chunkedMerge(v, ctx);
    },
  };
}

/** One tensor (or, for the elementwise task_arithmetic, one slice) from float32 arrays or stored tiles. */
function merge(v: TaskArithmeticVariant, ctx: MethodContext, models: TileSource[], base: TileSource, elements: number, out: TileSink): void {
  const resolved = taskArithmeticParams(ctx, v.sparsification);
  const inputs: TaskInputs = { ctx, base, elements, decodedBase: undefined, dareScales: undefined, dareKeep: undefined };
  if (v.sparsification === 'random' && resolved.rescale) dareRescale(inputs, models, resolved);
  const vectors = models.map((model, i) => taskVector(v, inputs, i, model, resolved));
  mix(v, out, base, vectors, resolved, elements);
}

interface TaskInputs {
  ctx: MethodContext;
  base: TileSource;
  elements: number;
  /** The base as float32 values, once a whole-tensor sparsifier asked for it. */
  decodedBase: Float32Array | undefined;
  /** DARE with rescale: each model's L1 rescale factor and keep flags (one pass over all models). */
  dareScales: number[] | undefined;
  dareKeep: (Uint8Array | undefined)[] | undefined;
}

/** DARE's drop of model i: its stream key and integer keep threshold (undefined when density >= 1 keeps all). */
function dareDrop(ctx: MethodContext, i: number, r: Resolved): { streamKey: number; threshold: number } | undefined {
  if (r.densities[i] >= 1) return undefined;
  const { input } = ctx;
  return { streamKey: maskStreamKey(input.seed, input.tensorName, input.modelIndices[i]), threshold: keepThreshold24(dareKeepProbability(r.densities[i])) };
}

/** One pass over every model DARE drops from: L1 rescale factors, and the keep flags the mixing
 * pass then reads instead of hashing each index again (scratch slots, n/8 bytes per model). */
function dareRescale(inputs: TaskInputs, models: TileSource[], r: Resolved): void {
  const { ctx, base, elements } = inputs;
  const drops = models.map((_, i) => dareDrop(ctx, i, r));
  const dropped = models.flatMap((_, i) => (drops[i] ? [i] : []));
  const keep = dropped.map((i) => {
    const slot = workArray(ctx.input.scratch, `dareKeep${i}`, Math.ceil(keepFlagBytes(elements) / 4));
    return new Uint8Array(slot.buffer, slot.byteOffset, keepFlagBytes(elements));
  });
  const norms = dareL1Norms(dropped.map((i) => models[i]), base, dropped.map((i) => drops[i]!.streamKey), dropped.map((i) => drops[i]!.threshold), elements, keep);
  inputs.dareScales = models.map(() => 1);
  inputs.dareKeep = models.map(() => undefined);
  dropped.forEach((i, k) => {
    inputs.dareScales![i] = rescaleFactor(norms[k].before, norms[k].after);
    inputs.dareKeep![i] = keep[k];
  });
}

/** Float32 values of a source: the array itself, or stored bytes decoded into a scratch slot. */
function valuesOf(source: TileSource, inputs: TaskInputs, slot: string): Float32Array {
  if ('values' in source) return source.values;
  return decodeToF32(source.bytes, source.dtype, workArray(inputs.ctx.input.scratch, slot, inputs.elements));
}

type Resolved = ReturnType<typeof taskArithmeticParams>;

/** How model `i`'s task vector enters the mix: formed in the tile loop where no whole-tensor
 * statistic is needed (plain delta, DARE's drop, TIES' magnitude cut once the cut is known), else
 * sparsified whole by the sparsifier into a scratch buffer. */
function taskVector(v: TaskArithmeticVariant, inputs: TaskInputs, i: number, model: TileSource, r: Resolved): TaskVectorInput {
  const { ctx, base, elements } = inputs;
  const { input } = ctx;
  const weight = r.weights[i];
  if (v.sparsification === 'none') return { source: model, prep: { kind: 'delta' }, coefficient: weight, weight };
  const into = workArray(input.scratch, `taskVector${i}`, elements);
  if (v.sparsification === 'magnitude' && !r.rescale) {
    if (r.densities[i] >= 1) return { source: model, prep: { kind: 'delta' }, coefficient: weight, weight };
    // int(density * n) in double, like Python. k == 0 keeps nothing; mergekit asserts instead.
    const cut = magnitudeTaskVectorTiles(model, base, Math.trunc(r.densities[i] * elements), into);
    return { source: { values: into }, prep: { kind: 'cut', ...cut }, coefficient: weight, weight };
  }
  if (v.sparsification === 'random') {
    const drop = dareDrop(ctx, i, r);
    if (!drop) return { source: model, prep: { kind: 'delta' }, coefficient: weight, weight };
    return { source: model, prep: { kind: 'dare', ...drop, keep: inputs.dareKeep?.[i] }, coefficient: weight * (inputs.dareScales?.[i] ?? 1), weight };
  }
  // Whole-tensor sparsifiers (ranks by row, outliers, L1 rescale) work on float32 arrays.
  inputs.decodedBase ??= valuesOf(base, inputs, 'decodedBase');
  const label = `${v.name}: tensor '${input.tensorName}' of model #${input.modelIndices[i]}`;
  const rule = sparsificationFor(v, ctx, i, r.densities[i], r.gamma, r.epsilon);
  const sparse = sparseTaskVector(valuesOf(model, inputs, 'decodedModel'), inputs.decodedBase, input.shape, rule, r.rescale, label, into);
  return { source: { values: sparse.values }, prep: { kind: 'ready' }, coefficient: weight * sparse.scale, weight };
}

/** base + lambda * (sum_i c_i * tau_i) / divisor, with TIES sign election when asked.
 * `coefficient` = weight x rescale factor; the weights alone form the divisor (as in mergekit):
 * without election it is their sum (folded into the coefficients), with it the agreeing ones'.
 * `first`: tensor index of element 0 (a chunk); returns the TIES cuts' remaining ties. */
function mix(v: TaskArithmeticVariant, out: TileSink, base: TileSource, vectors: TaskVectorInput[], r: Resolved, elements: number, first = 0): number[] {
  if (v.signConsensus) {
    return mixTaskVectorTiles(out, base, vectors, { signConsensus: true, normalize: r.normalize, lambda: r.lambda }, elements, first);
  }
  let divisor = r.weights.reduce((a, b) => a + b, 0);
  if (Math.abs(divisor) < 1e-8) divisor = 1; // mergekit's guard against a zero weight sum
  const factor = r.normalize ? r.lambda / divisor : r.lambda;
  const scaled = vectors.map((t) => ({ ...t, coefficient: t.coefficient * factor }));
  return mixTaskVectorTiles(out, base, scaled, { signConsensus: false, normalize: false, lambda: 1 }, elements, first);
}

// ---- chunked: the same task vectors and mix, a chunk of rows at a time ----

/** How one model's task vector is formed in the chunked merge (mirroring `taskVector`):
 * 'delta' in the tile loop; 'cut' TIES' magnitude cut applied while mixing (ties carried from
 * chunk to chunk); 'dare' the random drop by tensor index; 'ready' the task vector sparsified in
 * the chunk by a rank band (magnitude with rescale, breadcrumbs) or DELLA's row ranks, then scaled. */
type ChunkPlan =
  | { kind: 'delta' }
  | { kind: 'cut'; count: number; high: Uint32Array; bin: number; above: number; low: Uint32Array; cut: RankCut; remaining: number }
  | { kind: 'dare'; streamKey: number; threshold: number }
  | { kind: 'band'; from: number; to: number; high: Uint32Array; bands: BandCut[]; before: number; after: number; scale: number }
  | { kind: 'della'; rule: Exclude<Sparsification, { kind: 'random' } | { kind: 'magnitude' } | { kind: 'magnitude_outliers' }>; before: number; after: number; scale: number }
  | { kind: 'ready' };

/** One rank cut of a band (at descending rank `count`), found from the histograms. */
interface BandCut {
  count: number;
  bin: number;
  above: number;
  low: Uint32Array | undefined;
  cut: RankCut;
}

const MAGNITUDE = 0x7fffffff;
const BINS = 1 << 16;

function chunkedMerge(v: TaskArithmeticVariant, ctx: MethodContext): ChunkedMerge | undefined {
  const { input } = ctx;
  const shape = input.shape;
  // DELLA ranks along dim 1; a 1-D tensor is one row, so it cannot split.
  if (v.sparsification === 'della_magprune' && shape.length < 2) return undefined;
  const n = elementCount(shape);
  const r = taskArithmeticParams(ctx, v.sparsification);
  const label = (i: number) => `${v.name}: tensor '${input.tensorName}' of model #${input.modelIndices[i]}`;
  const plans: ChunkPlan[] = r.weights.map((_, i): ChunkPlan => {
    if (v.sparsification === 'none') return { kind: 'delta' };
    if (v.sparsification === 'magnitude' && !r.rescale) {
      if (r.densities[i] >= 1) return { kind: 'delta' };
      const k = Math.trunc(r.densities[i] * n);
      const trivial = trivialCut(k, n);
      return { kind: 'cut', count: k, high: new Uint32Array(trivial ? 0 : BINS), bin: 0, above: 0, low: new Uint32Array(0), cut: trivial ?? { threshold: 0, tiedInside: 0 }, remaining: trivial?.tiedInside ?? 0 };
    }
    if (v.sparsification === 'random') {
      const drop = dareDrop(ctx, i, r);
      return drop ? { kind: 'dare', ...drop } : { kind: 'delta' };
    }
    // The whole-tensor sparsifiers give the plain task vector at density >= 1.
    if (r.densities[i] >= 1) return { kind: 'ready' };
    const rule = sparsificationFor(v, ctx, i, r.densities[i], r.gamma, r.epsilon);
    if (rule.kind === 'della_magprune') return { kind: 'della', rule, before: 0, after: 0, scale: 1 };
    const [from, to] = rule.kind === 'magnitude_outliers' ? outlierBand(n, rule.density, rule.gamma) : [0, Math.trunc(rule.density * n)];
    const cutAt = (rank: number): BandCut => ({ count: rank, bin: 0, above: 0, low: undefined, cut: trivialCut(rank, n) ?? { threshold: 0, tiedInside: 0 } });
    return { kind: 'band', from, to, high: new Uint32Array(BINS), bands: from > 0 ? [cutAt(to), cutAt(from)] : [cutAt(to)], before: 0, after: 0, scale: 1 };
  });
  const dropped = plans.flatMap((p, i) => (p.kind === 'dare' && r.rescale ? [i] : []));
  const dareLanes = new Float64Array(8 * dropped.length);
  const dareScales = plans.map(() => 1);
  const needsRescale = r.rescale && plans.some((p) => p.kind === 'band');
  const passes = Math.max(dropped.length ? 1 : 0, ...plans.map((p) => (p.kind === 'cut' && p.high.length ? 2 : p.kind === 'band' ? (needsRescale ? 3 : 2) : p.kind === 'della' && r.rescale ? 1 : 0)));
  const scratch = input.scratch;
  const vectorOf = (i: number, chunk: TensorChunk): Float32Array => {
    const into = workArray(scratch, `chunkTaskVector${i}`, chunk.elements);
    taskVectorTiles(chunk.models[i], chunk.base!, chunk.elements, into);
    return into;
  };
  const rowShape = (chunk: TensorChunk) => [chunk.rows, ...shape.slice(1)];
  // Ties counted so far per band cut (outer, inner), restarted for each pass that masks.
  let ties = plans.map(() => [0, 0]);

  return {
    passes,
    scan(pass, chunk) {
      if (pass === 0 && dropped.length) {
        const norms = dareL1Norms(dropped.map((i) => chunk.models[i]), chunk.base!, dropped.map((i) => (plans[i] as { streamKey: number }).streamKey), dropped.map((i) => (plans[i] as { threshold: number }).threshold), chunk.elements, undefined, { lanes: dareLanes, first: chunk.start });
        dropped.forEach((i, k) => (dareScales[i] = rescaleFactor(norms[k].before, norms[k].after)));
      }
      plans.forEach((p, i) => {
        if (p.kind === 'cut' && p.high.length) {
          // Counted in the SIMD tiles as the task vector forms (never stored), as the whole-tensor
          // cut does: the plain-JS histogram over a stored vector cost TIES 2-3x task_arithmetic.
          if (pass === 0) magnitudeBinsTiles(chunk.models[i], chunk.base!, chunk.elements, undefined, p.high);
          if (pass === 1) magnitudeBinsTiles(chunk.models[i], chunk.base!, chunk.elements, p.bin, p.low);
        } else if (p.kind === 'band') {
          if (pass > 2 || (pass === 2 && !needsRescale)) return;
          const values = vectorOf(i, chunk);
          if (pass === 0) {
            countHighBins(f32Bits(values), MAGNITUDE, p.high);
            if (r.rescale) p.before = l1Norm(values, p.before);
          } else if (pass === 1) {
            for (const band of p.bands) if (band.low) countLowBins(f32Bits(values), MAGNITUDE, band.bin, band.low);
          } else {
            keepRankBandChunk(values, p.bands[0].cut, p.bands[1]?.cut, ties[i]);
            p.after = l1Norm(values, p.after);
          }
        } else if (p.kind === 'della' && pass === 0 && r.rescale) {
          const values = vectorOf(i, chunk);
          p.before = l1Norm(values, p.before);
          dellaMagprune(values, rowShape(chunk), p.rule.density, p.rule.epsilon, p.rule.streamKey, label(i), chunk.start);
          p.after = l1Norm(values, p.after);
        }
      });
    },
    endPass(pass) {
      ties = plans.map(() => [0, 0]);
      for (const p of plans) {
        if (p.kind === 'cut' && p.high.length) {
          if (pass === 0) {
            ({ bin: p.bin, above: p.above } = highBinOfRank(p.high, p.count));
            p.low = new Uint32Array(BINS);
          } else if (pass === 1) {
            p.cut = cutInLowBins(p.low, p.bin, p.above, p.count);
            p.remaining = p.cut.tiedInside;
          }
        } else if (p.kind === 'band') {
          for (const band of p.bands) {
            if (trivialCut(band.count, n)) continue;
            if (pass === 0) {
              ({ bin: band.bin, above: band.above } = highBinOfRank(p.high, band.count));
              band.low = new Uint32Array(BINS);
            } else if (pass === 1) band.cut = cutInLowBins(band.low!, band.bin, band.above, band.count);
          }
          if (pass === 2) p.scale = rescaleFactor(p.before, p.after);
        } else if (p.kind === 'della' && pass === 0) p.scale = rescaleFactor(p.before, p.after);
      }
    },
    emit(chunk, out) {
      const vectors = plans.map((p, i): TaskVectorInput => {
        const weight = r.weights[i];
        const source = chunk.models[i];
        switch (p.kind) {
          case 'delta':
            return { source, prep: { kind: 'delta' }, coefficient: weight, weight };
          case 'dare':
            return { source, prep: { kind: 'dare', streamKey: p.streamKey, threshold: p.threshold }, coefficient: weight * dareScales[i], weight };
          case 'cut':
            return { source: { values: vectorOf(i, chunk) }, prep: { kind: 'cut', threshold: p.cut.threshold, tiedInside: p.remaining }, coefficient: weight, weight };
          case 'ready':
            return { source: { values: vectorOf(i, chunk) }, prep: { kind: 'ready' }, coefficient: weight, weight };
          case 'band': {
            const values = vectorOf(i, chunk);
            keepRankBandChunk(values, p.bands[0].cut, p.bands[1]?.cut, ties[i]);
            return { source: { values }, prep: { kind: 'ready' }, coefficient: weight * p.scale, weight };
          }
          case 'della': {
            const values = vectorOf(i, chunk);
            dellaMagprune(values, rowShape(chunk), p.rule.density, p.rule.epsilon, p.rule.streamKey, label(i), chunk.start);
            return { source: { values }, prep: { kind: 'ready' }, coefficient: weight * p.scale, weight };
          }
        }
      });
      const left = mix(v, out, chunk.base!, vectors, r, chunk.elements, chunk.start);
      plans.forEach((p, i) => {
        if (p.kind === 'cut') p.remaining = left[i];
      });
    },
  };
}
