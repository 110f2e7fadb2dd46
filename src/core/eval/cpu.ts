// The CPU backend: the Llama-family forward pass in plain TypeScript, with preallocated scratch
// buffers and a KV cache. Weights are row-major [out, in] as in the checkpoint, so every matmul is
// dot products over contiguous rows. Matrices stay in the form they were stored in (bf16/f16 as
// their 16-bit words, half the bytes of float32): a matmul decodes a block of rows at a time into a
// small float32 scratch, so the host never holds a float32 copy of the model.
import { f16ToF32BitsTable } from '../dtype.ts';
import { MergeStudioError } from '../errors.ts';
import { throwIfAborted } from '../progress.ts';
import type { CausalLMConfig } from './config.ts';
import { RopeTables, ropeInverseFrequencies } from './rope.ts';
import { KvCachedLM, batchedGreedy, checkSlidingWindow, logSoftmaxAt, isHostTensor, type GenerateOptions, type WeightUpdate } from './runtime.ts';
import { EMBED_TENSOR, FINAL_NORM_TENSOR, LM_HEAD_TENSOR, expectedTensors, hostTensorToF32, layerTensorName, type HostTensor, type LayerTensorRole } from './weights.ts';

/** out[t, o] = sum_i x[t, i] * w[o, i] (+ bias[o]) for t < rows. Blocks of four token rows by two
 * weight rows: each loaded weight value serves four tokens and each token value two outputs. */
export function matmulRows(out: Float32Array, x: Float32Array, rows: number, inDim: number, w: Float32Array, outDim: number, bias?: Float32Array | null): void {
  matmulBlock(out, outDim, 0, x, rows, inDim, w, outDim, bias ?? null);
}

/** matmulRows for `wRows` weight rows that are the output columns [col0, col0 + wRows) of `out`,
 * whose rows are `outStride` wide (bias indexed by the output column). */
function matmulBlock(out: Float32Array, outStride: number, col0: number, x: Float32Array, rows: number, inDim: number, w: Float32Array, wRows: number, bias: Float32Array | null): void {
  const outDim = outStride;
  let o = 0;
  for (; o + 2 <= wRows; o += 2) {
    const wa = o * inDim, wb = wa + inDim;
    const ba = bias ? bias[col0 + o] : 0, bb = bias ? bias[col0 + o + 1] : 0;
    let t = 0;
    for (; t + 4 <= rows; t += 4) {
      const x0 = t * inDim, x1 = x0 + inDim, x2 = x1 + inDim, x3 = x2 + inDim;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
      for (let i = 0; i < inDim; i++) {
        const u = w[wa + i], v = w[wb + i];
        const p0 = x[x0 + i], p1 = x[x1 + i], p2 = x[x2 + i], p3 = x[x3 + i];
        a0 += u * p0; a1 += u * p1; a2 += u * p2; a3 += u * p3;
        b0 += v * p0; b1 += v * p1; b2 += v * p2; b3 += v * p3;
      }
      const r0 = t * outDim + col0 + o;
      out[r0] = a0 + ba; out[r0 + 1] = b0 + bb;
      out[r0 + outDim] = a1 + ba; out[r0 + outDim + 1] = b1 + bb;
      out[r0 + 2 * outDim] = a2 + ba; out[r0 + 2 * outDim + 1] = b2 + bb;
      out[r0 + 3 * outDim] = a3 + ba; out[r0 + 3 * outDim + 1] = b3 + bb;
    }
    for (; t < rows; t++) {
      const xt = t * inDim;
      let a = 0, b = 0;
      for (let i = 0; i < inDim; i++) {
        const p = x[xt + i];
        a += w[wa + i] * p;
        b += w[wb + i] * p;
      }
      out[t * outDim + col0 + o] = a + ba;
      out[t * outDim + col0 + o + 1] = b + bb;
    }
  }
  if (o < wRows) {
    // The last output of an odd count.
    const wa = o * inDim, ba = bias ? bias[col0 + o] : 0;
    for (let t = 0; t < rows; t++) {
      const xt = t * inDim;
      let a = 0;
      for (let i = 0; i < inDim; i++) a += w[wa + i] * x[xt + i];
      out[t * outDim + col0 + o] = a + ba;
    }
  }
}

/** A weight as the CPU runtime holds it: float32 values, or the stored bf16/f16 words. `owned`:
 * the array is this runtime's own (an update may write into it); else it is the caller's, and
 * the first update replaces it with a float32 copy. */
export interface CpuWeight {
  dtype: 'F32' | 'BF16' | 'F16';
  data: Float32Array | Uint16Array;
  owned: boolean;
}

/** Every f16 bit pattern's float32 value: the decoder's shared table (dtype.ts) read as floats. */
const f16Values = (): Float32Array => new Float32Array(f16ToF32BitsTable().buffer);

/** Decodes `count` values of a 16-bit weight from element `from` into `out` (float32). */
export function decodeWeightRange(w: CpuWeight, from: number, count: number, out: Float32Array): void {
  if (w.dtype === 'F32') {
    out.set((w.data as Float32Array).subarray(from, from + count));
    return;
  }
  const src = w.data as Uint16Array;
  if (w.dtype === 'BF16') {
    // bf16 is the top half of a float32: shift the word into place through an integer view.
    const bits = new Int32Array(out.buffer, out.byteOffset, count);
    const byteStart = src.byteOffset + from * 2;
    if (byteStart % 4 === 0 && count % 2 === 0) {
      // Two words per 32-bit read (low half first, little-endian): about 1.5x the speed of one at a time.
      const pairs = new Int32Array(src.buffer, byteStart, count / 2);
      for (let i = 0, j = 0; i < pairs.length; i++, j += 2) {
        const p = pairs[i];
        bits[j] = p << 16;
        bits[j + 1] = p & -65536;
      }
      return;
    }
    for (let i = 0; i < count; i++) bits[i] = src[from + i] << 16;
    return;
  }
  const table = f16Values();
  for (let i = 0; i < count; i++) out[i] = table[src[from + i]];
}

/** Float32 elements decoded per block of 16-bit weight rows (64 KiB: stays in cache while four
 * token rows stream past it). */
const DECODE_BLOCK = 16384;
/** Rows per batched scoring pass: their logits (rows x vocabulary float32) are 39 MB at 151936 tokens. */
const SEQUENCE_ROWS = 64;

/** out[t, o] = sum_i x[t, i] * w[o, i] (+ bias[o]) for a weight in any stored form; a 16-bit one is
 * decoded a block of rows at a time into `scratch` (grown as needed, returned). */
export function matmulWeight(out: Float32Array, x: Float32Array, rows: number, inDim: number, w: CpuWeight, outDim: number, bias: Float32Array | null, scratch: Float32Array): Float32Array {
  if (w.dtype === 'F32') {
    matmulBlock(out, outDim, 0, x, rows, inDim, w.data as Float32Array, outDim, bias);
    return scratch;
  }
  const block = Math.max(2, Math.floor(DECODE_BLOCK / inDim) & ~1);
  if (scratch.length < block * inDim) scratch = new Float32Array(block * inDim);
  for (let o0 = 0; o0 < outDim; o0 += block) {
    const n = Math.min(block, outDim - o0);
    decodeWeightRange(w, o0 * inDim, n * inDim, scratch);
    matmulBlock(out, outDim, o0, x, rows, inDim, scratch, n, bias);
  }
  return scratch;
}

/** RMSNorm of `rows` rows of width `dim` (row stride `dim`), scaled by `weight`. */
function rmsNormRows(out: Float32Array, x: Float32Array, rows: number, dim: number, weight: Float32Array, eps: number): void {
  for (let t = 0; t < rows; t++) {
    const off = t * dim;
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[off + i] * x[off + i];
    const scale = Math.fround(1 / Math.sqrt(Math.fround(ss / dim) + eps));
    for (let i = 0; i < dim; i++) out[off + i] = weight[i] * Math.fround(x[off + i] * scale);
  }
}

/** Rotate-half RoPE in place on `rows` rows holding `heads` heads of `headDim` each; row t sits at positions[t]. */
function applyRope(x: Float32Array, rows: number, heads: number, headDim: number, positions: Int32Array, rope: RopeTables): void {
  const half = headDim / 2;
  for (let t = 0; t < rows; t++) {
    const tab = positions[t] * half;
    for (let h = 0; h < heads; h++) {
      const off = (t * heads + h) * headDim;
      for (let j = 0; j < half; j++) {
        const c = rope.cos[tab + j], s = rope.sin[tab + j];
        const a = x[off + j], b = x[off + j + half];
        x[off + j] = a * c - b * s;
        x[off + j + half] = b * c + a * s;
      }
    }
  }
}

/** Keys and values of one sequence, per layer [capacity, kvHeads * headDim]. */
class KvCache {
  keys: Float32Array[] = [];
  values: Float32Array[] = [];
  capacity = 0;

  constructor(private readonly layers: number, private readonly kvDim: number) {}

  /** A new cache holding this one's first `positions` positions (a shared prompt). */
  prefixCopy(positions: number, extra: number): KvCache {
    const copy = new KvCache(this.layers, this.kvDim);
    copy.ensure(positions + extra);
    for (let l = 0; l < this.layers; l++) {
      copy.keys[l].set(this.keys[l].subarray(0, positions * this.kvDim));
      copy.values[l].set(this.values[l].subarray(0, positions * this.kvDim));
    }
    return copy;
  }

  ensure(positions: number): void {
    if (positions <= this.capacity) return;
    const cap = Math.max(positions, this.capacity * 2, 64);
    for (let l = 0; l < this.layers; l++) {
      const k = new Float32Array(cap * this.kvDim), v = new Float32Array(cap * this.kvDim);
      if (this.keys[l]) { k.set(this.keys[l]); v.set(this.values[l]); }
      this.keys[l] = k;
      this.values[l] = v;
    }
    this.capacity = cap;
  }
}

/** Matrices are CpuWeights (kept 16-bit); vectors (norm scales, biases) are decoded to float32. */
interface LayerWeights {
  inputNorm: Float32Array; q: CpuWeight; k: CpuWeight; v: CpuWeight; o: CpuWeight;
  qBias: Float32Array | null; kBias: Float32Array | null; vBias: Float32Array | null; oBias: Float32Array | null;
  qNorm: Float32Array | null; kNorm: Float32Array | null;
  postNorm: Float32Array; gate: CpuWeight; up: CpuWeight; down: CpuWeight;
}

const OPTIONAL_ROLES: LayerTensorRole[] = ['qBias', 'kBias', 'vBias', 'oBias', 'qNorm', 'kNorm'];
const REQUIRED_ROLES: LayerTensorRole[] = ['inputNorm', 'q', 'k', 'v', 'o', 'postNorm', 'gate', 'up', 'down'];
const MATRIX_ROLES = new Set<LayerTensorRole>(['q', 'k', 'v', 'o', 'gate', 'up', 'down']);

/** The float32 values of a vector weight (its own array once updated, so reads see the update). */
function vector(w: CpuWeight): Float32Array {
  return w.data as Float32Array;
}

export class CpuCausalLM extends KvCachedLM {
  readonly backend = 'cpu' as const;
  private readonly byName = new Map<string, CpuWeight>();
  private layers: LayerWeights[] = [];
  private embed!: CpuWeight;
  private finalNorm!: Float32Array;
  private lmHead!: CpuWeight;
  /** Rows of 16-bit weights decoded for the matmul in progress. */
  private decoded: Float32Array = new Float32Array(0);
  private readonly rope: RopeTables;
  private cache: KvCache;
  // Scratch for a chunk of `scratchRows` tokens.
  private scratchRows = 0;
  private x = new Float32Array(0);
  private h = new Float32Array(0);
  private q = new Float32Array(0);
  private k = new Float32Array(0);
  private v = new Float32Array(0);
  private att = new Float32Array(0);
  private gate = new Float32Array(0);
  private up = new Float32Array(0);
  private scores = new Float64Array(0);

  /** `weights` maps checkpoint names to tensors (see expectedTensors). Matrices are kept as given
   * (bf16/f16 words or float32, not copied: the runtime never writes into a caller's array);
   * vectors are decoded to float32. */
  constructor(config: CausalLMConfig, weights: ReadonlyMap<string, HostTensor | Float32Array>) {
    super(config);
    for (const [name, shape] of expectedTensors(config)) {
      const t = weights.get(name);
      if (!t) throw new MergeStudioError('eval-tensor-missing', `CPU runtime: tensor '${name}' was not provided`, { tensor: name });
      const size = shape.reduce((a, b) => a * b, 1);
      const length = t instanceof Float32Array ? t.length : t.data.length;
      if (length !== size) throw new MergeStudioError('eval-tensor-shape', `CPU runtime: tensor '${name}' has ${length} values, expected ${size} (${JSON.stringify(shape)})`, { tensor: name });
      let w: CpuWeight;
      if (t instanceof Float32Array) w = { dtype: 'F32', data: t, owned: false };
      else if (shape.length === 1) w = { dtype: 'F32', data: hostTensorToF32(t), owned: t.dtype !== 'F32' };
      else w = { dtype: t.dtype, data: t.data, owned: false };
      this.byName.set(name, w);
    }
    this.rope = new RopeTables(ropeInverseFrequencies(config));
    this.cache = new KvCache(config.numLayers, config.numKvHeads * config.headDim);
    this.bindWeights();
  }

  /** The per-layer view of byName (again after an update replaced a weight's array). */
  private bindWeights(): void {
    const config = this.config;
    const get = (n: string) => this.byName.get(n) ?? null;
    this.layers = [];
    for (let i = 0; i < config.numLayers; i++) {
      const lw = {} as Record<LayerTensorRole, CpuWeight | Float32Array | null>;
      for (const role of [...REQUIRED_ROLES, ...OPTIONAL_ROLES]) {
        const w = get(layerTensorName(role, i));
        lw[role] = w && (MATRIX_ROLES.has(role) ? w : vector(w));
      }
      this.layers.push(lw as unknown as LayerWeights);
    }
    this.embed = get(EMBED_TENSOR)!;
    this.finalNorm = vector(get(FINAL_NORM_TENSOR)!);
    // Tied embeddings: the same weight serves as the classifier, so updating one updates both.
    this.lmHead = config.tiedEmbeddings ? this.embed : get(LM_HEAD_TENSOR)!;
  }

  /** Weight bytes held on the host (16-bit matrices at 2 bytes a value). */
  get weightBytes(): number {
    let n = 0;
    for (const w of this.byName.values()) n += w.data.byteLength;
    return n;
  }

  protected async replaceWeights(tensors: ReadonlyMap<string, WeightUpdate>): Promise<void> {
    for (const [name, update] of tensors) {
      const target = this.byName.get(name);
      if (!target) throw new MergeStudioError('eval-unknown-tensor', `CPU runtime: no weight named '${name}' (tied lm_head lives in '${EMBED_TENSOR}')`, { tensor: name });
      if (!(update instanceof Float32Array) && !isHostTensor(update)) throw new MergeStudioError('eval-weight-update', `CPU runtime: tensor '${name}': expected host values, found a GPU buffer (use the WebGPU runtime for GPU-resident weights)`, { tensor: name });
      const length = update instanceof Float32Array ? update.length : update.data.length;
      if (length !== target.data.length) throw new MergeStudioError('eval-tensor-shape', `CPU runtime: tensor '${name}': update has ${length} values, the weight has ${target.data.length}`, { tensor: name });
    }
    const shapes = expectedTensors(this.config);
    for (const [name, update] of tensors) {
      const w = this.byName.get(name)!;
      const host = update as Float32Array | HostTensor;
      // A 16-bit matrix stays 16-bit: the runtime never writes into it, so the caller's words are held as they are.
      if (!(host instanceof Float32Array) && host.dtype !== 'F32' && shapes.get(name)!.length > 1) {
        this.byName.set(name, { dtype: host.dtype, data: host.data, owned: false });
        continue;
      }
      // Float32 values (a 16-bit vector decoded): the weight becomes float32, in an array of its own.
      const decoded = !(host instanceof Float32Array) && host.dtype !== 'F32';
      const values = host instanceof Float32Array ? host : hostTensorToF32(host);
      if (w.owned && w.dtype === 'F32') (w.data as Float32Array).set(values);
      else this.byName.set(name, { dtype: 'F32', data: decoded ? values : values.slice(), owned: true });
    }
    this.bindWeights();
  }

  dispose(): void {
    this.cache = new KvCache(this.config.numLayers, this.config.numKvHeads * this.config.headDim);
  }

  private ensureScratch(rows: number, positions: number): void {
    const c = this.config;
    if (rows > this.scratchRows) {
      const qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim;
      this.x = new Float32Array(rows * c.hiddenSize);
      this.h = new Float32Array(rows * Math.max(c.hiddenSize, qDim));
      this.q = new Float32Array(rows * qDim);
      this.k = new Float32Array(rows * kvDim);
      this.v = new Float32Array(rows * kvDim);
      this.att = new Float32Array(rows * qDim);
      this.gate = new Float32Array(rows * c.intermediateSize);
      this.up = new Float32Array(rows * c.intermediateSize);
      this.scratchRows = rows;
    }
    if (this.scores.length < positions) this.scores = new Float64Array(Math.max(positions, this.scores.length * 2));
  }

  protected async forward(tokens: Int32Array, pos0: number, fromRow: number, signal?: AbortSignal): Promise<Float32Array> {
    const positions = new Int32Array(tokens.length);
    for (let t = 0; t < tokens.length; t++) positions[t] = pos0 + t;
    return this.forwardRows(tokens, positions, new Array<KvCache>(tokens.length).fill(this.cache), fromRow, signal);
  }

  /** The prefix runs once; then every continuation's tokens run together in one batch of rows, each
   * continuation over its own copy of the prefix's cache. */
  protected async scoreContinuations(prefix: Int32Array, continuations: readonly Int32Array[], signal?: AbortSignal): Promise<Float64Array[]> {
    const V = this.config.vocabSize, P = prefix.length;
    const last = await this.forward(prefix, 0, P - 1, signal);
    const tokens: number[] = [], positions: number[] = [], caches: KvCache[] = [], firstRow: number[] = [];
    for (const c of continuations) {
      firstRow.push(tokens.length);
      if (c.length < 2) continue;
      const own = this.cache.prefixCopy(P, c.length - 1);
      for (let j = 0; j < c.length - 1; j++) {
        tokens.push(c[j]);
        positions.push(P + j);
        caches.push(own);
      }
    }
    const rows = tokens.length > 0 ? await this.forwardRows(Int32Array.from(tokens), Int32Array.from(positions), caches, 0, signal) : new Float32Array(0);
    return continuations.map((c, k) => {
      const lp = new Float64Array(c.length);
      if (c.length > 0) lp[0] = logSoftmaxAt(last, 0, V, c[0]);
      for (let j = 1; j < c.length; j++) lp[j] = logSoftmaxAt(rows, (firstRow[k] + j - 1) * V, V, c[j]);
      return lp;
    });
  }

  /** Several sequences in one forward pass over their rows (up to SEQUENCE_ROWS rows a pass, whole
   * sequences), each with its own KV cache, so each weight row is read once per batch of tokens. */
  protected async scoreSequences(sequences: readonly Int32Array[], signal?: AbortSignal): Promise<Float64Array[]> {
    const V = this.config.vocabSize;
    const out = sequences.map((s) => new Float64Array(s.length - 1));
    for (let a = 0; a < sequences.length;) {
      let b = a, rows = 0;
      while (b < sequences.length && (b === a || rows + sequences[b].length - 1 <= SEQUENCE_ROWS)) rows += sequences[b++].length - 1;
      if (rows > 0) {
        const tokens = new Int32Array(rows), positions = new Int32Array(rows), caches: KvCache[] = [];
        let r = 0;
        for (let k = a; k < b; k++) {
          const s = sequences[k], cache = new KvCache(this.config.numLayers, this.config.numKvHeads * this.config.headDim);
          for (let j = 0; j + 1 < s.length; j++, r++) {
            tokens[r] = s[j];
            positions[r] = j;
            caches.push(cache);
          }
        }
        const logits = await this.forwardRows(tokens, positions, caches, 0, signal);
        r = 0;
        for (let k = a; k < b; k++) {
          const s = sequences[k];
          for (let j = 1; j < s.length; j++, r++) out[k][j - 1] = logSoftmaxAt(logits, r * V, V, s[j]);
        }
      }
      a = b;
    }
    return out;
  }

  /** Greedy generation for many prompts at once: after each prompt's prefill, one step advances
   * every unfinished sequence together, so each weight row is read once per batch of tokens. */
  protected async greedy(prompts: readonly Int32Array[], opts: GenerateOptions): Promise<number[][]> {
    const c = this.config;
    const caches = prompts.map(() => new KvCache(c.numLayers, c.numKvHeads * c.headDim));
    return batchedGreedy(prompts, opts, c.vocabSize, (tokens, seqs, positions, fromRow) =>
      this.forwardRows(tokens, positions, Array.from(seqs, (b) => caches[b]), fromRow, opts.signal));
  }

  /** The forward pass over rows that may belong to different sequences: row t is token tokens[t] at
   * positions[t] of the sequence whose cache is caches[t], attending to that cache only. */
  private async forwardRows(tokens: Int32Array, positions: Int32Array, caches: KvCache[], fromRow: number, signal?: AbortSignal): Promise<Float32Array> {
    const c = this.config;
    const T = tokens.length, H = c.hiddenSize, hd = c.headDim;
    const qDim = c.numHeads * hd, kvDim = c.numKvHeads * hd, I = c.intermediateSize;
    let end = 0;
    for (let t = 0; t < T; t++) {
      end = Math.max(end, positions[t] + 1);
      caches[t].ensure(positions[t] + 1);
    }
    checkSlidingWindow(c, end);
    this.ensureScratch(T, end);
    this.rope.ensure(end);
    const { x, h, q, k, v, att, gate, up } = this;
    for (let t = 0; t < T; t++) decodeWeightRange(this.embed, tokens[t] * H, H, x.subarray(t * H, (t + 1) * H));

    for (let l = 0; l < c.numLayers; l++) {
      throwIfAborted(signal);
      const w = this.layers[l];
      rmsNormRows(h, x, T, H, w.inputNorm, c.rmsNormEps);
      const mm = (out: Float32Array, input: Float32Array, inDim: number, weight: CpuWeight, outDim: number, bias: Float32Array | null) => {
        this.decoded = matmulWeight(out, input, T, inDim, weight, outDim, bias, this.decoded);
      };
      mm(q, h, H, w.q, qDim, w.qBias);
      mm(k, h, H, w.k, kvDim, w.kBias);
      mm(v, h, H, w.v, kvDim, w.vBias);
      if (w.qNorm && w.kNorm) {
        rmsNormRows(q, q, T * c.numHeads, hd, w.qNorm, c.rmsNormEps);
        rmsNormRows(k, k, T * c.numKvHeads, hd, w.kNorm, c.rmsNormEps);
      }
      applyRope(q, T, c.numHeads, hd, positions, this.rope);
      applyRope(k, T, c.numKvHeads, hd, positions, this.rope);
      // All rows' keys and values are stored before any row attends (rows of one sequence see each other).
      for (let t = 0; t < T; t++) {
        caches[t].keys[l].set(k.subarray(t * kvDim, (t + 1) * kvDim), positions[t] * kvDim);
        caches[t].values[l].set(v.subarray(t * kvDim, (t + 1) * kvDim), positions[t] * kvDim);
      }
      this.attend(l, T, positions, caches);
      mm(h, att, qDim, w.o, H, w.oBias);
      for (let i = 0; i < T * H; i++) x[i] += h[i];

      rmsNormRows(h, x, T, H, w.postNorm, c.rmsNormEps);
      mm(gate, h, H, w.gate, I, null);
      mm(up, h, H, w.up, I, null);
      for (let i = 0; i < T * I; i++) {
        const g = gate[i];
        gate[i] = (g / (1 + Math.exp(-g))) * up[i];
      }
      mm(h, gate, I, w.down, H, null);
      for (let i = 0; i < T * H; i++) x[i] += h[i];
    }

    const rows = T - fromRow;
    const normed = new Float32Array(rows * H);
    rmsNormRows(normed, x.subarray(fromRow * H), rows, H, this.finalNorm, c.rmsNormEps);
    const logits = new Float32Array(rows * c.vocabSize);
    this.decoded = matmulWeight(logits, normed, rows, H, this.lmHead, c.vocabSize, null, this.decoded);
    return logits;
  }

  /** Causal grouped-query attention of each row's query over its own sequence's cached keys/values. */
  private attend(layer: number, T: number, positions: Int32Array, caches: KvCache[]): void {
    const c = this.config, hd = c.headDim;
    const qDim = c.numHeads * hd, kvDim = c.numKvHeads * hd;
    const group = c.numHeads / c.numKvHeads;
    const scale = 1 / Math.sqrt(hd);
    const q = this.q, att = this.att, scores = this.scores;
    for (let t = 0; t < T; t++) {
      const K = caches[t].keys[layer], Vc = caches[t].values[layer];
      const visible = positions[t] + 1;
      for (let head = 0; head < c.numHeads; head++) {
        const qo = t * qDim + head * hd;
        const ko = Math.floor(head / group) * hd;
        let max = -Infinity;
        for (let s = 0; s < visible; s++) {
          const kr = s * kvDim + ko;
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += q[qo + d] * K[kr + d];
          const sc = dot * scale;
          scores[s] = sc;
          if (sc > max) max = sc;
        }
        let sum = 0;
        for (let s = 0; s < visible; s++) {
          const e = Math.exp(scores[s] - max);
          scores[s] = e;
          sum += e;
        }
        const ao = t * qDim + head * hd;
        for (let d = 0; d < hd; d++) att[ao + d] = 0;
        for (let s = 0; s < visible; s++) {
          const p = scores[s] / sum;
          const vr = s * kvDim + ko;
          for (let d = 0; d < hd; d++) att[ao + d] += p * Vc[vr + d];
        }
      }
    }
  }
}
