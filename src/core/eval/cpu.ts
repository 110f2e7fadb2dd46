// The CPU backend: the Llama-family forward pass in plain TypeScript over Float32Arrays, with
// preallocated scratch buffers and a KV cache. Weights are row-major [out, in] as in the
// checkpoint, so every matmul is dot products over contiguous rows.
import { MergeStudioError } from '../errors.ts';
import { throwIfAborted } from '../progress.ts';
import type { CausalLMConfig } from './config.ts';
import { RopeTables, ropeInverseFrequencies } from './rope.ts';
import { KvCachedLM, batchedGreedy, checkSlidingWindow, logSoftmaxAt, type GenerateOptions, type WeightUpdate } from './runtime.ts';
import { EMBED_TENSOR, FINAL_NORM_TENSOR, LM_HEAD_TENSOR, expectedTensors, hostTensorToF32, layerTensorName, type HostTensor, type LayerTensorRole } from './weights.ts';

/** out[t, o] = sum_i x[t, i] * w[o, i] (+ bias[o]) for t < rows. Blocks of four token rows by two
 * weight rows: each loaded weight value serves four tokens and each token value two outputs. */
export function matmulRows(out: Float32Array, x: Float32Array, rows: number, inDim: number, w: Float32Array, outDim: number, bias?: Float32Array | null): void {
  let o = 0;
  for (; o + 2 <= outDim; o += 2) {
    const wa = o * inDim, wb = wa + inDim;
    const ba = bias ? bias[o] : 0, bb = bias ? bias[o + 1] : 0;
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
      const r0 = t * outDim + o;
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
      out[t * outDim + o] = a + ba;
      out[t * outDim + o + 1] = b + bb;
    }
  }
  if (o < outDim) {
    // The last output of an odd count.
    const wa = o * inDim, ba = bias ? bias[o] : 0;
    for (let t = 0; t < rows; t++) {
      const xt = t * inDim;
      let a = 0;
      for (let i = 0; i < inDim; i++) a += w[wa + i] * x[xt + i];
      out[t * outDim + o] = a + ba;
    }
  }
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

interface LayerWeights {
  inputNorm: Float32Array; q: Float32Array; k: Float32Array; v: Float32Array; o: Float32Array;
  qBias: Float32Array | null; kBias: Float32Array | null; vBias: Float32Array | null; oBias: Float32Array | null;
  qNorm: Float32Array | null; kNorm: Float32Array | null;
  postNorm: Float32Array; gate: Float32Array; up: Float32Array; down: Float32Array;
}

const OPTIONAL_ROLES: LayerTensorRole[] = ['qBias', 'kBias', 'vBias', 'oBias', 'qNorm', 'kNorm'];
const REQUIRED_ROLES: LayerTensorRole[] = ['inputNorm', 'q', 'k', 'v', 'o', 'postNorm', 'gate', 'up', 'down'];

export class CpuCausalLM extends KvCachedLM {
  readonly backend = 'cpu' as const;
  private readonly byName = new Map<string, Float32Array>();
  private readonly layers: LayerWeights[] = [];
  private readonly embed: Float32Array;
  private readonly finalNorm: Float32Array;
  private readonly lmHead: Float32Array;
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

  /** `weights` maps checkpoint names to tensors (see expectedTensors); they are copied to float32. */
  constructor(config: CausalLMConfig, weights: ReadonlyMap<string, HostTensor | Float32Array>) {
    super(config);
    for (const [name, shape] of expectedTensors(config)) {
      const t = weights.get(name);
      if (!t) throw new MergeStudioError('eval-tensor-missing', `CPU runtime: tensor '${name}' was not provided`, { tensor: name });
      const values = t instanceof Float32Array ? t.slice() : hostTensorToF32(t).slice();
      const size = shape.reduce((a, b) => a * b, 1);
      if (values.length !== size) throw new MergeStudioError('eval-tensor-shape', `CPU runtime: tensor '${name}' has ${values.length} values, expected ${size} (${JSON.stringify(shape)})`, { tensor: name });
      this.byName.set(name, values);
    }
    const get = (n: string) => this.byName.get(n) ?? null;
    for (let i = 0; i < config.numLayers; i++) {
      const lw = {} as Record<LayerTensorRole, Float32Array | null>;
      for (const role of REQUIRED_ROLES) lw[role] = get(layerTensorName(role, i))!;
      for (const role of OPTIONAL_ROLES) lw[role] = get(layerTensorName(role, i));
      this.layers.push(lw as LayerWeights);
    }
    this.embed = get(EMBED_TENSOR)!;
    this.finalNorm = get(FINAL_NORM_TENSOR)!;
    // Tied embeddings: the same array serves as the classifier, so updating one updates both.
    this.lmHead = config.tiedEmbeddings ? this.embed : get(LM_HEAD_TENSOR)!;
    this.rope = new RopeTables(ropeInverseFrequencies(config));
    this.cache = new KvCache(config.numLayers, config.numKvHeads * config.headDim);
  }

  protected async replaceWeights(tensors: ReadonlyMap<string, WeightUpdate>): Promise<void> {
    for (const [name, update] of tensors) {
      const target = this.byName.get(name);
      if (!target) throw new MergeStudioError('eval-unknown-tensor', `CPU runtime: no weight named '${name}' (tied lm_head lives in '${EMBED_TENSOR}')`, { tensor: name });
      if (!(update instanceof Float32Array)) throw new MergeStudioError('eval-weight-update', `CPU runtime: tensor '${name}': expected a Float32Array, found a GPU buffer (use the WebGPU runtime for GPU-resident weights)`, { tensor: name });
      if (update.length !== target.length) throw new MergeStudioError('eval-tensor-shape', `CPU runtime: tensor '${name}': update has ${update.length} values, the weight has ${target.length}`, { tensor: name });
    }
    for (const [name, update] of tensors) this.byName.get(name)!.set(update as Float32Array);
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
    for (let t = 0; t < T; t++) x.set(this.embed.subarray(tokens[t] * H, (tokens[t] + 1) * H), t * H);

    for (let l = 0; l < c.numLayers; l++) {
      throwIfAborted(signal);
      const w = this.layers[l];
      rmsNormRows(h, x, T, H, w.inputNorm, c.rmsNormEps);
      matmulRows(q, h, T, H, w.q, qDim, w.qBias);
      matmulRows(k, h, T, H, w.k, kvDim, w.kBias);
      matmulRows(v, h, T, H, w.v, kvDim, w.vBias);
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
      matmulRows(h, att, T, qDim, w.o, H, w.oBias);
      for (let i = 0; i < T * H; i++) x[i] += h[i];

      rmsNormRows(h, x, T, H, w.postNorm, c.rmsNormEps);
      matmulRows(gate, h, T, H, w.gate, I);
      matmulRows(up, h, T, H, w.up, I);
      for (let i = 0; i < T * I; i++) {
        const g = gate[i];
        gate[i] = (g / (1 + Math.exp(-g))) * up[i];
      }
      matmulRows(h, gate, T, I, w.down, H);
      for (let i = 0; i < T * H; i++) x[i] += h[i];
    }

    const rows = T - fromRow;
    const normed = new Float32Array(rows * H);
    rmsNormRows(normed, x.subarray(fromRow * H), rows, H, this.finalNorm, c.rmsNormEps);
    const logits = new Float32Array(rows * c.vocabSize);
    matmulRows(logits, normed, rows, H, this.lmHead, c.vocabSize);
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
